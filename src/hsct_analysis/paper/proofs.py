"""Proofs that a printed confidence bound cannot be met, beyond the identity 1 - LFS = RI + NRM.

Two arguments, each exact:

- **The log interval's geometry.** The paper's cumulative-incidence intervals are symmetric on
  the log scale: lower = F exp(-w) and upper = F exp(w), so lower x upper = F^2 on every
  cohort (while the upper bound is below 1). Where the identity confines F to an interval
  (:func:`hsct_analysis.paper.headline.identity_proofs`), a lower bound within tolerance
  forces the upper bound below F_max^2 / lower; if that is short of the printed upper bound's
  tolerance, the two bounds cannot both hold (:func:`interval_pair_proofs`).
- **Exhaustive search over a small group** (:func:`search_cif_bounds`). A group of n patients
  reaches a time t through a sequence of distinct times, each with some events of the cause,
  some of the competing causes and some censorings. Every such sequence is enumerated (ties and
  censoring included; events after t cannot change the estimate at t), the estimate and
  cmprsk's variance accumulated step by step as the library's own
  :func:`~hsct_analysis.stats.competing.cif_core` computes them (the same values to the last bit,
  ``tests/test_proofs.py``), the bounds by :func:`~hsct_analysis.stats.competing.cif_limits`, and
  the range of each bound over the
  sequences whose estimate is within tolerance reported. If the printed bound's tolerance
  interval misses that range, no cohort meets both (:func:`small_group_proofs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import norm

from hsct_analysis.paper.registry import group_size, lookup
from hsct_analysis.paper.tolerances import BOUND_TOL_PP, ESTIMATE_TOL_PP
from hsct_analysis.stats.competing import cif_limits, cinc_variance, cinc_variance_terms

#: Largest group searched exhaustively (n = 11 has about 2.2e5 sequences after pruning, searched in about 0.05 s).
MAX_SEARCH_N = 12
_SLACK = 1e-12


@dataclass(frozen=True)
class BoundRange:
    """Result of :func:`search_cif_bounds`: how many event sequences were enumerated, how many
    have the estimate within tolerance, and the range of the lower and upper bounds (percent)
    over those."""

    n: int
    estimate_pp: float
    tolerance_pp: float
    sequences: int
    within: int
    lower_min: float
    lower_max: float
    upper_min: float
    upper_max: float


def _step_options(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every step from ``r`` patients at risk: one censoring, then ``size`` events at one time (1 to r), ``d1`` of
    them of the cause (0 to size). Returns (size, d1, censoring) arrays, one entry per step."""
    steps = [(1, 0, True)] + [(size, d1, False) for size in range(1, r + 1) for d1 in range(size + 1)]
    size, d1, censoring = (np.array(column) for column in zip(*steps))
    return size.astype(float), d1.astype(float), censoring


_STATE = ("surv", "cif", "v1", "v2", "v3", "var")


def _reachable(n: int, low: float, high: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The Aalen-Johansen estimate and cmprsk's variance of every sequence of distinct times by which n patients
    can reach time t with F(t) in [low, high] (fractions), and the number of sequences visited.

    A sequence is built step by step (a censoring, or some events of the cause and of the competing causes at one
    time); each step lowers the number at risk, so the prefixes are expanded pool by pool, from n at risk down to
    0, all prefixes of a pool at once. Along a prefix the state is what
    :func:`~hsct_analysis.stats.competing.cif_core` accumulates over its steps: all-cause survival S, F, the three
    running sums of cmprsk's variance and the variance carried from the last time of the cause, updated in the
    same order of operations (so the values are the same to the last bit). F never decreases along a sequence and
    can rise by at most S from where it is, which prunes the rest. Every prefix with F >= low is a sequence: the
    patients still event-free at t need no further description."""
    pools: dict[int, dict[str, list[np.ndarray]]] = {r: {k: [] for k in _STATE} for r in range(n + 1)}
    for k, start in zip(_STATE, (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)):
        pools[n][k].append(np.array([start]))
    estimates, variances, visited = [], [], 0
    for r in range(n, -1, -1):
        if not pools[r]["surv"]:
            continue
        state = {k: np.concatenate(pools[r][k]) for k in _STATE}
        visited += state["surv"].size
        kept = state["cif"] >= low - _SLACK
        estimates.append(state["cif"][kept])
        variances.append(state["var"][kept])
        if r > 0:
            _expand(r, state, low, high, pools)
    return np.concatenate(estimates), np.concatenate(variances), visited


def _expand(r: int, state: dict[str, np.ndarray], low: float, high: float, pools) -> None:
    """Add to ``pools`` (by number at risk) every allowed one-step extension of the prefixes ``state`` (all with
    ``r`` at risk), with their updated state (:func:`_reachable`)."""
    size, d1, censoring = _step_options(r)
    surv, cif = state["surv"][:, None], state["cif"][:, None]
    after, rise = surv * (1 - size / r), cif + surv * d1 / r
    allowed = np.where(
        censoring,
        cif + (surv if r > 1 else 0.0) >= low - _SLACK,
        (rise <= high + _SLACK) & (rise + after >= low - _SLACK),
    )
    parent, step = np.nonzero(allowed)
    if parent.size == 0:
        return
    censored = censoring[step]
    s_before = state["surv"][parent]
    s_after = np.where(censored, s_before, after[parent, step])
    f = np.where(censored, state["cif"][parent], rise[parent, step])
    n1 = np.where(censored, 0.0, d1[step])
    n2 = np.where(censored, 0.0, size[step] - d1[step])
    dv1, dv2, dv3 = cinc_variance_terms(float(r), n1, n2, s_before, s_after, f)  # as cif_core adds them
    v1, v2, v3 = state["v1"][parent] + dv1, state["v2"][parent] + dv2, state["v3"][parent] + dv3
    var = np.where(n1 > 0, cinc_variance(v1, v2, v3, f), state["var"][parent])
    child = dict(surv=s_after, cif=f, v1=v1, v2=v2, v3=v3, var=var)
    at_risk = r - size[step].astype(int)
    for target in np.unique(at_risk):
        into = at_risk == target
        for k in _STATE:
            pools[int(target)][k].append(child[k][into])


@lru_cache(maxsize=64)  # its result is immutable
def search_cif_bounds(
    n: int, estimate_pp: float, tolerance_pp: float = ESTIMATE_TOL_PP, conf_level: float = 0.95
) -> BoundRange:
    """Range of the log-transformed CI bounds (percent) of a cumulative incidence over every way
    ``n`` patients can give an estimate within ``estimate_pp`` +- ``tolerance_pp`` (percent).

    Exhaustive: every sequence of event times, ties and censorings (see the module docstring).
    Patients still event-free at the time need no further description: what happens to them
    later does not change the estimate.
    """
    if n > MAX_SEARCH_N:
        raise ValueError(f"an exhaustive search is limited to groups of {MAX_SEARCH_N}, not {n}")
    low, high = (estimate_pp - tolerance_pp) / 100, (estimate_pp + tolerance_pp) / 100
    est, var, visited = _reachable(n, max(low, 0.0), high)
    keep = (est >= low - _SLACK) & (est <= high + _SLACK) & (est > 0)
    lower, upper = cif_limits(est[keep], var[keep], norm.ppf(0.5 + conf_level / 2), "log")
    nan = float("nan")
    return BoundRange(
        n=n,
        estimate_pp=estimate_pp,
        tolerance_pp=tolerance_pp,
        sequences=visited,
        within=int(keep.sum()),
        lower_min=100 * float(lower.min()) if keep.any() else nan,
        lower_max=100 * float(lower.max()) if keep.any() else nan,
        upper_min=100 * float(upper.min()) if keep.any() else nan,
        upper_max=100 * float(upper.max()) if keep.any() else nan,
    )


def small_group_proofs(registry: pd.DataFrame, ids=None, max_n: int = MAX_SEARCH_N) -> pd.DataFrame:
    """For each cumulative-incidence bound (of ``ids``, default all) in a Table 3 group of at
    most ``max_n`` (at most :data:`MAX_SEARCH_N`) patients: the exhaustive range of that bound among cohorts whose
    estimate is within tolerance, and a proof where the printed bound's tolerance misses it.
    Columns: id, n, sequences, within, reachable_low, reachable_high, proof ('' when reachable)."""
    reg = lookup(registry, canonical=True)
    bounds = reg[(reg["kind"] == "cif") & reg["stat"].isin(["lower", "upper"]) & (reg["factor"] != "")]
    if ids is not None:
        bounds = bounds[bounds["id"].isin(list(ids))]
    out = []
    for r in bounds.itertuples(index=False):
        try:
            n = int(group_size(registry, r.factor, r.level))
        except KeyError:  # the printed group sizes disagree (the audit's category_sum reports it): no search
            continue
        est = reg[(reg["id"] == r.id.rsplit(".", 1)[0] + ".est")]
        if n > min(max_n, MAX_SEARCH_N) or est.empty:
            continue
        found = search_cif_bounds(n, float(est["value"].iloc[0]))
        low, high = (found.lower_min, found.lower_max) if r.stat == "lower" else (found.upper_min, found.upper_max)
        printed = float(r.value)
        miss = max(low - printed, printed - high)
        proof = ""
        if miss > BOUND_TOL_PP + 1e-9:
            proof = (
                f"Exhaustive search over the {n} patients of the group: of {found.sequences:,} ways they can reach "
                f"{r.time_days / 365.25:g} years (every order of events, ties and censorings), {found.within:,} give "
                f"an estimate within {found.estimate_pp:g} ± {found.tolerance_pp:g}; with cmprsk's variance (the "
                f"book's; another variance can give other bounds), their {r.stat} bound "
                f"{f'is {low:.1f}' if low == high else f'lies between {low:.1f} and {high:.1f}'}, {miss:.1f} pp "
                f"from the printed {printed:g} (more than the "
                f"{BOUND_TOL_PP:g} pp allowed)."
            )
        out.append(
            {
                "id": r.id,
                "n": n,
                "sequences": found.sequences,
                "within": found.within,
                "reachable_low": round(low, 2),
                "reachable_high": round(high, 2),
                "proof": proof,
            }
        )
    return pd.DataFrame(out, columns=["id", "n", "sequences", "within", "reachable_low", "reachable_high", "proof"])


def _nrm_interval_pairs(registry: pd.DataFrame, identity: pd.DataFrame):
    """For each group and time where the identity confines NRM to [a, b] (``identity``: rows of
    :func:`~hsct_analysis.paper.headline.identity_proofs`) and the paper prints both bounds of its
    interval: (identity row, registry rows by stat, printed lower, printed upper)."""
    reg = lookup(registry, canonical=True)
    for g in identity.itertuples(index=False):
        rows = reg[
            (reg["kind"] == "cif")
            & (reg["endpoint"] == "nrm")
            & (reg["factor"] == g.factor)
            & (reg["level"] == g.level)
            & np.isclose(reg["time_days"], float(g.time_days))
        ].set_index("stat")
        if {"lower", "upper"} <= set(rows.index):
            yield g, rows, float(rows.loc["lower", "value"]), float(rows.loc["upper", "value"])


def interval_pair_proofs(registry: pd.DataFrame, identity: pd.DataFrame) -> pd.DataFrame:
    """Where the identity confines NRM to [a, b] (``identity``: the rows of
    :func:`~hsct_analysis.paper.headline.identity_proofs`), whether the printed lower and upper
    bounds of its log interval can both be within tolerance. Since lower x upper = F^2, a lower
    bound of at least L - tol leaves the upper bound at most b^2 / (L - tol). Columns: id (of the
    upper bound, the one this proof answers for), lower_id, upper_max, proof."""
    out = []
    for g, rows, lo, up in _nrm_interval_pairs(registry, identity):
        upper_max = g.nrm_reachable_high**2 / (lo - BOUND_TOL_PP)
        if upper_max >= up - BOUND_TOL_PP - 1e-9 or up >= 100:
            continue
        out.append(
            {
                "id": rows.loc["upper", "id"],
                "lower_id": rows.loc["lower", "id"],
                "upper_max": round(upper_max, 2),
                "proof": (
                    f"The interval is symmetric on the log scale, so lower × upper = NRM² on every cohort. With LFS "
                    f"and RI within tolerance, NRM is at most {g.nrm_reachable_high:.1f} (1 − LFS = RI + NRM), and a lower bound within tolerance is at least "
                    f"{lo - BOUND_TOL_PP:g}, so the upper bound is at most {g.nrm_reachable_high:.1f}² / "
                    f"{lo - BOUND_TOL_PP:g} = {upper_max:.1f}: {up - BOUND_TOL_PP - upper_max:.1f} pp short of the "
                    f"printed {up:g} − {BOUND_TOL_PP:g}. The printed bounds cannot both hold."
                ),
            }
        )
    return pd.DataFrame(out, columns=["id", "lower_id", "upper_max", "proof"])


def interval_pair_windows(registry: pd.DataFrame, identity: pd.DataFrame) -> pd.DataFrame:
    """The other side of :func:`interval_pair_proofs`: where both printed bounds of a confined NRM
    interval *can* hold, how narrow the way is. Both within tolerance need F^2 = lower x upper >=
    (L - tol)(U - tol), so NRM must reach sqrt((L - tol)(U - tol)) inside the identity's ceiling b.
    Columns: lower_id, upper_id, nrm_needed, nrm_max, window (pp, = nrm_max - nrm_needed),
    half_width_needed, half_width_max, note (a sentence saying that nothing is proven, and what the
    bounds need).

    The window has a second condition, on the interval's width. Its half-width on the log scale,
    h = z SE / F = ln(upper / F), must be at least ln((U - tol) / F) for the upper bound to hold and at
    most ln(F / (L - tol)) for the lower. At the ceiling F = b that is ``half_width_needed`` <= h <=
    ``half_width_max`` (no unit). F ln(c / F) falls with F above c / e and F ln(F / c) rises, so the
    standard errors b h / z (pp) at those two limits bound it wherever in the window NRM lands.

    Where :func:`interval_pair_proofs` proves the pair impossible, the lower bound alone may still
    hold: lower = F exp(-z SE / F), so at the ceiling b it needs a standard error of at most
    b ln(b / (L - tol)) / z (z of a 95% interval). Such a row has no upper_id and says so."""
    z = float(norm.ppf(0.975))
    out = []
    for g, rows, lo, up in _nrm_interval_pairs(registry, identity):
        needed = float(np.sqrt((lo - BOUND_TOL_PP) * (up - BOUND_TOL_PP)))
        ceiling = float(g.nrm_reachable_high)
        if needed > ceiling + 1e-9:  # interval_pair_proofs proves the pair impossible: the lower bound alone
            se_max = ceiling * float(np.log(ceiling / (lo - BOUND_TOL_PP))) / z
            out.append(
                {
                    "lower_id": rows.loc["lower", "id"],
                    "upper_id": "",
                    "nrm_needed": round(lo - BOUND_TOL_PP, 2),
                    "nrm_max": round(ceiling, 2),
                    "window": round(ceiling - (lo - BOUND_TOL_PP), 2),
                    "half_width_needed": np.nan,
                    "half_width_max": np.nan,
                    "note": (
                        f"Not proven unreachable. The upper bound cannot hold with this one (its proof is in its "
                        f"row), but alone the lower bound can: lower = NRM · exp(−{z:.2f} · SE / NRM), so at the "
                        f"identity's ceiling of {ceiling:.1f} it needs a standard error of at most "
                        f"{ceiling:.1f} · ln({ceiling:.1f} / {lo - BOUND_TOL_PP:g}) / {z:.2f} = {se_max:.2f} pp, "
                        f"with NRM pushed to that ceiling. The calibration has not found such a cohort."
                    ),
                }
            )
            continue
        half_width = float(np.log((up - BOUND_TOL_PP) / ceiling))
        half_width_max = float(np.log(ceiling / (lo - BOUND_TOL_PP)))
        out.append(
            {
                "lower_id": rows.loc["lower", "id"],
                "upper_id": rows.loc["upper", "id"],
                "nrm_needed": round(needed, 2),
                "nrm_max": round(ceiling, 2),
                "window": round(ceiling - needed, 2),
                "half_width_needed": round(half_width, 3),
                "half_width_max": round(half_width_max, 3),
                "note": (
                    f"Not proven unreachable. Lower × upper = NRM² on every cohort, so both bounds within tolerance "
                    f"need NRM ≥ √({lo - BOUND_TOL_PP:g} × {up - BOUND_TOL_PP:g}) = {needed:.2f}. The identity lets "
                    f"NRM reach {ceiling:.1f} only with LFS and RI at the bottom of their tolerance: a window of "
                    f"{ceiling - needed:.2f} pp, which the calibration has not found. The interval's width is held "
                    f"too: upper = NRM · exp(h) and lower = NRM · exp(−h), with h = {z:.2f} · SE / NRM its "
                    f"half-width on the log scale, so even at the ceiling ln({up - BOUND_TOL_PP:g} / {ceiling:.1f}) = "
                    f"{half_width:.3f} ≤ h ≤ ln({ceiling:.1f} / {lo - BOUND_TOL_PP:g}) = {half_width_max:.3f}: a "
                    f"standard error between {ceiling * half_width / z:.2f} and {ceiling * half_width_max / z:.2f} pp."
                ),
            }
        )
    columns = ["lower_id", "upper_id", "nrm_needed", "nrm_max", "window", "half_width_needed", "half_width_max", "note"]
    return pd.DataFrame(out, columns=columns)
