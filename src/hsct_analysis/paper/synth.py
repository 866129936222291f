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
   the published-results scorecard (:mod:`hsct_analysis.paper.scorecard`) is met as closely as
   possible. Moves keep every exact count fixed: whole outcome records are swapped between
   patients (changes only subgroup estimates), and event times are moved within a patient.

All times are whole days; ages in years (1 decimal); doses in x10^8/kg (MNC, CD3) and
x10^6/kg (CD34). Deterministic for a given seed: ``python -m hsct_analysis.paper.synth --out
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
    "days_second_hsct_to_dli", "dli_reason", "days_second_hsct_to_mrd_positive", "mrd_positive_after_second_treatment",
    "gvhd_death_trigger",
]
FLOAT_COLUMNS = {"age_first_hsct", "age_second_hsct", "mnc_dose", "cd34_dose", "cd3_dose", "marrow_blasts_before_cart_pct"}
OUTCOME_COLUMNS = COLUMNS[COLUMNS.index("followup_days"):COLUMNS.index("tma_days") + 1]
#: Optional columns about treatment after the second HSCT (DLI, MRD positivity, what preceded fatal GVHD).
AFTER_SECOND_COLUMNS = COLUMNS[COLUMNS.index("days_second_hsct_to_dli"):]

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
        "days_mrd_positive_to_relapse": (112, 18, 2442, [], 0),
        "followup_days": (623, 33, 1901, [], 0),
        "neutrophil_engraftment_days": (14, 8, 26, [], 0),
        # 30- and 60-day platelet engraftment 79.0% and 86.3%: ~75 and ~82 of 95 patients
        "platelet_engraftment_days": (16, 6, 420, [(30, 75), (60, 82)], 0),
        "mnc_dose": (8.6, 3.9, 23.9, [], 1),
        "cd34_dose": (5.0, 0.9, 17.3, [], 1),
        "cd3_dose": (1.8, 0.5, 6.6, [], 1),
        "marrow_blasts_before_cart_pct": (23.5, 0.0, 97.6, [], 1),
        "n_cart_infusions": (1, 1, 5, [], 0),
    },
    # after the second HSCT (Results): DLI in 9 patients, MRD positivity in 6, triggers of 8 of the 14 GVHD deaths
    "after_second": {
        "dli_reason": {"relapse prevention": 5, "mixed chimerism": 1, "PTLD treatment": 1, "graft dysfunction": 1,
                       "MRD-positive treatment": 1},
        "dli_days": (102, 17, 521),
        "mrd_treatment": {"CAR-T": 3, "inotuzumab ozogamicin": 1, "anti-PD-1": 1, "DLI": 1},
        "mrd_days": (201, 33, 1098),
        # fatal GVHD after: DLI (2 for relapse prevention, 1 for MRD), CAR-T for MRD (2), anti-PD-1 for MRD (1),
        # a third HSCT after relapse (2)
        "gvhd_death_trigger": {"DLI": 3, "CAR-T after second HSCT": 2, "anti-PD-1": 1, "third HSCT": 2},
    },
    # approximate incidences used to draw the first outcome times (calibration refines them)
    "incidence": {
        "platelet_engraftment": 0.885, "agvhd_2_4": 0.432, "agvhd_3_4": 0.084, "cgvhd": 0.42, "cgvhd_extensive": 0.31,
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
    if key == "days_mrd_positive_to_relapse":
        return counts["mrd_positive_first"] - counts["relapse_site"]["MRD-only"]
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
    mrd_times = _draw(m["days_first_hsct_to_mrd_positive"], n_mrd, rng)  # sorted
    only_pos = rng.choice(n_mrd, size=len(mrd_only), replace=False)
    best = None
    for _attempt in range(30 if n <= 500 else 3):  # redraw until every patient's intervals fit (deterministic)
        anchor = np.full(n, np.nan)
        anchor[mrd_only] = mrd_times[only_pos]
        anchor[relapsed] = rng.permutation(_draw(m["days_first_hsct_to_relapse"], len(relapsed), rng))
        # start near a fit: long relapse-to-CAR-T intervals to early relapses, and the
        # first-to-second-HSCT intervals ranked like the time they must contain
        to_cart = _rank_assign(_draw(m["days_relapse_to_cart"], n, rng), -anchor * rng.lognormal(0.0, 0.5, n), rng)
        cart = rng.permutation(_draw(m["days_cart_to_second_hsct"], n, rng))
        f2s = _rank_assign(_draw(m["days_first_to_second_hsct"], n, rng), anchor + to_cart + cart, rng)
        misfit = _fit_intervals(anchor, to_cart, cart, f2s, relapsed, rng, iterations=20000 + 20 * n)
        mrd = _pair_mrd_with_relapse(anchor, relapsed, mrd_only, only_pos, mrd_times,
                                     m["days_mrd_positive_to_relapse"], rng)
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
    df["days_diagnosis_to_second_hsct"] = _rank_assign(_draw(m["days_diagnosis_to_second_hsct"], n, rng), diag1 + first_to_second, rng)


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
                half = [p for p in free if p not in taken_pos and ((p < mids[0] and v <= m_med) or (p > mids[-1] and v >= m_med))]
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
        "rel": out["relapse_days"].astype(float).to_numpy(), "ptld": out["ptld_days"].astype(float).to_numpy(),
        "gvhd_death": np.array(["GVHD" in c for c in cause]),
    }
    cols = pd.DataFrame({c: pd.Series([np.nan] * n if c.startswith("days") else [""] * n, dtype=object)
                         for c in AFTER_SECOND_COLUMNS}, index=out.index)
    third = np.flatnonzero(facts["gvhd_death"] & ~np.isnan(facts["rel"]))
    if n != DEFAULT_N or len(third) != spec["gvhd_death_trigger"]["third HSCT"]:
        return cols  # the Results' counts are for the 95 patients of the paper
    dli_all = _draw((*spec["dli_days"], [], 0), sum(spec["dli_reason"].values()), rng)
    mrd_all = _draw((*spec["mrd_days"], [], 0), sum(spec["mrd_treatment"].values()), rng)
    roles = AFTER_SECOND_ROLES
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
            break
    else:
        raise RuntimeError("no patients fit the Results' DLI / MRD / GVHD-death facts")
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


# --------------------------------------------------------------------------- assemble / write


def assemble(base: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """The cohort in the contract's column order (outcome rows aligned to patients)."""
    df = base.copy()
    for col in OUTCOME_COLUMNS:
        df[col] = out[col].to_numpy()
    for col in AFTER_SECOND_COLUMNS:
        df[col] = out[col].to_numpy() if col in out else (np.nan if col.startswith("days") else "")
    return df[COLUMNS]


def generate(seed: int = DEFAULT_SEED, n: int = DEFAULT_N, targets: dict | None = None, calibrate: bool = True,
             max_seconds: float = 240.0, verbose: bool = False,
             calibration_iterations: tuple[int, int] | None = None) -> pd.DataFrame:
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
        kwargs = {"iterations": calibration_iterations} if calibration_iterations else {}
        out = calibrate_outcomes(base, out, seed=seed, verbose=verbose, max_seconds=max_seconds, **kwargs)
    after = after_second_hsct(out, tg, np.random.default_rng([seed, 2]))
    return assemble(base, pd.concat([out, after], axis=1))


def written_columns(columns=COLUMNS) -> list[str]:
    """The columns a cohort file holds: ``columns`` minus the treatment-after-second-HSCT ones
    (:data:`AFTER_SECOND_COLUMNS`) that the data dictionary does not (yet) define."""
    from hsct_analysis.cohort import CONTRACT_COLUMNS

    return [c for c in columns if c not in AFTER_SECOND_COLUMNS or c in CONTRACT_COLUMNS]


def to_csv_text(cohort: pd.DataFrame) -> str:
    """The cohort as CSV text: fixed column order, integers as integers, 1-decimal floats, '' for missing."""
    cohort = cohort[written_columns(list(cohort.columns))]
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
    """``python -m hsct_analysis.paper.synth --out data/cohort.csv [--seed N] [--n N] [--no-calibrate]``."""
    p = argparse.ArgumentParser(prog="python -m hsct_analysis.paper.synth", description=__doc__.splitlines()[0])
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



# --------------------------------------------------------------------------- calibration

#: Endpoints calibrated jointly with the subgroup structure (Table 3 and the overall curves).
CORE_ENDPOINTS = ("os", "lfs", "relapse", "nrm")
PENALTY_CAP = 25.0
CONFLICT_WEIGHT = 0.1


def _core_arrays(fu, dead, rel):
    """OS / LFS / relapse-NRM (time, status) arrays, derived by the loader's own rule."""
    from hsct_analysis.cohort import survival_endpoint_arrays

    e = survival_endpoint_arrays(fu, dead, rel)
    relapse_nrm = (e["relapse_nrm_time"], e["relapse_nrm_status"])
    return {"os": (e["os_time"], e["os_event"]), "lfs": (e["lfs_time"], e["lfs_event"]),
            "relapse": relapse_nrm, "nrm": relapse_nrm}


def _curve_values(endpoint_name: str, time: np.ndarray, status: np.ndarray, times: list[float]) -> dict:
    """{(t, stat): percent} of one endpoint's curve at ``times`` (days), as the scorecard reads it.

    A fast path through the library's own array cores (``counting.tally``,
    ``survival.product_limit`` and ``survival.survfit_limits``; ``competing.cif_core`` and ``competing.cif_limits``) that skips building
    DataFrames; :func:`survival.kaplan_meier` / :func:`competing.cumulative_incidence` +
    :func:`survival.value_at` give the same numbers (asserted in tests/test_synth.py).
    """
    from hsct_analysis.stats import competing, counting, survival

    z = _z95()
    if endpoint_name in ("os", "lfs"):
        ts, at_risk, counts = counting.tally(np.asarray(time, float), np.asarray(status, int), 2)
        est, se_log = survival.product_limit(at_risk, counts[:, 1])
        lower, upper = survival.survfit_limits(est, se_log, z, survival.CONF_TYPES["arcsine"])
        start = 1.0
    else:
        cause = 2 if endpoint_name == "nrm" else 1
        codes = np.asarray(status, int)
        ts, at_risk, counts = counting.tally(np.asarray(time, float), codes, max(int(codes.max()), cause) + 1)
        n_cause = counts[:, cause]
        est, var = competing.cif_core(at_risk, n_cause, counts[:, 1:].sum(axis=1) - n_cause)
        lower, upper = competing.cif_limits(est, var, z, "log")
        start = 0.0
    out = {}
    for t in times:
        if t > ts[-1]:
            vals = (np.nan, np.nan, np.nan)
        elif t < ts[0]:
            vals = (start, np.nan, np.nan)  # as survival.value_at: no interval before the first time
        else:
            k = int(np.searchsorted(ts, t, side="right")) - 1
            vals = (est[k], lower[k], upper[k])
        for stat, v in zip(("value", "lower", "upper"), vals):
            out[(t, stat)] = 100.0 * float(v)
    return out


_Z95: list[float] = []


def _z95() -> float:
    from hsct_analysis.stats import counting, survival

    if not _Z95:
        _Z95.append(counting.z_value(0.95))
    return _Z95[0]


def _p_value(endpoint_name: str, time, status, group) -> float:
    """Log-rank (OS, LFS) or Gray's test (relapse, NRM) p-value, by the library's tests."""
    from hsct_analysis.stats import competing, counting, survival

    if len(set(group)) < 2:
        return np.nan
    if endpoint_name in ("os", "lfs"):
        return survival.logrank(time, status, group).p_value
    return competing.gray_test(time, status, group, cause=1 if endpoint_name == "relapse" else 2).p_value


def _entry_penalty(kind: str, stat: str, target: float, value: float, printed: str, shape: str = "squared") -> float:
    """Miss of one entry in units of the scorecard's tolerance (see :mod:`hsct_analysis.paper.scorecard`).

    ``shape="squared"``: the squared miss, capped at :data:`PENALTY_CAP`. ``shape="pass"``
    (what the pass rate rewards): 0.4 x^2 inside the tolerance (x = miss / tolerance), a step
    of 1 where the entry starts to fail, then 0.6 per tolerance unit up to x = 4 (entries far
    out of reach stop pulling the search).
    """
    x2 = _squared_miss(kind, stat, target, value, printed)
    if shape == "squared":
        return min(x2, PENALTY_CAP)
    x = np.sqrt(x2)
    return 0.4 * x2 if x <= 1.0 else 1.4 + 0.6 * (min(x, 4.0) - 1.0)


def _squared_miss(kind: str, stat: str, target: float, value: float, printed: str) -> float:
    """Squared miss in tolerance units (p: factor-2 units, +4 on the wrong side of 0.05; hr: factor 1.25/1.33)."""
    if value is None or not np.isfinite(value):
        return PENALTY_CAP
    if kind == "p":
        if printed.strip().startswith("<"):
            return 0.0 if value < target else 4.0 + (np.log(value / target) / np.log(2)) ** 2
        miss = (np.log(max(value, 1e-12) / target) / np.log(2)) ** 2
        side = 4.0 if (value < 0.05) != (target < 0.05) else 0.0
        return miss + side
    if kind == "hr":
        if value <= 0 or target <= 0:
            return PENALTY_CAP
        f = 1.25 if stat == "value" else 1.33
        return (np.log(value / target) / np.log(f)) ** 2
    tol = 1.0 if stat == "value" else 2.0
    return ((value - target) / tol) ** 2


def _printings(registry: pd.DataFrame) -> dict[str, list[str]]:
    """Statuses of every printing of each first-printed number ({id: [status, ...]})."""
    out: dict[str, list[str]] = {}
    dup = registry["duplicate_of"].astype(str) if "duplicate_of" in registry else pd.Series("", index=registry.index)
    status = registry["status"].astype(str) if "status" in registry else pd.Series("", index=registry.index)
    for rid, d, st in zip(registry["id"], dup, status):
        out.setdefault(d or rid, []).append(st)
    return out


def _weight(row, printings: dict[str, list[str]]) -> float:
    """Objective weight of a number: one per printing (the scorecard scores each), conflicts 0.1."""
    return sum(CONFLICT_WEIGHT if st == "inconsistent" else 1.0 for st in printings.get(row.id, [""]))


class Calibrator:
    """Simulated annealing of outcome records against the scorecard's KM / CIF / p entries.

    The state is a table of outcome *records* (follow-up, death, relapse and the other
    event days) and the assignment of records to patients. Moves: swap two patients'
    records (keeps every count and every overall estimate; changes subgroups), or move one
    record's death day, censoring day or relapse day (keeps the numbers of deaths and
    relapses). Estimates come from :mod:`hsct_analysis.stats.survival` and
    :mod:`hsct_analysis.stats.competing`; only the subgroups a move touches are recomputed.
    """

    def __init__(self, base: pd.DataFrame, out: pd.DataFrame, registry: pd.DataFrame, rng: np.random.Generator,
                 with_tests: bool = True, with_models: bool = False, shape: str = "squared"):
        from hsct_analysis.cohort.factors import FACTORS, factor

        self.rng = rng
        self.shape = shape
        self.n = len(base)
        self.out = out.reset_index(drop=True).copy()
        self.perm = np.arange(self.n)  # patient p holds record perm[p]
        self.fu = self.out["followup_days"].to_numpy(float).copy()
        self.dead = self.out["dead"].to_numpy(int).copy()
        self.rel = self.out["relapse_days"].to_numpy(float).copy()
        self.cens = self.out["admin_censoring_days"].to_numpy(float).copy()
        events = self.out[[c for c in EVENT_COLUMNS if c != "relapse_days"]].to_numpy(float)
        self.last_event = np.nan_to_num(np.nanmax(np.where(np.isnan(events), -np.inf, events), axis=1), neginf=0.0)
        self.with_tests = with_tests
        self.time_swap_share = 0.0  # share of the non-swap moves that swap event days between records
        self.median_followup = float(np.median(self.fu))
        reg = registry.fillna("")
        printings = _printings(reg)
        if "duplicate_of" in reg:
            reg = reg[reg["duplicate_of"].astype(str) == ""]
        reg = reg[reg["kind"].isin(["km", "cif", "p"]) & reg["endpoint"].isin(CORE_ENDPOINTS)]
        reg = reg[(reg["factor"] == "") | reg["factor"].isin(list(FACTORS))]
        reg = reg[~((reg["kind"] == "p") & (reg["test"].isin(["wald", "fisher", "chisq"]) | (reg["level"] != "")))]
        if not with_tests:
            reg = reg[reg["kind"] != "p"]
        self.factor_names = sorted({f for f in reg["factor"] if f})
        self.levels = {f: factor(base, f).astype(object).to_numpy() for f in self.factor_names}
        groups = [("", "")] + [(f, lv) for f in self.factor_names for lv in FACTORS[f].levels]
        self.groups = [g for g in groups if g == ("", "") or (self.levels[g[0]] == g[1]).any()]
        self.gindex = {g: k for k, g in enumerate(self.groups)}
        self.masks = np.array([np.ones(self.n, bool) if g == ("", "") else (self.levels[g[0]] == g[1]) for g in self.groups])
        self.entries = []
        for r in reg.itertuples(index=False):
            weight = _weight(r, printings)
            if r.kind == "p":
                self.entries.append(("p", r.endpoint, r.factor, None, "value", float(r.value), str(r.printed), weight))
            elif (r.factor, r.level) in self.gindex:
                self.entries.append(("curve", r.endpoint, self.gindex[(r.factor, r.level)], float(r.time_days), r.stat,
                                     float(r.value), "", weight))
        self.times = {}
        for e in self.entries:
            if e[0] == "curve":
                self.times.setdefault((e[2], e[1]), set()).add(e[3])
        self.curve_cache: dict = {}
        self.test_cache: dict = {}
        self.with_models = with_models
        self.registry = registry
        self.model_frame = base.reset_index(drop=True).copy()
        if with_models:
            hr = registry.fillna("")
            hr = hr[(hr["duplicate_of"].astype(str) == "") & (hr["endpoint"].isin(CORE_ENDPOINTS))
                    & (((hr["kind"] == "hr") & (hr["level"] != hr["reference"])) | ((hr["kind"] == "p") & (hr["test"] == "wald")))]
            for r in hr.itertuples(index=False):
                weight = _weight(r, printings)
                self.entries.append(("model", r.endpoint, r.factor, r.level, r.stat if r.kind == "hr" else "p",
                                     float(r.value), str(r.printed), weight))
        self.model_cache: dict = {}
        self._refresh(range(len(self.groups)), self.factor_names)
        self.penalties = np.array([self._penalty(e) for e in self.entries])

    # -- evaluation -------------------------------------------------------------------
    def _arrays(self):
        p = self.perm
        return _core_arrays(self.fu[p], self.dead[p], self.rel[p])

    def _refresh(self, group_ids, factor_names) -> None:
        arrays = self._arrays()
        for g in group_ids:
            m = self.masks[g]
            for ep in CORE_ENDPOINTS:
                ts = self.times.get((g, ep))
                if ts:
                    t, s = arrays[ep]
                    self.curve_cache[(g, ep)] = _curve_values(ep, t[m], s[m], sorted(ts))
        if self.with_models and (group_ids or factor_names):
            self._refresh_models(arrays)
        if self.with_tests:
            for f in factor_names:
                lv = self.levels[f]
                keep = pd.notna(lv)
                for ep in CORE_ENDPOINTS:
                    t, s = arrays[ep]
                    self.test_cache[(f, ep)] = _p_value(ep, t[keep], s[keep], lv[keep].astype(str))

    def _refresh_models(self, arrays) -> None:
        """Refit Table 4 (the scorecard's own Cox / Fine-Gray fits) on the current assignment."""
        from hsct_analysis.paper.scorecard import _fit_table4, _plain_numbers

        f = self.model_frame
        f["os_time"], f["os_event"] = arrays["os"]
        f["lfs_time"], f["lfs_event"] = arrays["lfs"]
        f["relapse_nrm_time"], f["relapse_nrm_status"] = arrays["relapse"]
        for ep in {e[1] for e in self.entries if e[0] == "model"}:
            try:
                fit = _fit_table4(f, ep, self.registry)
            except Exception:  # noqa: BLE001 - a failed fit scores as a miss
                fit = "failed"
            self.model_cache[ep] = None if isinstance(fit, str) else fit[0]

    def _model_value(self, e) -> float:
        from hsct_analysis.cohort.factors import FACTORS
        from hsct_analysis.paper.scorecard import table4_covariates

        summary = self.model_cache.get(e[1])
        if summary is None:
            return np.nan
        level = e[3]
        if not level:
            ref = table4_covariates(self.registry, e[1]).get(e[2])
            level = [lv for lv in FACTORS[e[2]].levels if lv != ref][0]
        term = f"{e[2]}[{level}]"
        if term not in summary.index:
            return np.nan
        col = {"value": "hr", "lower": "hr_lower", "upper": "hr_upper", "p": "p"}[e[4]]
        return float(summary.loc[term, col])

    def _value(self, e) -> float:
        if e[0] == "model":
            return self._model_value(e)
        if e[0] == "p":
            return self.test_cache.get((e[2], e[1]), np.nan)
        return self.curve_cache[(e[2], e[1])][(e[3], e[4])]

    def _penalty(self, e) -> float:
        if e[0] == "model":
            kind = "p" if e[4] == "p" else "hr"
            # Table 4 stays on the squared scale: its fits start far off and need the pull
            return e[7] * _entry_penalty(kind, e[4], e[5], self._value(e), e[6], "squared")
        return e[7] * _entry_penalty("p" if e[0] == "p" else "curve", e[4], e[5], self._value(e), e[6], self.shape)

    def objective(self) -> float:
        return float(self.penalties.sum())

    def _affected(self, groups_set, factors_set) -> np.ndarray:
        return np.array([k for k, e in enumerate(self.entries)
                         if (e[0] == "p" and e[2] in factors_set) or (e[0] == "curve" and e[2] in groups_set)
                         or e[0] == "model"], int)

    # -- moves ------------------------------------------------------------------------
    def _propose(self, swap_share: float = 0.55):
        """Apply a random move; return (undo, touched groups, touched factors) or None if invalid."""
        rng, n = self.rng, self.n
        u = rng.random()
        if u < swap_share:
            i, j = rng.integers(0, n, size=2)
            if i == j or self.perm[i] == self.perm[j]:
                return None
            diff = np.flatnonzero(self.masks[:, i] != self.masks[:, j])
            if diff.size == 0:
                return None
            self.perm[i], self.perm[j] = self.perm[j], self.perm[i]

            def undo(i=i, j=j):
                self.perm[i], self.perm[j] = self.perm[j], self.perm[i]
            facs = {self.groups[g][0] for g in diff if self.groups[g][0]}
            return undo, set(diff.tolist()), facs
        if self.time_swap_share and rng.random() < self.time_swap_share:
            return self._swap_times()
        p = int(rng.integers(0, n))
        r = self.perm[p]
        old = (self.fu[r], self.rel[r])
        lo_keep = 33.0
        if self.fu[r] <= lo_keep or self.fu[r] >= 1901:  # the printed minimum and maximum stay put
            return None
        if rng.random() < 0.67 or np.isnan(self.rel[r]):
            scale = np.exp(rng.normal(0.0, 0.35))
            new = float(np.round(self.fu[r] * scale))
            floor = max(self.last_event[r], 0 if np.isnan(self.rel[r]) else self.rel[r]) + 1
            if self.dead[r]:
                ok = lo_keep < new < min(self.cens[r], 1901) and new >= floor
            else:
                ok = 303 <= new < 1901 and new >= floor
            # the printed median follow-up stays exact: nobody crosses it, the middle record stays put
            med = self.median_followup
            ok = ok and self.fu[r] != med and (new < med) == (self.fu[r] < med) and new != med
            if not ok:
                return None
            self.fu[r] = new
        else:
            new = float(np.round(self.rel[r] * np.exp(rng.normal(0.0, 0.4))))
            if not (1 <= new < self.fu[r]):
                return None
            self.rel[r] = new

        def undo(r=r, old=old):
            self.fu[r], self.rel[r] = old
        groups = set(np.flatnonzero(self.masks[:, p]).tolist())
        facs = {f for f in self.factor_names if pd.notna(self.levels[f][p])}
        return undo, groups, facs

    def _swap_times(self):
        """Swap two death days, two censoring days or two relapse days between records.

        Keeps the set of follow-up (and relapse) days, hence the printed minimum, median and
        maximum follow-up, the counts, and who died or relapsed; changes when within subgroups.
        """
        rng, n = self.rng, self.n
        p, q = (int(x) for x in rng.integers(0, n, size=2))
        r, s = self.perm[p], self.perm[q]
        if r == s:
            return None
        old = (self.fu[r], self.rel[r], self.fu[s], self.rel[s])
        relapsed_r, relapsed_s = not np.isnan(self.rel[r]), not np.isnan(self.rel[s])
        if relapsed_r and relapsed_s and rng.random() < 0.5:
            self.rel[r], self.rel[s] = self.rel[s], self.rel[r]
        elif self.dead[r] == self.dead[s]:
            self.fu[r], self.fu[s] = self.fu[s], self.fu[r]
        else:
            return None
        ok = True
        for k in (r, s):
            floor = max(self.last_event[k], 0 if np.isnan(self.rel[k]) else self.rel[k])
            ok = ok and self.fu[k] > floor and (not self.dead[k] or self.fu[k] < self.cens[k])
            ok = ok and (np.isnan(self.rel[k]) or self.rel[k] >= 1)
        if not ok or old == (self.fu[r], self.rel[r], self.fu[s], self.rel[s]):
            self.fu[r], self.rel[r], self.fu[s], self.rel[s] = old
            return None

        def undo(r=r, s=s, old=old):
            self.fu[r], self.rel[r], self.fu[s], self.rel[s] = old
        groups = set(np.flatnonzero(self.masks[:, p] | self.masks[:, q]).tolist())
        facs = {f for f in self.factor_names if pd.notna(self.levels[f][p]) or pd.notna(self.levels[f][q])}
        return undo, groups, facs

    def run(self, iterations: int, t_start: float = 2.0, t_end: float = 0.02, verbose: bool = False,
            swap_share: float = 0.55) -> float:
        """Anneal for ``iterations`` proposals (geometric cooling); return the final objective."""
        current = self.objective()
        best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
        for it in range(iterations):
            temp = t_start * (t_end / t_start) ** (it / max(iterations - 1, 1))
            move = self._propose(swap_share)
            if move is None:
                continue
            undo, groups, facs = move
            idx = self._affected(groups, facs)
            saved_curves = {k: self.curve_cache[k] for k in list(self.curve_cache) if k[0] in groups}
            saved_tests = {k: self.test_cache[k] for k in list(self.test_cache) if k[0] in facs}
            saved_models = dict(self.model_cache)
            old_pen = self.penalties[idx].copy()
            self._refresh(groups, facs)
            new_pen = np.array([self._penalty(self.entries[k]) for k in idx])
            delta = float(new_pen.sum() - old_pen.sum())
            if delta <= 0 or self.rng.random() < np.exp(-delta / temp):
                self.penalties[idx] = new_pen
                current += delta
                if current < best[0]:
                    best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
            else:
                undo()
                self.curve_cache.update(saved_curves)
                self.test_cache.update(saved_tests)
                self.model_cache = saved_models
            if verbose and it % 250 == 0:
                print(f"  iteration {it}: objective {current:.1f} (best {best[0]:.1f}, T={temp:.3f})", flush=True)
        _, self.perm, self.fu, self.rel = best[0], best[1], best[2], best[3]
        self._refresh(range(len(self.groups)), self.factor_names)
        self.penalties = np.array([self._penalty(e) for e in self.entries])
        return self.objective()

    def result(self) -> pd.DataFrame:
        """Outcome table aligned to patients (records permuted, times moved)."""
        out = self.out.copy()
        out["followup_days"] = self.fu
        out["relapse_days"] = self.rel
        return out.iloc[self.perm].reset_index(drop=True)


#: Endpoints calibrated on their own after the core (whole-cohort cumulative incidences only),
#: with the endpoint each must nest in (grade 3-4 within grade 2-4, extensive within any cGVHD).
SECONDARY_ENDPOINTS = {
    "agvhd_2_4": None, "agvhd_3_4": "agvhd_2_4", "cgvhd": None, "cgvhd_extensive": "cgvhd",
    "cmv": None, "ebv": None, "ptld": "ebv", "tma": None, "platelet_engraftment": None,
}


def _competing_arrays(event_days: np.ndarray, fu: np.ndarray, dead: np.ndarray):
    """time/status of an event with death as competing risk (as the loader derives them)."""
    happened = ~np.isnan(event_days)
    return np.where(happened, event_days, fu), np.where(happened, 1, np.where(dead == 1, 2, 0))


def _secondary_ok(out: pd.DataFrame, i: int) -> bool:
    """Patient row ``i`` still respects nesting and cause-of-death facts."""
    r = out.iloc[i]
    fu = r["followup_days"]
    for col in EVENT_COLUMNS:
        if pd.notna(r[col]) and not (0 < r[col] <= fu):
            return False
    for later, earlier in (("agvhd_3_4_days", "agvhd_2_4_days"), ("cgvhd_extensive_days", "cgvhd_days"),
                           ("ptld_days", "ebv_days")):
        if pd.notna(r[later]) and not (pd.notna(r[earlier]) and r[earlier] <= r[later]):
            return False
    cause = str(r["cause_of_death"])
    if "GVHD" in cause and not ((pd.notna(r["agvhd_2_4_days"]) and r["agvhd_2_4_days"] < fu)
                                or (pd.notna(r["cgvhd_days"]) and r["cgvhd_days"] < fu)):
        return False
    if "TA-TMA" in cause and not (pd.notna(r["tma_days"]) and r["tma_days"] < fu):
        return False
    return True


def calibrate_secondary(out: pd.DataFrame, registry: pd.DataFrame, rng: np.random.Generator,
                        iterations: int = 1500) -> pd.DataFrame:
    """Anneal each secondary endpoint's event days against its whole-cohort incidences.

    Moves: shift one event day, or hand an event (its day) from one patient to another.
    Platelet engraftment only hands days between patients, so its printed median (range)
    stays exact. Follow-up, deaths and relapses are not touched.
    """
    out = out.copy()
    reg = registry.fillna("")
    if "duplicate_of" in reg:
        reg = reg[reg["duplicate_of"].astype(str) == ""]
    fu = out["followup_days"].to_numpy(float)
    dead = out["dead"].to_numpy(int)
    n = len(out)
    for ep in SECONDARY_ENDPOINTS:
        rows = reg[(reg["kind"] == "cif") & (reg["endpoint"] == ep) & (reg["factor"] == "")]
        if rows.empty:
            continue
        col = f"{ep}_days"
        targets = [(float(r.time_days), r.stat, float(r.value),
                    CONFLICT_WEIGHT if str(r.status) == "inconsistent" else 1.0) for r in rows.itertuples()]
        times = sorted({t for t, *_ in targets})

        def score(days):
            t, st = _competing_arrays(days, fu, dead)
            vals = _curve_values(ep, t, st, times)
            return sum(w * _entry_penalty("cif", stat, target, vals[(tt, stat)], "") for tt, stat, target, w in targets)

        days = out[col].to_numpy(float).copy()
        current = score(days)
        for it in range(iterations):
            temp = 1.0 * (0.01 ** (it / iterations))
            i, j = (int(x) for x in rng.integers(0, n, size=2))
            old_i, old_j = days[i], days[j]
            u = rng.random()
            parent = SECONDARY_ENDPOINTS[ep]
            if parent is not None and u >= 0.15 and u < 0.6:
                # relocate: the event leaves i and goes to j, shortly after j's parent event
                has, pdays = ~np.isnan(days), out[f"{parent}_days"].to_numpy(float)
                free = np.flatnonzero(~has & ~np.isnan(pdays))
                if not has.any() or free.size == 0:
                    continue
                i = int(rng.choice(np.flatnonzero(has)))
                j = int(rng.choice(free))
                old_i, old_j = days[i], days[j]
                days[i], days[j] = np.nan, pdays[j] + float(rng.integers(0, 15))
            elif ep != "platelet_engraftment" and u < 0.15:  # an event more or less
                have = days[~np.isnan(days)]
                if not np.isnan(old_i):
                    days[i] = np.nan
                elif parent is not None:  # nested: shortly after the patient's parent event
                    days[i] = out[f"{parent}_days"].iat[i] + float(rng.integers(0, 15))
                elif have.size:
                    days[i] = float(have[int(rng.integers(0, have.size))])
            elif ep == "platelet_engraftment" or u < 0.55:
                days[i], days[j] = old_j, old_i  # hand the event over (or swap two days)
            elif not np.isnan(old_i):
                days[i] = float(max(1.0, np.round(old_i * np.exp(rng.normal(0.0, 0.3)))))
            else:
                continue
            out.iloc[[i, j], out.columns.get_loc(col)] = [days[i], days[j]]
            if not (_secondary_ok(out, i) and _secondary_ok(out, j)):
                days[i], days[j] = old_i, old_j
                out.iloc[[i, j], out.columns.get_loc(col)] = [old_i, old_j]
                continue
            new = score(days)
            if new <= current or rng.random() < np.exp(-(new - current) / temp):
                current = new
            else:
                days[i], days[j] = old_i, old_j
                out.iloc[[i, j], out.columns.get_loc(col)] = [old_i, old_j]
    return out


#: The calibration schedule: annealing iterations of phase 1 (curves), phase 2 (+ Table 3
#: p-values), phase 3 (+ Table 4 models) and of each secondary endpoint; the objective's shape
#: (see :func:`_entry_penalty`); the share of time-swap moves among the non-swap moves.
CALIBRATION = {"iterations": (16000, 2400, 800, 3000), "shape": "squared", "time_swap_share": 0.0}

#: Start and end temperatures of the three phases, per objective shape.
TEMPERATURES = {"squared": ((2.0, 0.02), (1.0, 0.02), (0.5, 0.02)),
                "pass": ((0.5, 0.005), (0.25, 0.005), (0.12, 0.005))}


def calibrate_outcomes(base: pd.DataFrame, out: pd.DataFrame, seed: int, verbose: bool = False,
                       max_seconds: float = 240.0, iterations: tuple[int, ...] | None = None,
                       shape: str | None = None) -> pd.DataFrame:
    """Anneal the outcomes against the registry: first estimates only, then with the p-values.

    Deterministic: a fixed number of iterations per phase (:data:`CALIBRATION`), all
    randomness from ``seed``.
    """
    from hsct_analysis.paper import registry as published

    from hsct_analysis.paper.scorecard import audited

    iterations = tuple(iterations or CALIBRATION["iterations"])
    shape = shape or CALIBRATION["shape"]
    temps = TEMPERATURES[shape]
    registry = audited(published.load_registry())
    rng = np.random.default_rng([seed, 1])
    t0 = time.perf_counter()
    stage = out
    for phase, (tests, models, swap_share) in enumerate(((False, False, 0.55), (True, False, 0.9), (True, True, 0.9))):
        if phase >= len(iterations) - (1 if len(iterations) > 3 else 0) or not iterations[phase]:
            break
        cal = Calibrator(base, stage, registry, rng, with_tests=tests, with_models=models, shape=shape)
        cal.time_swap_share = CALIBRATION["time_swap_share"]
        if verbose:
            print(f"phase {phase + 1}: {len(cal.entries)} entries, start objective {cal.objective():.1f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        cal.run(iterations[phase], t_start=temps[phase][0], t_end=temps[phase][1], verbose=verbose,
                swap_share=swap_share)
        stage = cal.result()
    final = stage.copy()
    final.index = out.index
    fix_followup_median(final, DEFAULT_TARGETS["medians"]["followup_days"][0], rng)
    final = calibrate_secondary(final, registry, rng, iterations=iterations[3] if len(iterations) > 3 else 1500)
    if verbose:
        print(f"calibrated in {time.perf_counter() - t0:.0f} s", flush=True)
    return final


if __name__ == "__main__":
    sys.exit(main())
