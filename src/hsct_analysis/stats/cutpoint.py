"""Choosing a cut-point after looking at the data: maximally selected log-rank statistics.

A continuous covariate (say, days from one treatment to the next) is often split into two
groups at a cut chosen after seeing the data, perhaps after trying several. Testing the
best of many cuts with an ordinary log-rank p-value overstates the evidence. This module computes, for a continuous covariate ``x``:

- the standardized log-rank statistic at every candidate cut ``x <= c`` vs ``x > c``
  (cuts keep at least ``min_prop`` of patients on each side);
- the naive p-value of the best cut (as if that cut had been fixed in advance);
- the Lausen-Schumacher (1992) approximation of the p-value of the *maximum*;
- a permutation p-value of the maximum, to check the approximation;
- a bootstrap distribution of the selected cut.

The statistic is the linear rank statistic with log-rank scores,
``a_i = event_i - H(time_i)`` (``H`` the Nelson-Aalen cumulative hazard of the pooled
sample), standardized by its permutation variance, which is the form Lausen and
Schumacher analysed. Its square differs from the R ``survdiff`` chi-square only through
the variance estimate (hypergeometric vs permutation); the book's log-rank test
(``hsct_analysis.stats.survival.logrank``) is used to report the chosen cut's ordinary test.

Times are in days; ``x`` is in its own units (days for the CAR-T interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from hsct_analysis.stats.counting import NOTES_ATTR, as_event, as_times, complete_cases


@dataclass(frozen=True)
class CutpointResult:
    """Result of :func:`maximally_selected_logrank`.

    ``cut``: best cut (groups ``x <= cut`` vs ``x > cut``); ``statistic``: the maximum
    absolute standardized statistic; ``p_naive``: two-sided normal p-value of that
    statistic as if the cut were pre-specified; ``p_lausen``: Lausen-Schumacher (1992)
    approximate p-value of the maximum; ``p_permutation``: permutation p-value of the
    maximum (NaN when ``n_perm=0``); ``n_perm``; ``min_prop``; ``scan``: DataFrame
    indexed by candidate cut with columns ``n_low`` (patients with x <= cut),
    ``n_high``, ``statistic`` (signed: positive when the ``x > cut`` group has more
    events than expected); ``notes``: patients dropped for a missing value.
    """

    cut: float
    statistic: float
    p_naive: float
    p_lausen: float
    p_permutation: float
    n_perm: int
    min_prop: float
    scan: pd.DataFrame
    notes: list = field(default_factory=list)


def logrank_scores(time, event) -> np.ndarray:
    """Log-rank (Savage) scores ``event_i - H(time_i)`` for each patient.

    ``H`` is the Nelson-Aalen cumulative hazard of the pooled sample evaluated at the
    patient's own time (events at the same day counted together). The scores sum to 0.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=float)
    distinct, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=distinct.size)
    leaving = np.bincount(inverse, minlength=distinct.size)
    at_risk = leaving[::-1].cumsum()[::-1]
    cumulative_hazard = np.cumsum(deaths / at_risk)
    return event - cumulative_hazard[inverse]


def _candidate_cuts(x_sorted: np.ndarray, min_prop: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of sorted ``x`` usable as cuts and the group-low size at each."""
    n = x_sorted.size
    values = np.unique(x_sorted)
    n_low = np.searchsorted(x_sorted, values, side="right")  # patients with x <= value
    smallest = np.ceil(min_prop * n)
    keep = (n_low >= smallest) & (n - n_low >= smallest) & (n_low < n)
    return values[keep], n_low[keep]


def _standardized(cum_scores: np.ndarray, n_low: np.ndarray, n: int, sum_sq: np.ndarray) -> np.ndarray:
    """Standardized statistic of the ``x > cut`` group from cumulative low-group scores.

    ``cum_scores[..., j]`` is the score sum of the ``n_low[j]`` lowest-x patients;
    the high group's sum is its negative (scores sum to zero).
    """
    n_high = n - n_low
    variance = n_low * n_high / (n * (n - 1.0)) * sum_sq[..., None]
    return -cum_scores / np.sqrt(variance)


def scan_cuts(time, event, x, min_prop: float = 0.1) -> pd.DataFrame:
    """Standardized log-rank statistic at every admissible cut of ``x``.

    Returns a DataFrame indexed by cut (``x`` units) with ``n_low``, ``n_high`` and the
    signed ``statistic`` (``x > cut`` group vs the rest; ~N(0,1) under no effect).
    Patients with missing ``time``, ``event`` or ``x`` are dropped and noted in
    ``attrs["notes"]`` (the package's missing-value rule).
    """
    time, event, x, notes = _complete(time, event, x)
    order = np.argsort(x, kind="stable")
    scores = logrank_scores(time, event)[order]
    cuts, n_low = _candidate_cuts(x[order], min_prop)
    if cuts.size == 0:
        raise ValueError("no admissible cut: too few distinct values of x for min_prop")
    cum = np.cumsum(scores)[n_low - 1]
    stat = _standardized(cum, n_low, x.size, np.array(np.sum(scores**2)))
    out = pd.DataFrame(
        {"n_low": n_low, "n_high": x.size - n_low, "statistic": stat},
        index=pd.Index(cuts, name="cut"),
    )
    out.attrs[NOTES_ATTR] = notes
    return out


def _complete(time, event, x) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Complete cases (dropped ones noted), validated times (days) and 0/1 events, numeric x."""
    arrays, notes = complete_cases(time=time, event=event, x=x)
    t = as_times(arrays.get("time", []))
    d = as_event(arrays["event"], t.size).astype(float)
    try:
        xs = np.asarray(arrays["x"], dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError("x must be numbers (the covariate to cut)") from err
    return t, d, xs, notes


def lausen_schumacher_p(statistic, min_prop: float = 0.1):
    """Lausen-Schumacher (1992) approximate p-value of a maximally selected statistic.

    ``P(max |Z_c| >= b) ~ phi(b) (b - 1/b) log(e2 (1 - e1) / ((1 - e2) e1)) + 4 phi(b) / b``
    with ``e1 = min_prop``, ``e2 = 1 - min_prop`` and ``phi`` the standard normal density.
    The formula is an upper-tail approximation: for small ``b`` it is not monotone (and
    can even go negative), so the value returned is its supremum over ``b' >= b``, never
    below the naive two-sided p-value of ``b`` (the maximum over cuts is at least as
    extreme as one cut) and capped at 1. This makes the p-value non-increasing in the
    statistic and equal to the published formula wherever it is useful (b above about
    1.1 for ``min_prop=0.1``).
    """
    b = np.abs(np.asarray(statistic, dtype=float))
    log_term = np.log((1 - min_prop) ** 2 / min_prop**2)
    b_peak = _formula_peak(log_term)
    p = _lausen_formula(np.maximum(b, b_peak), log_term)
    p = np.minimum(1.0, np.maximum(p, 2 * stats.norm.sf(b)))
    return float(p) if p.ndim == 0 else p


def _lausen_formula(b: np.ndarray, log_term: float) -> np.ndarray:
    density = stats.norm.pdf(b)
    return density * (b - 1 / b) * log_term + 4 * density / b


def _formula_peak(log_term: float) -> float:
    """Largest ``b`` where the formula's derivative changes sign (0 if it never rises).

    d/db = phi(b) [ (L - 4)/b^2 + (2L - 4) - L b^2 ]; its positive root in b^2 solves
    L u^2 - (2L - 4) u - (L - 4) = 0.
    """
    L = log_term
    disc = (2 * L - 4) ** 2 + 4 * L * (L - 4)
    if L <= 0 or disc < 0:
        return 0.0
    u = ((2 * L - 4) + np.sqrt(disc)) / (2 * L)
    return float(np.sqrt(u)) if u > 0 else 0.0


def permutation_max(time, event, x, min_prop: float = 0.1, n_perm: int = 1000, seed: int = 0) -> np.ndarray:
    """Maximum absolute standardized statistic for ``n_perm`` random permutations of ``x``.

    Vectorised: each permutation reorders the log-rank scores against the sorted ``x``.
    """
    time, event, x, _ = _complete(time, event, x)
    order = np.argsort(x, kind="stable")
    _, n_low = _candidate_cuts(x[order], min_prop)
    scores = logrank_scores(time, event)
    rng = np.random.default_rng(seed)
    permuted = scores[rng.permuted(np.tile(np.arange(x.size), (n_perm, 1)), axis=1)]
    cum = np.cumsum(permuted, axis=1)[:, n_low - 1]
    stat = _standardized(cum, n_low, x.size, np.full(n_perm, np.sum(scores**2)))
    return np.abs(stat).max(axis=1)


def maximally_selected_logrank(time, event, x, min_prop: float = 0.1, n_perm: int = 0, seed: int = 0) -> CutpointResult:
    """The best cut of ``x`` for a log-rank comparison and honest p-values for it.

    ``time`` in days, ``event`` 0/1, ``x`` continuous (e.g. days from CAR-T to second
    HSCT). Cuts leave at least ``min_prop`` of patients in each group. ``n_perm > 0``
    adds a permutation p-value ``(1 + #{max_perm >= max_obs}) / (n_perm + 1)``.
    """
    scan = scan_cuts(time, event, x, min_prop)
    best = scan["statistic"].abs().idxmax()
    b = float(abs(scan.loc[best, "statistic"]))
    p_perm = np.nan
    if n_perm > 0:
        null_max = permutation_max(time, event, x, min_prop, n_perm, seed)
        p_perm = float((1 + np.sum(null_max >= b - 1e-12)) / (n_perm + 1))
    return CutpointResult(
        cut=float(best),
        statistic=b,
        p_naive=float(2 * stats.norm.sf(b)),
        p_lausen=lausen_schumacher_p(b, min_prop),
        p_permutation=p_perm,
        n_perm=int(n_perm),
        min_prop=float(min_prop),
        scan=scan,
        notes=list(scan.attrs.get(NOTES_ATTR, [])),
    )


def bootstrap_cutpoint(time, event, x, n_boot: int = 500, seed: int = 0, min_prop: float = 0.1) -> pd.Series:
    """Best cut re-selected in ``n_boot`` bootstrap resamples of the patients.

    Returns a Series (``x`` units, name ``cut``) indexed by resample number; a wide spread
    says the data do not pin the cut down.
    """
    time, event, x, notes = _complete(time, event, x)
    rng = np.random.default_rng(seed)
    cuts = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, x.size, x.size)
        scan = scan_cuts(time[idx], event[idx], x[idx], min_prop)
        cuts[i] = scan["statistic"].abs().idxmax()
    out = pd.Series(cuts, index=pd.RangeIndex(n_boot, name="resample"), name="cut")
    out.attrs[NOTES_ATTR] = notes
    return out


def statistic_for_p(p_value: float) -> float:
    """The |Z| whose two-sided normal p-value is ``p_value`` (e.g. 0.001 -> 3.29)."""
    return float(stats.norm.isf(p_value / 2))
