"""The SYNTHETIC cohort: 95 made-up patients whose summaries match Cao et al. 2023.

No patient-level data were published. :func:`generate` builds a cohort in the data
contract of :mod:`hsct_analysis.cohort` in two steps:

1. **Exact baseline.** Every count the paper prints (Tables 1 and 2, CRS/ICANS, causes of
   death, Table 3 group sizes) is met exactly by shuffling a list that holds each category
   the printed number of times. Every printed median (range) is met exactly by placing the
   minimum, the maximum and the middle order statistic(s) at the printed values and drawing
   the other order statistics (log-uniform) on either side, inside any printed threshold
   counts (e.g. 38 patients with CAR-T to second HSCT <= 60 days, 84 with <= 90 days).
2. **Calibrated outcomes.** Event times (death, relapse, GVHD, infections, TA-TMA,
   engraftment) are drawn with plausible shapes and then moved by simulated annealing
   (:mod:`hsct_analysis.calibrate`-style search implemented here in :func:`calibrate`) so that
   the published-results scorecard (:mod:`hsct_analysis.scorecard`) is met as closely as
   possible. Moves keep every exact count fixed: whole outcome records are swapped between
   patients (changes only subgroup estimates), and event times are moved within a patient.

All times are whole days; ages in years (1 decimal); doses in x10^8/kg (MNC, CD3) and
x10^6/kg (CD34). Deterministic for a given seed: ``python -m hsct_analysis.synth --out
data/cohort.csv`` rewrites the committed file byte for byte.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_SEED = 20230704
DEFAULT_N = 95

FIRST_SECOND_HSCT = dt.date(2017, 10, 18)  # first second-HSCT of the study
LAST_SECOND_HSCT = dt.date(2022, 3, 4)  # last second-HSCT of the study
LAST_FOLLOW_UP = dt.date(2023, 1, 1)

#: Column order of the written CSV (the contract's required columns, then the optional ones).
COLUMNS = [
    "patient_id", "sex", "age_first_hsct", "age_second_hsct", "fusion_gene", "first_hsct_donor",
    "mrd_before_first_hsct", "status_before_first_hsct", "abo_first", "conditioning_first", "graft_first",
    "relapse_site", "days_first_hsct_to_relapse", "days_first_to_second_hsct",
    "cart_source", "cart_target", "crs_after_cart", "crs_grade", "icans_grade", "days_cart_to_second_hsct",
    "hct_ci", "mrd_before_second_hsct", "donor_second", "abo_second", "conditioning_second",
    "intensified_conditioning", "graft_second", "gvhd_prophylaxis", "atg_type", "mnc_dose", "cd34_dose", "cd3_dose",
    "followup_days", "dead", "cause_of_death",
    "relapse_days", "neutrophil_engraftment_days", "platelet_engraftment_days", "agvhd_2_4_days", "agvhd_3_4_days",
    "cgvhd_days", "cgvhd_extensive_days", "cmv_days", "ebv_days", "ptld_days", "tma_days",
    "days_diagnosis_to_first_hsct", "days_diagnosis_to_second_hsct", "days_first_hsct_to_mrd_positive",
    "days_relapse_to_cart", "n_cart_infusions", "marrow_blasts_before_cart_pct", "gvhd_after_cart",
]
FLOAT_COLUMNS = {"age_first_hsct", "age_second_hsct", "mnc_dose", "cd34_dose", "cd3_dose", "marrow_blasts_before_cart_pct"}
OUTCOME_COLUMNS = COLUMNS[COLUMNS.index("followup_days"):COLUMNS.index("tma_days") + 1]

#: The paper's printed counts and medians (Tables 1-2, Results text). Counts are for n=95;
#: :func:`scaled_targets` rescales them for another n.
DEFAULT_TARGETS: dict[str, Any] = {
    "counts": {
        "sex": {"male": 56, "female": 39},
        "fusion_gene": {
            "BCR::ABL1": 21, "E2A::HLF": 2, "E2A::PBX1": 5, "EBF1::PDGFRB": 2, "EP300::ZNF384": 1,
            "IGH::EPOP/MILT3::CISD3": 1, "MLL::AF4": 2, "NUP214::ABL1": 2, "PICALM::MLLT10": 1,
            "TAF15::ZNF384": 1, "TEL::AML1": 4, "TERP2::JAK2": 1, "negative": 52,
        },
        "first_hsct_donor": {"MSD": 30, "MUD": 11, "haplo": 49, "auto": 2, "cord": 3},
        "mrd_before_first_hsct": {"negative": 61, "positive": 32, "unknown": 2},
        "status_before_first_hsct": {"CR1": 65, "CR2": 23, "CR3": 4, "NR": 3},
        "abo_first": {"matched": 34, "major": 14, "minor": 11, "bidirectional": 4, "unknown": 32},
        # (first, second) conditioning pairs of Table 2; the 11 unknown first regimens
        # split so that the second-HSCT totals (TBI 75, Bu 19, Mel 1) hold.
        "conditioning_pair": {
            "Bu|Mel": 1, "Bu|TBI": 63, "Mel|TBI": 1, "TBI|Bu": 18, "TBI|TBI": 1, "unknown|TBI": 10, "unknown|Bu": 1,
        },
        "graft_first_noncord": {"BM+PB": 37, "PB": 33, "unknown": 22},
        "relapse_site": {"BM": 71, "BM+EM": 5, "EM": 16, "MRD-only": 3},
        "cart_source": {"autologous": 57, "allogeneic": 28, "unknown": 10},
        "cart_target": {"CD19": 79, "CD22": 5, "CD19+CD22": 10, "CD19+CD20": 1},
        "crs": {"yes": 56, "no": 31, "unknown": 8},
        "crs_grade_yes": {"1": 46, "2": 7, "3": 1, "4": 1, "undetermined": 1},
        "icans_grade": {"1": 5, "3": 1},  # the rest grade 0
        "hct_ci": {"0": 47, "1": 36, "2": 9, "3": 2, "4": 1},
        "donor_second": {"MSD": 1, "MUD": 26, "haplo": 68},
        "abo_second": {"matched": 39, "major": 23, "minor": 23, "bidirectional": 10},
        "mrd_second_intensified": {"positive|yes": 6, "positive|no": 3, "negative|yes": 13, "negative|no": 73},
        "gvhd_prophylaxis": {"CsA+MMF+MTX": 83, "FK506+MMF+MTX": 12},
        "atg_type": {"ATG-F": 52, "ATG-T": 36, "ATG-P": 7},
        "gvhd_after_cart": {"yes": 2},
        "mrd_positive_first": 34,  # became MRD-positive after first HSCT (3 stayed MRD-only)
        "deaths": 40,
        "cause_of_death": {
            "GVHD": 13, "infection": 15, "TA-TMA": 5, "TA-TMA+GVHD": 1, "TA-TMA+infection": 1, "TA-TMA+VOD": 1,
            "relapse": 1, "alveolar hemorrhage": 1, "cerebral hemorrhage": 1, "sudden death": 1,
        },
        "relapses": 10,
    },
    # median, min, max, and threshold counts [(threshold, n <= threshold)], decimals
    "medians": {
        "age_first_hsct": (21.2, 2.7, 51.7, [], 1),
        "age_second_hsct": (22.8, 3.3, 52.8, [(14, 23)], 1),
        "days_diagnosis_to_first_hsct": (244, 109, 2766, [], 0),
        "days_diagnosis_to_second_hsct": (840, 313, 4486, [], 0),
        "days_first_to_second_hsct": (518, 160, 4377, [(365, 28)], 0),
        "days_cart_to_second_hsct": (64, 35, 246, [(60, 38), (90, 84)], 0),
        "days_relapse_to_cart": (57, 13, 1212, [], 0),
        "days_first_hsct_to_mrd_positive": (139, 29, 776, [], 0),
        "days_first_hsct_to_relapse": (314, 64, 4121, [(180, 19)], 0),
        "followup_days": (623, 33, 1901, [], 0),
        "neutrophil_engraftment_days": (14, 8, 26, [], 0),
        "platelet_engraftment_days": (16, 6, 420, [], 0),
        "mnc_dose": (8.6, 3.9, 23.9, [], 1),
        "cd34_dose": (5.0, 0.9, 17.3, [], 1),
        "cd3_dose": (1.8, 0.5, 6.6, [], 1),
        "marrow_blasts_before_cart_pct": (23.5, 0.0, 97.6, [], 1),
        "n_cart_infusions": (1, 1, 5, [], 0),
    },
    # approximate incidences used to draw the first outcome times (calibration refines them)
    "incidence": {
        "platelet_engraftment": 0.88, "agvhd_2_4": 0.432, "agvhd_3_4": 0.084, "cgvhd": 0.46, "cgvhd_extensive": 0.34,
        "cmv": 0.726, "ebv": 0.19, "ptld": 0.042, "tma": 0.19,
    },
}


# --------------------------------------------------------------------------- targets


def _largest_remainder(counts: dict[str, int], n: int) -> dict[str, int]:
    """Scale ``counts`` to sum to ``n`` (largest-remainder rounding; ties by listed order)."""
    total = sum(counts.values())
    raw = {k: v * n / total for k, v in counts.items()}
    out = {k: int(np.floor(x)) for k, x in raw.items()}
    left = n - sum(out.values())
    order = sorted(raw, key=lambda k: -(raw[k] - out[k]))
    for k in order[:left]:
        out[k] += 1
    return out


def scaled_targets(n: int, targets: dict | None = None) -> dict:
    """Targets for a cohort of ``n`` patients: printed counts rescaled by largest remainder."""
    base = copy.deepcopy(targets or DEFAULT_TARGETS)
    if n == DEFAULT_N and targets is None:
        return base
    counts = base["counts"]
    for key, value in counts.items():
        if isinstance(value, dict):
            if key in ("icans_grade", "gvhd_after_cart"):
                counts[key] = {k: int(round(v * n / DEFAULT_N)) for k, v in value.items()}
            elif key in ("crs_grade_yes",):
                continue  # rescaled below, from the CRS count
            elif key == "graft_first_noncord":
                continue
            elif key == "cause_of_death":
                continue
            else:
                counts[key] = _largest_remainder(value, n)
        else:
            counts[key] = int(round(value * n / DEFAULT_N))
    counts["crs_grade_yes"] = _largest_remainder(base["counts"]["crs_grade_yes"], counts["crs"]["yes"])
    counts["cause_of_death"] = _largest_remainder(base["counts"]["cause_of_death"], counts["deaths"])
    n_cord = counts["first_hsct_donor"]["cord"]
    counts["graft_first_noncord"] = _largest_remainder(base["counts"]["graft_first_noncord"], n - n_cord)
    meds = base["medians"]
    for key, (med, lo, hi, thresholds, dec) in meds.items():
        m = _median_sample_size(key, counts, n)
        meds[key] = (med, lo, hi, [(t, int(round(c * m / _median_sample_size(key, DEFAULT_TARGETS["counts"], DEFAULT_N))))
                                   for t, c in thresholds], dec)
    return base


def _median_sample_size(key: str, counts: dict, n: int) -> int:
    """How many patients a printed median (range) is taken over."""
    if key == "days_first_hsct_to_relapse":
        return n - counts["relapse_site"]["MRD-only"]
    if key == "days_first_hsct_to_mrd_positive":
        return counts["mrd_positive_first"]
    return n


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


def _rank_assign(values_sorted: np.ndarray, keys: np.ndarray, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
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
    mrd_times = rng.permutation(_draw(m["days_first_hsct_to_mrd_positive"], n_mrd, rng))
    best = None
    for _attempt in range(30):  # redraw until every patient's intervals fit (deterministic given the seed)
        anchor = np.full(n, np.nan)
        anchor[mrd_only] = mrd_times[: len(mrd_only)]
        anchor[relapsed] = rng.permutation(_draw(m["days_first_hsct_to_relapse"], len(relapsed), rng))
        to_cart = rng.permutation(_draw(m["days_relapse_to_cart"], n, rng))
        cart = rng.permutation(_draw(m["days_cart_to_second_hsct"], n, rng))
        f2s = rng.permutation(_draw(m["days_first_to_second_hsct"], n, rng))
        misfit = _fit_intervals(anchor, to_cart, cart, f2s, relapsed, rng)
        if best is None or misfit < best[0]:
            best = (misfit, anchor, to_cart, cart, f2s)
        if misfit == 0:
            break
    _, anchor, to_cart, cart, f2s = best
    rel = np.full(n, np.nan)
    rel[relapsed] = anchor[relapsed]
    df["days_first_hsct_to_relapse"] = rel
    # the other MRD-positive patients relapsed at least 18 days after turning MRD-positive
    mrd = np.full(n, np.nan)
    mrd[mrd_only] = anchor[mrd_only]
    rest = np.sort(mrd_times[len(mrd_only):])
    for _ in range(1000):
        who = rng.choice(relapsed, size=len(rest), replace=False)
        who = who[np.argsort(rel[who])]
        if np.all(rel[who] >= rest + 18):
            mrd[who] = rest
            break
    else:  # pragma: no cover - the draws above always fit for the paper's numbers
        raise RuntimeError("could not place MRD-positive times before relapse")
    df["days_first_hsct_to_mrd_positive"] = mrd
    df["days_first_to_second_hsct"] = f2s
    df["days_cart_to_second_hsct"] = cart
    df["days_relapse_to_cart"] = to_cart
    first_to_second = f2s
    diag1 = rng.permutation(_draw(m["days_diagnosis_to_first_hsct"], n, rng))
    df["days_diagnosis_to_first_hsct"] = diag1
    df["days_diagnosis_to_second_hsct"] = _rank_assign(_draw(m["days_diagnosis_to_second_hsct"], n, rng), diag1 + first_to_second, rng)


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
    return float(excess.sum())


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


def _weighted_choice(rng: np.random.Generator, weights: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
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
    rel_w = np.where(df["atg_type"].to_numpy() == "ATG-F", 0.1, 1.0) * np.where(df["atg_type"].to_numpy() == "ATG-P", 4.0, 1.0)
    relapsed = _weighted_choice(rng, rel_w, n_rel)
    dead = np.zeros(n, bool)
    # relapsed patients who died: the relapse death and two GVHD deaths after a third HSCT
    k_rel_dead = min(3, n_rel, n_dead)
    rel_dead = rng.choice(relapsed, size=k_rel_dead, replace=False)
    dead[rel_dead] = True
    others = np.setdiff1d(np.arange(n), relapsed)
    mask = np.zeros(n, bool)
    mask[others] = True
    dead[_weighted_choice(rng, risk, n_dead - k_rel_dead, mask)] = True
    cause = np.full(n, "", dtype=object)
    pool = list(causes)
    rel_causes = ["relapse", "GVHD", "GVHD"][:k_rel_dead]
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


EVENT_COLUMNS = [c for c in OUTCOME_COLUMNS if c.endswith("_days") and c != "followup_days"]


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
    for k in range(len(mids)):
        if (fu == median).sum() >= len(mids):
            break
        cand = np.flatnonzero(alive & (fu > median) & (fu < top))
        i = cand[np.argmin(fu[cand])]
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
    te = out["cgvhd_days"].to_numpy()[ext] + np.round(rng.uniform(0, 40, size=len(ext)))
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


# --------------------------------------------------------------------------- assemble / write


def assemble(base: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """The cohort in the contract's column order (outcome rows aligned to patients)."""
    df = base.copy()
    for col in OUTCOME_COLUMNS:
        df[col] = out[col].to_numpy()
    return df[COLUMNS]


def generate(seed: int = DEFAULT_SEED, n: int = DEFAULT_N, targets: dict | None = None, calibrate: bool = True,
             max_seconds: float = 240.0, verbose: bool = False) -> pd.DataFrame:
    """A synthetic cohort of ``n`` patients in the data contract (deterministic from ``seed``).

    ``targets`` defaults to the paper's printed numbers (:data:`DEFAULT_TARGETS`), rescaled
    to ``n`` by largest-remainder rounding. ``calibrate=True`` (n=95 with the paper's targets
    only) runs the simulated-annealing search against the scorecard; it is deterministic
    because it counts iterations, never wall-clock time (``max_seconds`` is only a guard).
    """
    tg = scaled_targets(n, targets)
    rng = np.random.default_rng(seed)
    base = baseline(n, tg, rng)
    out = outcomes(base, tg, rng)
    if calibrate and n == DEFAULT_N and targets is None:
        out = calibrate_outcomes(base, out, seed=seed, verbose=verbose, max_seconds=max_seconds)
    return assemble(base, out)


def to_csv_text(cohort: pd.DataFrame) -> str:
    """The cohort as CSV text: fixed column order, integers as integers, 1-decimal floats, '' for missing."""
    cols = {}
    for col in cohort.columns:
        s = cohort[col]
        if col in FLOAT_COLUMNS:
            cols[col] = s.map(lambda v: "" if pd.isna(v) else f"{float(v):.1f}")
        elif pd.api.types.is_numeric_dtype(s):
            cols[col] = s.map(lambda v: "" if pd.isna(v) else str(int(round(float(v)))))
        else:
            cols[col] = s.map(lambda v: "" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v))
    return pd.DataFrame(cols)[list(cohort.columns)].to_csv(index=False, lineterminator="\n")


def write(cohort: pd.DataFrame, path: str) -> None:
    """Write ``cohort`` to ``path`` byte-reproducibly (UTF-8, LF line ends)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(to_csv_text(cohort))


def main(argv: list[str] | None = None) -> int:
    """``python -m hsct_analysis.synth --out data/cohort.csv [--seed N] [--n N] [--no-calibrate]``."""
    p = argparse.ArgumentParser(prog="python -m hsct_analysis.synth", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--n", type=int, default=DEFAULT_N)
    p.add_argument("--no-calibrate", action="store_true")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    cohort = generate(seed=a.seed, n=a.n, calibrate=not a.no_calibrate, verbose=a.verbose)
    write(cohort, a.out)
    print(f"wrote {a.out}: {len(cohort)} synthetic patients, seed {a.seed}, {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def calibrate_outcomes(base, out, seed, verbose=False, max_seconds=240.0):
    """Placeholder replaced below once the scorecard exists."""
    return out
