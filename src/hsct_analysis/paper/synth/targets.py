"""The generator's targets, read from the published-results registry (never typed twice).

:func:`targets_from_registry` turns the registry's printed counts, medians (ranges) and a few
incidences into the dictionary the draws use: ``counts`` (category -> number of patients),
``medians`` (median, minimum, maximum, threshold counts, decimals), ``after_second`` (DLI, MRD
and GVHD-death facts after the second HSCT) and ``incidence`` (whole-cohort cumulative
incidences that shape the first draw of each event; the calibration refines them).
:func:`scaled_targets` rescales the counts to another cohort size.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from hsct_analysis.cohort.contract import ENDPOINT_DAY_COLUMNS
from hsct_analysis.cohort.factors import FACTORS

DEFAULT_N = 95

#: Threshold counts of the drawn intervals: column -> the Table 3 factors that cut it ("<=t" levels).
THRESHOLD_FACTORS = {
    "age_second_hsct": ("age_group",),
    "days_first_to_second_hsct": ("first_to_second",),
    "days_cart_to_second_hsct": ("cart_interval_60", "cart_interval_90"),
    "days_first_hsct_to_relapse": ("relapse_timing",),
}
#: Columns drawn with one decimal (ages in years, cell doses, blast percentage); the rest are whole days/counts.
DECIMAL_UNITS = {"years", "x10^8/kg", "x10^6/kg", "%"}
#: Endpoint whose whole-cohort cumulative incidence at its last printed time shapes each event's first draw:
#: every event endpoint of the contract except neutrophil engraftment (all patients engraft; drawn from its median).
INCIDENCE_ENDPOINTS = tuple(name for name in ENDPOINT_DAY_COLUMNS if name != "neutrophil_engraftment")
#: Patients whose platelets engraft after day 60 in the first draw (a shape choice, not a printed number).
LATE_PLATELET = 2
#: The registry variables whose counts the draws use as they are (category -> n, in printed order).
COUNT_VARIABLES = {
    "sex": "sex",
    "fusion_gene": "fusion_gene",
    "first_hsct_donor": "first_hsct_donor",
    "mrd_before_first_hsct": "mrd_before_first_hsct",
    "status_before_first_hsct": "status_before_first_hsct",
    "abo_first": "abo_first",
    "relapse_site": "relapse_site",
    "cart_source": "cart_source",
    "cart_target": "cart_target",
    "hct_ci": "hct_ci",
    "donor_second": "donor_second",
    "abo_second": "abo_second",
    "gvhd_prophylaxis": "gvhd_prophylaxis",
    "atg_type": "atg_type",
}


def _canonical(registry):
    reg = registry.copy()
    for col in ("duplicate_of", "factor", "level", "variable", "category", "kind", "stat"):
        reg[col] = reg[col].fillna("").astype(str)
    return reg


def _counts(reg, variable, factor="", level=""):
    """{category: n} of one variable's count rows (first printing of each category, printed order)."""
    rows = reg[
        (reg["kind"] == "count") & (reg["variable"] == variable) & (reg["factor"] == factor) & (reg["level"] == level)
    ]
    out = {}
    for cat, v in zip(rows["category"], rows["value"]):
        out.setdefault(cat, int(v))
    if not out:
        raise KeyError(f"the registry has no counts of {variable!r}")
    return out


def _one(reg, **where):
    rows = reg
    for col, val in where.items():
        rows = rows[np.isclose(rows[col].astype(float), val)] if isinstance(val, float) else rows[rows[col] == val]
    values = set(rows["value"])
    if len(values) != 1:
        raise KeyError(f"no unique registry value for {where}: {sorted(values)}")
    return values.pop()


class RelapseBound(NamedTuple):
    """The numbers of :func:`relapse_bound` (percentages in percent, at 3 years)."""

    #: Patients of the cohort.
    patients: int
    #: The printed relapse incidence, and the relapses it suggests (rounded to patients).
    printed_ri: float
    printed_count: int
    #: The printed LFS less its tolerance: the lowest LFS within tolerance.
    lfs_floor: float
    #: The printed NRM interval, and the NRM both bounds within tolerance need (sqrt((lower - tol) (upper - tol))).
    nrm_lower: float
    nrm_upper: float
    nrm_floor: float
    #: The highest RI that leaves the NRM interval reachable: 100 - lfs_floor - nrm_floor.
    ri_ceiling: float
    #: The relapses of the synthetic cohort: the printed count, or fewer where the ceiling asks it.
    count: int


def relapse_bound(reg: pd.DataFrame, n: int | None = None) -> RelapseBound:
    """How many of ``n`` patients (default: the registry's enrolled count) relapse, all by 3 years: as many as the
    printed 3-year relapse incidence (RI) says, but no more than leave the printed 3-year NRM interval reachable with
    LFS within its tolerance.

    Three exact facts bound it. (1) With r relapses by t among n patients the Aalen-Johansen RI(t) is at least r / n:
    each relapse adds S(t-) / (at risk), and the Kaplan-Meier S(t-) is at least (at risk) / n (censoring only moves
    mass to later patients). (2) 1 - LFS = RI + NRM at every t. (3) NRM's interval is symmetric on the log scale, so
    lower x upper = NRM^2, and both printed bounds within tolerance need NRM >= sqrt((lower - tol) (upper - tol)).
    Hence RI <= 100 - (LFS - tol) - that, in percent. For the paper (LFS 49.8, NRM 33.9-56.2): RI <= 100 - 48.8 -
    41.58 = 9.62, so r <= 9, while the printed RI, 10.5% of 95, would make it 10 (RI >= 10.53, and the NRM interval
    out of reach on every such cohort). Nine relapses keep RI within its own tolerance (9.5 <= 9/95 plus what
    censoring adds)."""
    from hsct_analysis.paper.tolerances import BOUND_TOL_PP, ESTIMATE_TOL_PP

    reg = _canonical(reg)
    if n is None:
        n = int(_one(reg, kind="count", variable="patients", category="enrolled"))

    def at_3y(kind, endpoint, stat):
        return float(_one(reg, kind=kind, endpoint=endpoint, factor="", stat=stat, time_days=1095.75))

    printed_ri = at_3y("cif", "relapse", "value")
    printed = int(round(printed_ri * n / 100))
    lower, upper = at_3y("cif", "nrm", "lower"), at_3y("cif", "nrm", "upper")
    nrm_floor = float(np.sqrt((lower - BOUND_TOL_PP) * (upper - BOUND_TOL_PP)))
    lfs_floor = at_3y("km", "lfs", "value") - ESTIMATE_TOL_PP
    ri_ceiling = 100.0 - lfs_floor - nrm_floor
    count = min(printed, int(np.floor(ri_ceiling * n / 100 + 1e-9)))
    return RelapseBound(n, printed_ri, printed, lfs_floor, lower, upper, nrm_floor, ri_ceiling, count)


def relapses_by_three_years(reg: pd.DataFrame, n: int) -> int:
    """The relapses of a synthetic cohort of ``n`` patients (:func:`relapse_bound`)."""
    return relapse_bound(reg, n).count


def _median_range(reg, variable):
    rows = reg[(reg["variable"] == variable) & reg["kind"].isin(["median", "range"])]
    get = {s: float(v) for s, v in zip(rows["stat"], rows["value"])}
    unit = rows["unit"].iloc[0]
    return get["value"], get["min"], get["max"], unit


def targets_from_registry(registry: pd.DataFrame) -> dict:
    """The generator's targets for the paper's 95 patients, every number read from ``registry``."""
    reg = _canonical(registry)
    c = {key: _counts(reg, var) for key, var in COUNT_VARIABLES.items()}
    # (first, second) conditioning pairs; the unknown first regimens split so that the second-HSCT totals hold
    seq = _counts(reg, "conditioning_sequence")
    second = _counts(reg, "conditioning_second")
    pairs = {k.replace("-", "|"): v for k, v in seq.items() if k != "unknown"}
    for regimen in ("TBI", "Bu"):
        known = sum(v for k, v in pairs.items() if k.endswith(f"|{regimen}"))
        if second[regimen] > known:
            pairs[f"unknown|{regimen}"] = second[regimen] - known
    if sum(pairs.values()) != sum(second.values()):
        raise ValueError("conditioning sequences and second-HSCT regimens do not add up")
    c["conditioning_pair"] = pairs
    c["atg_type"] = {level: c["atg_type"][level] for level in FACTORS["atg_type"].levels}  # reference first
    c["graft_first_noncord"] = {k: v for k, v in _counts(reg, "graft_first").items() if k != "cord"}
    crs_yes = _counts(reg, "crs_after_cart")
    c["crs"] = {
        "yes": crs_yes["yes"],
        "no": int(_one(reg, kind="count", variable="crs", category="no")),
        "unknown": crs_yes["unknown"],
    }
    c["crs_grade_yes"] = _counts(reg, "crs_grade")
    c["icans_grade"] = _counts(reg, "icans_grade")
    mrd = _counts(reg, "mrd_before_second_hsct")
    pos = int(_one(reg, kind="count", variable="intensified_conditioning", factor="mrd_second", level="positive"))
    neg = int(_one(reg, kind="count", variable="intensified_conditioning", factor="mrd_second", level="negative"))
    c["mrd_second_intensified"] = {
        "positive|yes": pos,
        "positive|no": mrd["positive"] - pos,
        "negative|yes": neg,
        "negative|no": mrd["negative"] - neg,
    }
    c["gvhd_after_cart"] = _counts(reg, "gvhd_after_cart")
    c["mrd_positive_first"] = int(_one(reg, kind="count", variable="first_hsct_failure", category="MRD-positive first"))
    c["deaths"] = int(_one(reg, kind="count", variable="dead", category="1"))
    c["cause_of_death"] = _counts(reg, "deaths")
    n = int(_one(reg, kind="count", variable="patients", category="enrolled"))
    c["relapses"] = relapses_by_three_years(reg, n)
    medians = {}
    for variable in (
        "age_first_hsct",
        "age_second_hsct",
        "days_diagnosis_to_first_hsct",
        "days_diagnosis_to_second_hsct",
        "days_first_to_second_hsct",
        "days_cart_to_second_hsct",
        "days_relapse_to_cart",
        "days_first_hsct_to_mrd_positive",
        "days_first_hsct_to_relapse",
        "days_mrd_positive_to_relapse",
        "followup_days",
        "neutrophil_engraftment_days",
        "platelet_engraftment_days",
        "mnc_dose",
        "cd34_dose",
        "cd3_dose",
        "marrow_blasts_before_cart_pct",
        "n_cart_infusions",
    ):
        med, lo, hi, unit = _median_range(reg, variable)
        thresholds = []
        for f in THRESHOLD_FACTORS.get(variable, ()):
            level = next(lv for lv in _counts(reg, f) if lv.startswith("<="))
            thresholds.append((float(level[2:]), _counts(reg, f)[level]))
        if variable == "platelet_engraftment_days":  # engrafted by day 30 and 60, as patients
            for t in (30.0, 60.0):
                pct = _one(reg, kind="cif", endpoint="platelet_engraftment", factor="", stat="value", time_days=t)
                thresholds.append((t, int(round(pct * n / 100))))
        thresholds = [(int(t) if float(t).is_integer() else t, k) for t, k in thresholds]
        medians[variable] = (_int(med), _int(lo), _int(hi), thresholds, 1 if unit in DECIMAL_UNITS else 0)
    dli, dli_range = _counts(reg, "dli_reason"), _median_range(reg, "days_second_hsct_to_dli")
    mrd_after, mrd_range = (
        _counts(reg, "mrd_positive_after_second_treatment"),
        _median_range(reg, "days_second_hsct_to_mrd_positive"),
    )
    after = {
        "dli_reason": dli,
        "dli_days": tuple(_int(x) for x in dli_range[:3]),
        "mrd_treatment": mrd_after,
        "mrd_days": tuple(_int(x) for x in mrd_range[:3]),
        "gvhd_death_trigger": _counts(reg, "gvhd_death_trigger"),
    }
    incidence = {}
    for ep in INCIDENCE_ENDPOINTS:
        rows = reg[(reg["kind"] == "cif") & (reg["endpoint"] == ep) & (reg["factor"] == "") & (reg["stat"] == "value")]
        incidence[ep.removesuffix("_engraftment") if ep == "platelet_engraftment" else ep] = (
            float(rows.loc[rows["time_days"].idxmax(), "value"]) / 100
        )
    # engraftment after day 60 too (the printed maximum is 420 days): the 60-day count plus LATE_PLATELET
    incidence["platelet_engraftment"] = (medians["platelet_engraftment_days"][3][-1][1] + LATE_PLATELET) / n
    del incidence["platelet"]
    return {
        "counts": c,
        "medians": medians,
        "after_second": after,
        "incidence": incidence,
        "enrolment": enrolment_targets(reg),
    }


#: Why the paper's excluded patients were not enrolled: "Four patients were excluded because they did not achieve
#: remission after CAR-T therapy" (Results, Patient characteristics). The registry holds the count, not the words.
EXCLUSION_REASON = "no remission after CAR-T"


def enrolment_targets(reg: pd.DataFrame) -> dict:
    """The screening log's targets: patients ``screened``, and ``excluded`` (reason -> patients), from the registry's
    counts of the variable ``patients``."""
    counts = _counts(reg, "patients")
    return {"screened": counts["screened"], "excluded": {EXCLUSION_REASON: counts["excluded"]}}


def _int(x):
    return int(x) if float(x).is_integer() else float(x)


@lru_cache(maxsize=1)
def _paper_targets() -> dict:
    from hsct_analysis.paper import registry

    return targets_from_registry(registry.load_registry())


def paper_targets() -> dict:
    """The targets of the paper's 95 patients (a fresh copy, read once from the bundled registry)."""
    return copy.deepcopy(_paper_targets())


def largest_remainder(counts: dict[str, int], n: int) -> dict[str, int]:
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
    base = copy.deepcopy(targets or paper_targets())
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
                counts[key] = largest_remainder(value, n)
        else:
            counts[key] = int(round(value * n / DEFAULT_N))
    counts["crs_grade_yes"] = largest_remainder(base["counts"]["crs_grade_yes"], counts["crs"]["yes"])
    counts["cause_of_death"] = largest_remainder(base["counts"]["cause_of_death"], counts["deaths"])
    n_cord = counts["first_hsct_donor"]["cord"]
    counts["graft_first_noncord"] = largest_remainder(base["counts"]["graft_first_noncord"], n - n_cord)
    meds = base["medians"]
    for key, (med, lo, hi, thresholds, dec) in meds.items():
        m = _median_sample_size(key, counts, n)
        meds[key] = (
            med,
            lo,
            hi,
            [
                (t, int(round(c * m / _median_sample_size(key, paper_targets()["counts"], DEFAULT_N))))
                for t, c in thresholds
            ],
            dec,
        )
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
