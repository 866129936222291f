"""The draws of the synthetic cohort: exact baseline counts and medians, first outcome times.

- :func:`baseline`: patient characteristics before the second HSCT. Every printed count is met
  by shuffling a list that holds each category the printed number of times
  (:func:`exact_categories`); every printed median (range) by placing the minimum, the maximum
  and the middle order statistic(s) at the printed values (:func:`exact_order_statistics`),
  inside any printed threshold counts (e.g. 84 patients with CAR-T to second HSCT <= 90 days).
- :func:`outcomes`: a first draw of every outcome (days from the second HSCT) with plausible
  shapes; :mod:`hsct_analysis.paper.synth.calibration` then moves them.
- :func:`after_second_hsct`: DLI, MRD positivity and the triggers of fatal GVHD after the
  second HSCT, exactly as the Results count them.

Targets come from :func:`hsct_analysis.paper.synth.targets.paper_targets`. Times are whole days,
ages years (1 decimal), doses x10^8/kg (MNC, CD3) and x10^6/kg (CD34).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hsct_analysis.paper.study_period import FIRST_SECOND_HSCT, LAST_FOLLOW_UP, LAST_SECOND_HSCT
from hsct_analysis.paper.synth.targets import DEFAULT_N
from hsct_analysis.paper.synth.writer import AFTER_SECOND_COLUMNS, EVENT_COLUMNS

# --------------------------------------------------------------------------- exact draws


def exact_categories(counts: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """A shuffled array holding each category exactly its count times."""
    values = np.concatenate([np.repeat(np.array([k], dtype=object), v) for k, v in counts.items()])
    return rng.permutation(values)


def exact_order_statistics(
    n: int,
    median: float,
    lo: float,
    hi: float,
    rng: np.random.Generator,
    thresholds: list[tuple[float, int]] = (),
    decimals: int = 0,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """``n`` sorted values with exactly this median, minimum and maximum.

    The middle order statistic (both middle ones for even ``n``), the minimum and the maximum
    are placed exactly; the others are drawn log-uniformly between the bounds of their
    position. ``thresholds`` = [(t, k)] forces exactly k values <= t. ``upper`` (optional,
    per sorted position) adds an upper bound, used to keep age at second HSCT above age at
    first HSCT. Values are rounded to ``decimals``.
    """
    step = 10.0 ** (-decimals)
    lower_b = np.full(n, float(lo))
    upper_b = np.full(n, float(hi))
    mids = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    pos = np.arange(n)
    upper_b[pos < mids[0]] = median
    lower_b[pos > mids[-1]] = median
    for t, k in thresholds:
        upper_b[pos < k] = np.minimum(upper_b[pos < k], t)
        lower_b[pos >= k] = np.maximum(lower_b[pos >= k], t + step)
    if upper is not None:
        upper_b = np.minimum(upper_b, upper)
    if np.any(lower_b > upper_b + 1e-9):
        raise ValueError("median, range and threshold counts are inconsistent")
    shift = 1.0 - min(lo, 0.0) + step  # log-uniform needs positive values
    a, b = np.log(lower_b + shift), np.log(upper_b + shift)
    values = np.exp(a + rng.random(n) * (b - a)) - shift
    values = np.clip(np.round(values, decimals), lower_b, upper_b)
    values = np.sort(values)
    values[0], values[-1] = lo, hi
    values[mids] = median
    return np.round(values, decimals)


def rank_assign(
    values_sorted: np.ndarray, keys: np.ndarray, rng: np.random.Generator, noise: float = 0.0
) -> np.ndarray:
    """Give the k-th smallest value to the patient with the k-th smallest key (ties at random)."""
    jitter = rng.random(len(keys)) * noise if noise else rng.random(len(keys)) * 1e-6
    order = np.argsort(np.asarray(keys, float) + jitter, kind="stable")
    out = np.empty(len(keys))
    out[order] = values_sorted
    return out


# --------------------------------------------------------------------------- baseline


def baseline(n: int, targets: dict, rng: np.random.Generator) -> pd.DataFrame:
    """Patient characteristics before the second HSCT, every printed count exact."""
    c, m = targets["counts"], targets["medians"]
    df = pd.DataFrame({"patient_id": [f"SYN{i + 1:04d}" for i in range(n)]})
    df["sex"] = exact_categories(c["sex"], rng)
    df["fusion_gene"] = exact_categories(c["fusion_gene"], rng)
    donor1 = exact_categories(c["first_hsct_donor"], rng)
    df["first_hsct_donor"] = donor1
    graft1 = np.empty(n, dtype=object)
    graft1[donor1 == "cord"] = "cord"
    graft1[donor1 != "cord"] = exact_categories(c["graft_first_noncord"], rng)
    df["mrd_before_first_hsct"] = exact_categories(c["mrd_before_first_hsct"], rng)
    df["status_before_first_hsct"] = exact_categories(c["status_before_first_hsct"], rng)
    df["abo_first"] = exact_categories(c["abo_first"], rng)
    pairs = exact_categories(c["conditioning_pair"], rng)
    df["conditioning_first"] = [p.split("|")[0] for p in pairs]
    df["graft_first"] = graft1
    _add_relapse_history(df, c, m, rng)
    _add_cart(df, c, m, rng)
    df["hct_ci"] = exact_categories(c["hct_ci"], rng).astype(int)
    mrd_int = exact_categories(c["mrd_second_intensified"], rng)
    df["mrd_before_second_hsct"] = [p.split("|")[0] for p in mrd_int]
    donor2 = exact_categories(c["donor_second"], rng)
    df["donor_second"] = donor2
    df["abo_second"] = exact_categories(c["abo_second"], rng)
    df["conditioning_second"] = [p.split("|")[1] for p in pairs]
    df["intensified_conditioning"] = [p.split("|")[1] for p in mrd_int]
    # unrelated (and the one sibling) donors gave peripheral blood only; haplo BM+PB
    df["graft_second"] = np.where(donor2 == "haplo", "BM+PB", "PB")
    df["gvhd_prophylaxis"] = exact_categories(c["gvhd_prophylaxis"], rng)
    df["atg_type"] = exact_categories(c["atg_type"], rng)
    for col in ("mnc_dose", "cd34_dose", "cd3_dose"):
        df[col] = rng.permutation(_draw(m[col], n, rng))
    _add_ages(df, m, rng)
    return df


def _draw(spec, n: int, rng: np.random.Generator, upper: np.ndarray | None = None) -> np.ndarray:
    med, lo, hi, thresholds, dec = spec
    return exact_order_statistics(n, med, lo, hi, rng, thresholds=thresholds, decimals=dec, upper=upper)


def _add_relapse_history(df: pd.DataFrame, c: dict, m: dict, rng: np.random.Generator) -> None:
    """Relapse site and the intervals first HSCT -> MRD+/relapse -> CAR-T -> second HSCT (days).

    Each interval keeps its printed median (range) exactly; values are then swapped between
    patients until relapse (or MRD+) + relapse-to-CAR-T + CAR-T-to-second-HSCT fits inside
    the first-to-second-HSCT interval for (nearly) every patient.
    """
    n = len(df)
    site = exact_categories(c["relapse_site"], rng)
    df["relapse_site"] = site
    relapsed = np.flatnonzero(site != "MRD-only")
    mrd_only = np.flatnonzero(site == "MRD-only")
    n_mrd = c["mrd_positive_first"]
    mrd_times = _draw(m["days_first_hsct_to_mrd_positive"], n_mrd, rng)  # sorted
    only_pos = rng.choice(n_mrd, size=len(mrd_only), replace=False)
    best = None
    for _attempt in range(30 if n <= 500 else 3):  # redraw until every patient's intervals fit (deterministic)
        anchor = np.full(n, np.nan)
        anchor[mrd_only] = mrd_times[only_pos]
        anchor[relapsed] = rng.permutation(_draw(m["days_first_hsct_to_relapse"], len(relapsed), rng))
        # start near a fit: long relapse-to-CAR-T intervals to early relapses, and the
        # first-to-second-HSCT intervals ranked like the time they must contain
        to_cart = rank_assign(_draw(m["days_relapse_to_cart"], n, rng), -anchor * rng.lognormal(0.0, 0.5, n), rng)
        cart = rng.permutation(_draw(m["days_cart_to_second_hsct"], n, rng))
        f2s = rank_assign(_draw(m["days_first_to_second_hsct"], n, rng), anchor + to_cart + cart, rng)
        misfit = _fit_intervals(anchor, to_cart, cart, f2s, relapsed, rng, iterations=20000 + 20 * n)
        mrd = _pair_mrd_with_relapse(
            anchor, relapsed, mrd_only, only_pos, mrd_times, m["days_mrd_positive_to_relapse"], rng
        )
        misfit += 0.0 if mrd is not None else 1e6
        if best is None or misfit < best[0]:
            best = (misfit, anchor, to_cart, cart, f2s, mrd)
        if misfit == 0:
            break
    _, anchor, to_cart, cart, f2s, mrd = best
    if best[0] > 0:
        # large rescaled cohorts: the printed distributions cannot all nest exactly; lengthen the
        # first-to-second-HSCT interval of the few patients that do not fit (never for n = 95)
        f2s = np.maximum(f2s, anchor + to_cart + cart)
        if mrd is None:
            mrd = np.full(n, np.nan)
            mrd[mrd_only] = anchor[mrd_only]
            rest = np.sort(mrd_times[np.setdiff1d(np.arange(len(mrd_times)), only_pos)])
            who = rng.choice(relapsed, size=len(rest), replace=False)
            mrd[who] = np.minimum(np.sort(rest)[np.argsort(np.argsort(anchor[who]))], anchor[who] - 18)
    rel = np.full(n, np.nan)
    rel[relapsed] = anchor[relapsed]
    df["days_first_hsct_to_relapse"] = rel
    df["days_first_hsct_to_mrd_positive"] = mrd
    df["days_first_to_second_hsct"] = f2s
    df["days_cart_to_second_hsct"] = cart
    df["days_relapse_to_cart"] = to_cart
    first_to_second = f2s
    diag1 = rng.permutation(_draw(m["days_diagnosis_to_first_hsct"], n, rng))
    df["days_diagnosis_to_first_hsct"] = diag1
    df["days_diagnosis_to_second_hsct"] = rank_assign(
        _draw(m["days_diagnosis_to_second_hsct"], n, rng), diag1 + first_to_second, rng
    )


def _pair_mrd_with_relapse(anchor, relapsed, mrd_only, only_pos, mrd_sorted, spec, rng, tries: int = 200):
    """MRD-positive days (from first HSCT) for the MRD-only patients and 31 relapsed ones.

    Keeps the MRD-positive days' printed median (range) exact (only free order statistics are
    redrawn inside their half) and makes relapse - MRD-positive (days) match its own printed
    median (range) exactly. Returns the per-patient array, or None when no pairing is found.
    """
    med, lo, hi = spec[0], spec[1], spec[2]
    n = len(anchor)
    k = len(mrd_sorted)
    mids = [k // 2] if k % 2 else [k // 2 - 1, k // 2]
    fixed = {0, k - 1, *mids}
    m_med = mrd_sorted[mids[0]]
    n_pairs = k - len(mrd_only)
    below = (n_pairs - 1) // 2  # diffs <= median besides the median pair (incl. the minimum)
    for _ in range(tries):
        values = np.array(mrd_sorted, float)
        free = [p for p in range(k) if p not in fixed and p not in set(only_pos)]
        rng.shuffle(free)
        pool = list(rng.permutation(relapsed))
        used, mrd = set(), np.full(n, np.nan)
        ok = True
        taken_pos = set(only_pos.tolist())
        for diff in (hi, lo, med):  # the printed max, min and median difference, placed exactly
            cand = [i for i in pool if i not in used and mrd_sorted[0] <= anchor[i] - diff <= mrd_sorted[-1]]
            placed = False
            for i in cand:
                v = anchor[i] - diff
                half = [
                    p
                    for p in free
                    if p not in taken_pos and ((p < mids[0] and v <= m_med) or (p > mids[-1] and v >= m_med))
                ]
                if half:
                    values[half[0]] = v
                    taken_pos.add(half[0])
                    mrd[i] = v
                    used.add(i)
                    placed = True
                    break
            if not placed:
                ok = False
                break
        if not ok:
            continue
        rest = [p for p in range(k) if p not in taken_pos]
        rng.shuffle(rest)
        n_low, n_high = below - 1, n_pairs - 3 - (below - 1)
        for p in rest:
            v = values[p]
            want_low = n_low > 0 and (n_high == 0 or rng.random() < 0.5)
            window = (v + lo, v + med) if want_low else (v + med, v + hi)
            cand = [i for i in pool if i not in used and window[0] <= anchor[i] <= window[1]]
            if not cand and n_low > 0 and n_high > 0:  # try the other side
                want_low = not want_low
                window = (v + lo, v + med) if want_low else (v + med, v + hi)
                cand = [i for i in pool if i not in used and window[0] <= anchor[i] <= window[1]]
            if not cand:
                ok = False
                break
            i = cand[0]
            mrd[i] = v
            used.add(i)
            if want_low:
                n_low -= 1
            else:
                n_high -= 1
        if not ok:
            continue
        mrd[mrd_only] = anchor[mrd_only]  # MRD-only patients keep the days used in the interval fit
        return mrd
    return None


def _fit_intervals(anchor, to_cart, cart, f2s, relapsed, rng, iterations: int = 40000) -> float:
    """Swap values within each interval column (in place) to make anchor + to_cart + cart <= f2s.

    Swaps keep every column's values, hence medians, ranges and threshold counts, exact.
    Returns the remaining total excess (days; 0 when every patient fits).
    """
    n = len(f2s)
    cols = [anchor, to_cart, cart, f2s]
    excess = np.maximum(anchor + to_cart + cart - f2s, 0.0)
    pools = [relapsed, np.arange(n), np.arange(n), np.arange(n)]
    picks = rng.integers(0, 4, size=iterations)
    u = rng.random((iterations, 2))
    temperature = 40.0 * np.maximum(0.0, 1.0 - np.arange(iterations) / (0.7 * iterations))
    for it in range(iterations):
        if excess.sum() == 0:
            break
        k = picks[it]
        pool = pools[k]
        i, j = pool[int(u[it, 0] * len(pool))], pool[int(u[it, 1] * len(pool))]
        col = cols[k]
        col[i], col[j] = col[j], col[i]
        ei = max(anchor[i] + to_cart[i] + cart[i] - f2s[i], 0.0)
        ej = max(anchor[j] + to_cart[j] + cart[j] - f2s[j], 0.0)
        if ei + ej <= excess[i] + excess[j] + temperature[it] * u[it, 0] * u[it, 1]:
            excess[i], excess[j] = ei, ej
        else:
            col[i], col[j] = col[j], col[i]
    # greedy repair: give a misfit patient a longer first-to-second interval from someone with room
    need = anchor + to_cart + cart
    for i in np.argsort(-(need - f2s)):
        if need[i] <= f2s[i]:
            continue
        ok = np.flatnonzero((f2s >= need[i]) & (need <= f2s[i]))
        if ok.size:
            j = ok[0]
            f2s[i], f2s[j] = f2s[j], f2s[i]
    return float(np.maximum(need - f2s, 0.0).sum())


def _add_cart(df: pd.DataFrame, c: dict, m: dict, rng: np.random.Generator) -> None:
    """CAR-T source, target, CRS and ICANS grades (unknown CRS among CAR-T given elsewhere)."""
    n = len(df)
    source = exact_categories(c["cart_source"], rng)
    df["cart_source"] = source
    df["cart_target"] = exact_categories(c["cart_target"], rng)
    crs = np.empty(n, dtype=object)
    unknown_src = np.flatnonzero(source == "unknown")
    k_unknown = c["crs"]["unknown"]
    first = rng.permutation(unknown_src)[: min(k_unknown, len(unknown_src))]
    rest = np.setdiff1d(np.arange(n), first)
    extra = k_unknown - len(first)
    crs_rest = exact_categories({"yes": c["crs"]["yes"], "no": c["crs"]["no"], "unknown": extra}, rng)
    crs[first] = "unknown"
    crs[rest] = crs_rest
    df["crs_after_cart"] = crs
    grade = np.full(n, np.nan)
    grade[crs == "no"] = 0
    yes = np.flatnonzero(crs == "yes")
    g = exact_categories(c["crs_grade_yes"], rng)
    grade[yes] = [np.nan if x == "undetermined" else float(x) for x in g]
    df["crs_grade"] = grade
    icans = np.zeros(n)
    k = sum(c["icans_grade"].values())
    who = rng.choice(yes, size=k, replace=False)
    icans[who] = exact_categories(c["icans_grade"], rng).astype(float)
    df["icans_grade"] = icans.astype(int)
    df["n_cart_infusions"] = rng.permutation(_cart_infusions(n, rng))
    df["marrow_blasts_before_cart_pct"] = rng.permutation(_draw(m["marrow_blasts_before_cart_pct"], n, rng))
    after = np.full(n, "no", dtype=object)
    after[rng.choice(n, size=c["gvhd_after_cart"]["yes"], replace=False)] = "yes"
    df["gvhd_after_cart"] = after


def _cart_infusions(n: int, rng: np.random.Generator) -> np.ndarray:
    """Number of CAR-T infusions: median 1 (range 1-5)."""
    k = rng.choice([1, 2, 3], size=n, p=[0.72, 0.22, 0.06])
    k[0] = 5
    k[np.argsort(k)[: n // 2 + 1]] = 1
    return k


def _add_ages(df: pd.DataFrame, m: dict, rng: np.random.Generator) -> None:
    """Ages (years) at second and first HSCT, second older than first, rank-paired."""
    n = len(df)
    second = _draw(m["age_second_hsct"], n, rng)
    first = _draw(m["age_first_hsct"], n, rng, upper=second - 0.4)
    keys = df["days_first_to_second_hsct"].to_numpy() * 0 + rng.random(n)
    order = np.argsort(keys)
    a2, a1 = np.empty(n), np.empty(n)
    a2[order], a1[order] = second, first
    df["age_second_hsct"] = a2
    df["age_first_hsct"] = a1


# --------------------------------------------------------------------------- outcomes


def _risk_score(df: pd.DataFrame) -> np.ndarray:
    """A plausible linear predictor of death/NRM (higher = worse), from the paper's Table 4 direction."""
    return (
        1.0 * (df["days_cart_to_second_hsct"].to_numpy() > 90)
        + 0.5 * (df["atg_type"].to_numpy() == "ATG-T")
        + 0.4 * (df["cart_source"].to_numpy() == "allogeneic")
        + 0.4 * (df["fusion_gene"].to_numpy() == "BCR::ABL1")
        - 0.3 * (df["cart_source"].to_numpy() == "autologous")
    )


def _weighted_choice(
    rng: np.random.Generator, weights: np.ndarray, k: int, mask: np.ndarray | None = None
) -> np.ndarray:
    """``k`` distinct indices drawn with probability proportional to ``weights`` (restricted to ``mask``)."""
    w = np.asarray(weights, float).copy()
    if mask is not None:
        w[~mask] = 0.0
    idx = np.flatnonzero(w > 0)
    return rng.choice(idx, size=k, replace=False, p=w[idx] / w[idx].sum())


def admin_censoring(n: int, rng: np.random.Generator) -> np.ndarray:
    """Days from each second HSCT (uniform accrual 2017-10-18 .. 2022-03-04) to 2023-01-01."""
    longest = (LAST_FOLLOW_UP - FIRST_SECOND_HSCT).days  # 1901
    shortest = (LAST_FOLLOW_UP - LAST_SECOND_HSCT).days  # 303
    c = np.sort(rng.integers(shortest, longest + 1, size=n))
    c[-1], c[0] = longest, shortest
    return rng.permutation(c).astype(float)


def outcomes(df: pd.DataFrame, targets: dict, rng: np.random.Generator) -> pd.DataFrame:
    """First draw of every outcome (days from second HSCT); calibration moves them later."""
    n = len(df)
    c, m, inc = targets["counts"], targets["medians"], targets["incidence"]
    risk = np.exp(_risk_score(df))
    cens = admin_censoring(n, rng)
    n_dead, n_rel = c["deaths"], c["relapses"]
    causes = exact_categories(c["cause_of_death"], rng)
    # relapses: ATG-F patients rarely relapse (paper: 3-year RI 2.0% with ATG-F)
    rel_w = np.where(df["atg_type"].to_numpy() == "ATG-F", 0.1, 1.0) * np.where(
        df["atg_type"].to_numpy() == "ATG-P", 4.0, 1.0
    )
    relapsed = _weighted_choice(rng, rel_w, n_rel)
    dead = np.zeros(n, bool)
    # relapsed patients who died: the relapse death(s) and two GVHD deaths after a third HSCT (per 95)
    n_relapse_deaths = c["cause_of_death"].get("relapse", 0)
    rel_causes = ["relapse"] * n_relapse_deaths + ["GVHD"] * int(round(2 * n / DEFAULT_N))
    k_rel_dead = min(len(rel_causes), n_rel, n_dead)
    rel_causes = rel_causes[:k_rel_dead]
    rel_dead = rng.choice(relapsed, size=k_rel_dead, replace=False)
    dead[rel_dead] = True
    others = np.setdiff1d(np.arange(n), relapsed)
    mask = np.zeros(n, bool)
    mask[others] = True
    dead[_weighted_choice(rng, risk, n_dead - k_rel_dead, mask)] = True
    cause = np.full(n, "", dtype=object)
    pool = list(causes)
    for i, cz in zip(rel_dead, rel_causes):
        cause[i] = cz
        pool.remove(cz)
    nrm_dead = np.flatnonzero(dead & (cause == ""))
    cause[nrm_dead] = rng.permutation(np.array(pool, dtype=object))
    # death times: ~3/4 of non-relapse deaths in the first year, none after 1901 days
    death = np.full(n, np.nan)
    for i in np.flatnonzero(dead):
        hi = cens[i] - 1
        early = rng.random() < 0.75
        t = rng.uniform(np.log(40), np.log(365)) if early else rng.uniform(np.log(365), np.log(1300))
        death[i] = min(np.round(np.exp(t)), hi)
    death[np.flatnonzero(dead)[np.argmin(death[dead])]] = 33
    # the longest follow-up (first patient of the study) belongs to a survivor
    top, alive = int(np.argmax(cens)), np.flatnonzero(~dead)
    if dead[top]:
        j = alive[np.argmax(cens[alive])]
        cens[top], cens[j] = cens[j], cens[top]
        for i in (top, j):
            if dead[i] and death[i] >= cens[i]:
                death[i] = cens[i] - 1
    rel_t = np.full(n, np.nan)
    for i in relapsed:
        limit = (death[i] if dead[i] else cens[i]) - 1
        rel_t[i] = max(30, min(np.round(np.exp(rng.uniform(np.log(60), np.log(900)))), limit - 20))
    follow = np.where(dead, death, cens)
    out = pd.DataFrame(index=df.index)
    out["admin_censoring_days"] = cens
    out["followup_days"] = follow
    out["dead"] = dead.astype(int)
    out["cause_of_death"] = cause
    out["relapse_days"] = rel_t
    out["neutrophil_engraftment_days"] = rng.permutation(_draw(m["neutrophil_engraftment_days"], n, rng))
    _platelets(out, m, inc, rng)
    _gvhd(out, inc, rng)
    _infections_and_tma(out, inc, rng)
    fix_followup_median(out, m["followup_days"][0], rng)
    return out


def _last_event(out: pd.DataFrame, i: int) -> float:
    """Latest recorded event day of patient row ``i`` (0 if none)."""
    v = out.iloc[i][EVENT_COLUMNS].to_numpy(float)
    return float(np.nanmax(v)) if np.isfinite(v).any() else 0.0


def fix_followup_median(out: pd.DataFrame, median: float, rng: np.random.Generator) -> None:
    """Make the plain median of ``followup_days`` exactly ``median`` by moving censoring times.

    Only patients alive at last follow-up are moved (their second-HSCT date shifts within the
    accrual window, 303-1901 days before 2023-01-01); the minimum and maximum stay in place.
    """
    n = len(out)
    mids = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    lo_cens = (LAST_FOLLOW_UP - LAST_SECOND_HSCT).days
    fu = out["followup_days"].to_numpy(float)
    alive = out["dead"].to_numpy() == 0
    top = fu.max()
    for _ in range(4 * n):
        below = int((fu < median).sum())
        if below > mids[0]:  # too many short follow-ups: lengthen the alive one nearest the median
            cand = np.flatnonzero(alive & (fu < median))
            i = cand[np.argmax(fu[cand])]
            fu[i] = float(rng.integers(int(median) + 1, int(median) + 120))
        elif below < mids[0]:  # too few: shorten an alive patient whose events allow it
            cand = [i for i in np.flatnonzero(alive & (fu > median) & (fu < top)) if _last_event(out, i) < median - 1]
            i = min(cand, key=lambda j: fu[j])
            fu[i] = float(rng.integers(max(lo_cens, int(_last_event(out, i)) + 1), int(median)))
        else:
            break
    # the middle order statistic(s) exactly at the median
    for _ in range(len(mids)):
        if (fu == median).sum() >= len(mids):
            break
        cand = [j for j in np.flatnonzero(alive & (fu > median) & (fu < top)) if _last_event(out, j) <= median]
        i = min(cand, key=lambda j: fu[j])
        fu[i] = median
    out["followup_days"] = fu


def _platelets(out: pd.DataFrame, m: dict, inc: dict, rng: np.random.Generator) -> None:
    """Platelet engraftment (days) in about 88% of patients; late engraftment only if still followed."""
    n = len(out)
    k = int(round(inc["platelet_engraftment"] * n))
    values = _draw(m["platelet_engraftment_days"], k, rng)
    follow = out["followup_days"].to_numpy()
    who = np.argsort(-(follow + rng.random(n) * 400))[:k]  # longer follow-up, more chance to engraft
    who = who[np.argsort(follow[who] + rng.random(k) * 300)]
    t = np.full(n, np.nan)
    t[who] = np.minimum(values, follow[who] - 1)
    out["platelet_engraftment_days"] = t


def _event_times(n: int, k: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    return np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), size=k)))


def _place(out: pd.DataFrame, col: str, who: np.ndarray, times: np.ndarray) -> None:
    """Set event times for ``who``, keeping each before the patient's follow-up ends."""
    t = np.full(len(out), np.nan)
    follow = out["followup_days"].to_numpy()
    ok = times < follow[who]
    t[who[ok]] = times[ok]
    out[col] = t


def _gvhd(out: pd.DataFrame, inc: dict, rng: np.random.Generator) -> None:
    """Acute GVHD (by day 100) and chronic GVHD (day 100 - 2 years); GVHD deaths had GVHD first."""
    n = len(out)
    follow = out["followup_days"].to_numpy()
    gvhd_death = out["cause_of_death"].str.contains("GVHD").to_numpy()
    k24 = int(round(inc["agvhd_2_4"] * n))
    w = np.where(gvhd_death, 50.0, 1.0) * (follow > 20)
    a24 = _weighted_choice(rng, w, k24)
    t24 = np.minimum(_event_times(n, k24, 12, 95, rng), follow[a24] - 1)
    _place(out, "agvhd_2_4_days", a24, t24)
    k34 = int(round(inc["agvhd_3_4"] * n))
    w34 = np.where(gvhd_death[a24], 20.0, 1.0)
    pick = _weighted_choice(rng, w34, k34)
    a34 = a24[pick]
    t34 = np.minimum(t24[pick] + np.round(rng.uniform(0, 15, size=k34)), follow[a34] - 1)
    _place(out, "agvhd_3_4_days", a34, t34)
    kc = int(round(inc["cgvhd"] * n))
    wc = (follow > 110) * np.where(gvhd_death & np.isnan(out["agvhd_2_4_days"].to_numpy()), 50.0, 1.0)
    cg = _weighted_choice(rng, wc, min(kc, int((wc > 0).sum())))
    tc = np.minimum(_event_times(n, len(cg), 100, 700, rng), follow[cg] - 1)
    _place(out, "cgvhd_days", cg, tc)
    ke = int(round(inc["cgvhd_extensive"] * n))
    has = np.flatnonzero(~np.isnan(out["cgvhd_days"].to_numpy()))
    ext = rng.choice(has, size=min(ke, len(has)), replace=False)
    te = out["cgvhd_days"].to_numpy()[ext] + np.round(rng.uniform(0, 10, size=len(ext)))
    _place(out, "cgvhd_extensive_days", ext, np.minimum(te, follow[ext] - 1))


def _infections_and_tma(out: pd.DataFrame, inc: dict, rng: np.random.Generator) -> None:
    """CMV and EBV viremia (by day 100), PTLD (after EBV), TA-TMA (TA-TMA deaths had it first)."""
    n = len(out)
    follow = out["followup_days"].to_numpy()
    k = int(round(inc["cmv"] * n))
    who = _weighted_choice(rng, (follow > 14).astype(float), k)
    _place(out, "cmv_days", who, np.minimum(_event_times(n, k, 14, 90, rng), follow[who] - 1))
    k = int(round(inc["ebv"] * n))
    who = _weighted_choice(rng, (follow > 20).astype(float), k)
    _place(out, "ebv_days", who, np.minimum(_event_times(n, k, 20, 95, rng), follow[who] - 1))
    ebv = out["ebv_days"].to_numpy()
    has = np.flatnonzero(~np.isnan(ebv))
    k = int(round(inc["ptld"] * n))
    who = rng.choice(has, size=min(k, len(has)), replace=False)
    _place(out, "ptld_days", who, np.minimum(ebv[who] + np.round(rng.uniform(3, 20, len(who))), follow[who] - 1))
    tma_death = out["cause_of_death"].str.contains("TA-TMA").to_numpy()
    k = int(round(inc["tma"] * n))
    w = np.where(tma_death, 1000.0, 1.0) * (follow > 15)
    who = _weighted_choice(rng, w, k)
    t = np.round(np.exp(rng.uniform(np.log(20), np.log(900), size=k)))
    _place(out, "tma_days", who, np.minimum(t, follow[who] - 1))


# --------------------------------------------------------------------------- after the second HSCT

#: The patients the Results describe after the second HSCT, one role each: (MRD treatment,
#: DLI reason, trigger of fatal GVHD). Every role is a different patient.
AFTER_SECOND_ROLES = (
    ("DLI", "MRD-positive treatment", "DLI"),
    ("CAR-T", "", "CAR-T after second HSCT"),
    ("CAR-T", "", "CAR-T after second HSCT"),
    ("anti-PD-1", "", "anti-PD-1"),
    ("", "relapse prevention", "DLI"),
    ("", "relapse prevention", "DLI"),
    ("", "PTLD treatment", ""),
    ("CAR-T", "", ""),
    ("inotuzumab ozogamicin", "", ""),
    ("", "relapse prevention", ""),
    ("", "relapse prevention", ""),
    ("", "relapse prevention", ""),
    ("", "mixed chimerism", ""),
    ("", "graft dysfunction", ""),
)


def _role_fits(role, i: int, mrd: float, dli: float, facts: dict) -> bool:
    """Whether patient row ``i`` can play ``role`` with these MRD-positive / DLI days (NaN = none)."""
    treatment, reason, trigger = role
    fu, rel, ptld = facts["fu"][i], facts["rel"][i], facts["ptld"][i]
    gvhd_death, relapsed = facts["gvhd_death"][i], not np.isnan(rel)
    if trigger and not gvhd_death or not trigger and gvhd_death or relapsed and trigger:
        return False  # fatal GVHD exactly where a trigger is named; relapsed GVHD deaths had a third HSCT
    end = fu  # before death or last follow-up (the recorded GVHD onset may come earlier: a flare after the trigger)
    if treatment and not mrd < end:
        return False
    if reason:
        if not (dli < end and (not treatment or mrd < dli)):
            return False
        if reason == "relapse prevention" and relapsed and rel <= dli:
            return False
        if reason == "PTLD treatment" and not ptld < dli:
            return False
    return True


#: Draws of the DLI and MRD-positive days tried before :func:`after_second_hsct` gives up (each with its own tries).
AFTER_SECOND_REDRAWS = 20


class SynthesisError(RuntimeError):
    """The synthetic cohort cannot meet a printed fact with this seed (the message says which); another seed may."""


def _assign_roles(roles, third, dli_all, mrd_all, facts, rng, tries: int):
    """One patient per role (random order, ``tries`` times) with these DLI and MRD days: the plan
    [(row, mrd day, dli day, role)], or None if no try fits every role."""
    n = len(facts["fu"])
    for _ in range(tries):
        mrd_pool, dli_pool = list(rng.permutation(mrd_all)), list(rng.permutation(dli_all))
        used, plan = set(third.tolist()), []
        for role in roles:
            mrd = mrd_pool.pop() if role[0] else np.nan
            dli = dli_pool.pop() if role[1] else np.nan
            fits = [i for i in rng.permutation(n) if i not in used and _role_fits(role, i, mrd, dli, facts)]
            if not fits:
                break
            used.add(int(fits[0]))
            plan.append((int(fits[0]), mrd, dli, role))
        if len(plan) == len(roles):
            return plan
    return None


def after_second_hsct(out: pd.DataFrame, targets: dict, rng: np.random.Generator, tries: int = 5000) -> pd.DataFrame:
    """DLI, MRD positivity and the triggers of fatal GVHD after the second HSCT (the Results' counts).

    Exact: 9 DLIs (reasons 5/1/1/1/1) at a median of 102 (17-521) days; 6 patients MRD-positive at
    a median of 201 (33-1098) days, treated with CAR-T (3), inotuzumab (1), anti-PD-1 (1) or DLI (1);
    of the 14 GVHD deaths, 3 after DLI (2 for relapse prevention, 1 for MRD), 2 after CAR-T and 1
    after anti-PD-1 for MRD, and the 2 relapsed ones after a third HSCT. Every such event comes
    before death or last follow-up (a DLI for MRD after the MRD-positive day, a DLI for PTLD after
    the PTLD, a DLI for relapse prevention before any relapse). The contract holds one onset day
    per GVHD type, so a fatal GVHD "after DLI" may have begun before it (a flare). Days are
    counted from the second HSCT. Returns the five optional columns (rows aligned to ``out``).
    """
    spec = targets["after_second"]
    n = len(out)
    cause = out["cause_of_death"].astype(object).fillna("").astype(str).to_numpy()
    facts = {
        "fu": out["followup_days"].astype(float).to_numpy(),
        "rel": out["relapse_days"].astype(float).to_numpy(),
        "ptld": out["ptld_days"].astype(float).to_numpy(),
        "gvhd_death": np.array(["GVHD" in c for c in cause]),
    }
    cols = pd.DataFrame(
        {c: pd.Series([np.nan] * n if c.startswith("days") else [""] * n, dtype=object) for c in AFTER_SECOND_COLUMNS},
        index=out.index,
    )
    third = np.flatnonzero(facts["gvhd_death"] & ~np.isnan(facts["rel"]))
    if n != DEFAULT_N or len(third) != spec["gvhd_death_trigger"]["third HSCT"]:
        return cols  # the Results' counts are for the 95 patients of the paper
    plan = None
    for attempt in range(AFTER_SECOND_REDRAWS):  # new DLI and MRD days only if none of the tries fit the first
        dli_all = _draw((*spec["dli_days"], [], 0), sum(spec["dli_reason"].values()), rng)
        mrd_all = _draw((*spec["mrd_days"], [], 0), sum(spec["mrd_treatment"].values()), rng)
        plan = _assign_roles(AFTER_SECOND_ROLES, third, dli_all, mrd_all, facts, rng, tries if attempt == 0 else 500)
        if plan is not None:
            break
    if plan is None:
        raise SynthesisError(
            "no patients of the calibrated outcomes fit the Results' DLI / MRD-positive / GVHD-death facts (a fatal "
            "GVHD after DLI, CAR-T or anti-PD-1 needs a GVHD death late enough for the MRD or DLI day before it) "
            f"after {AFTER_SECOND_REDRAWS} draws of those days; try another seed"
        )
    for i, mrd, dli, (treatment, reason, trigger) in plan:
        cols.iat[i, cols.columns.get_loc("days_second_hsct_to_mrd_positive")] = mrd
        cols.iat[i, cols.columns.get_loc("mrd_positive_after_second_treatment")] = treatment
        cols.iat[i, cols.columns.get_loc("days_second_hsct_to_dli")] = dli
        cols.iat[i, cols.columns.get_loc("dli_reason")] = reason
        cols.iat[i, cols.columns.get_loc("gvhd_death_trigger")] = trigger
    cols.iloc[third, cols.columns.get_loc("gvhd_death_trigger")] = "third HSCT"
    for c in ("days_second_hsct_to_dli", "days_second_hsct_to_mrd_positive"):
        cols[c] = pd.to_numeric(cols[c])
    return cols
