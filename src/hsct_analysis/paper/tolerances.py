"""The scorecard's fixed tolerance rules, in one place.

The scorecard (:mod:`hsct_analysis.paper.scorecard`) judges every reproduced number with
these rules and the synthetic-cohort calibration (:mod:`hsct_analysis.paper.synth`) aims
at them, so changing a rule here changes both. Tolerances are FIXED, never tuned to a cohort:

- count: exact; percent: the reproduced percentage rounded to 1 decimal equals the printed one
- km / cif estimate: +-1.0 percentage point; CI bounds: +-2.0 percentage points
- median / range in days: +-1 day; in years or dose units: +-0.1 of the printed unit
- p: same side of 0.05 AND within a factor of 2 ("<0.001": reproduced below 0.001)
- hr: within a factor of 1.25; CI bounds within a factor of 1.33
"""

from __future__ import annotations

import math

import numpy as np

ESTIMATE_TOL_PP = 1.0
BOUND_TOL_PP = 2.0
DAYS_TOL = 1.0
UNIT_TOL = 0.1
P_FACTOR = 2.0
P_ALPHA = 0.05
HR_FACTOR = 1.25
HR_BOUND_FACTOR = 1.33


def round_half_up(x: float, decimals: int) -> float:
    """``x`` rounded to ``decimals`` with halves away from zero for positive numbers (as printed tables do)."""
    q = 10.0**decimals
    return math.floor(x * q + 0.5 + 1e-9) / q


def tolerance_text(kind: str, stat: str, unit: str) -> str:
    """The fixed tolerance rule of a registry row, in words."""
    if kind == "count":
        return "exact"
    if kind == "percent":
        return "equal after rounding to 1 decimal"
    if kind in ("km", "cif"):
        return f"+-{ESTIMATE_TOL_PP:g} pp" if stat == "value" else f"+-{BOUND_TOL_PP:g} pp"
    if kind in ("median", "range"):
        return f"+-{DAYS_TOL:g} day" if unit == "days" else f"+-{UNIT_TOL:g} {unit}"
    if kind == "p":
        return f"same side of {P_ALPHA:g} and within x{P_FACTOR:g}"
    if kind == "hr":
        return f"within x{HR_FACTOR:g}" if stat == "value" else f"within x{HR_BOUND_FACTOR:g}"
    return "unknown kind"


def absolute_tolerance(kind: str, stat: str, unit: str = "") -> float:
    """The allowed distance of an additive rule (km/cif in percentage points, median/range in its unit)."""
    if kind in ("km", "cif"):
        return ESTIMATE_TOL_PP if stat == "value" else BOUND_TOL_PP
    if kind in ("median", "range"):
        return DAYS_TOL if unit == "days" else UNIT_TOL
    raise ValueError(f"kind {kind!r} has no additive tolerance")


def ratio_tolerance(kind: str, stat: str = "value") -> float:
    """The allowed factor of a ratio rule (p: 2; hr estimate 1.25, hr bound 1.33)."""
    if kind == "p":
        return P_FACTOR
    if kind == "hr":
        return HR_FACTOR if stat == "value" else HR_BOUND_FACTOR
    raise ValueError(f"kind {kind!r} has no ratio tolerance")


def _ratio_within(pub: float, rep: float, factor_: float) -> bool:
    if pub <= 0 or rep <= 0 or not np.isfinite(rep):
        return False
    r = rep / pub
    return 1.0 / factor_ - 1e-12 <= r <= factor_ + 1e-12


def p_passes(pub: float, rep: float, printed: str = "") -> bool:
    """The p rule: "<x" printed -> reproduced below x; else same side of 0.05 and within a factor 2."""
    if str(printed).strip().startswith("<"):
        return rep < pub
    if (pub < P_ALPHA) != (rep < P_ALPHA):
        return False
    return _ratio_within(pub, rep, P_FACTOR)


def within_tolerance(kind: str, stat: str, unit: str, published: float, reproduced: float, printed: str = "") -> bool:
    """Whether ``reproduced`` meets the fixed tolerance for ``published`` (see the module docstring)."""
    if reproduced is None or published is None:
        return False
    try:
        pub, rep = float(published), float(reproduced)
    except (TypeError, ValueError):
        return False
    if math.isnan(pub) or math.isnan(rep):
        return False
    if kind == "count":
        return abs(rep - pub) < 1e-9
    if kind == "percent":
        return abs(round_half_up(rep, 1) - pub) < 1e-9
    if kind in ("km", "cif", "median", "range"):
        return abs(rep - pub) <= absolute_tolerance(kind, stat, unit) + 1e-9
    if kind == "p":
        return p_passes(pub, rep, printed)
    if kind == "hr":
        return _ratio_within(pub, rep, ratio_tolerance(kind, stat))
    return False


def scaled_miss(kind: str, stat: str, unit: str, published: float, reproduced: float, printed: str = "") -> float:
    """Distance of ``reproduced`` from ``published`` in units of the tolerance (inf when not computed).

    km/cif/median/range: |difference| / tolerance; p and hr: |log ratio| / log(factor); a p
    on the wrong side of 0.05 (or not below a printed "<x") is at least 1 + the distance to
    the threshold, so that every failing entry is above 1. count/percent: 0 when equal, else
    at least 1. An entry passes :func:`within_tolerance` exactly when this is <= 1 (up to the
    rules' 1e-9 slack).
    """
    try:
        pub, rep = float(published), float(reproduced)
    except (TypeError, ValueError):
        return math.inf
    if not (np.isfinite(pub) and np.isfinite(rep)):
        return math.inf
    if kind in ("km", "cif", "median", "range"):
        return abs(rep - pub) / absolute_tolerance(kind, stat, unit)
    if kind in ("p", "hr"):
        if pub <= 0 or rep <= 0:
            return math.inf
        x = abs(math.log(rep / pub)) / math.log(ratio_tolerance(kind, stat))
        if kind == "p":
            if str(printed).strip().startswith("<"):
                return 0.0 if rep < pub else 1.0 + max(x, 1e-6)  # equal to the bound fails
            if (pub < P_ALPHA) != (rep < P_ALPHA):
                return max(x, 1.0) + abs(math.log(rep / P_ALPHA)) / math.log(P_FACTOR)
        return x
    if kind == "count":
        return 0.0 if abs(rep - pub) < 1e-9 else max(abs(rep - pub), 1.0)
    if kind == "percent":
        return 0.0 if abs(round_half_up(rep, 1) - pub) < 1e-9 else max(abs(rep - pub) / 0.05, 1.0)
    return math.inf
