"""Kaplan-Meier survival, the log-rank test and reverse-KM follow-up.

Every function takes times in **days** (any non-negative number) and an event indicator
(1 = event, 0 = censored). Results are pandas objects indexed by time in days; survival
probabilities are proportions between 0 and 1, never percentages. Observations with a
missing value are dropped and the result says so in its notes (the package's one rule, see
:mod:`hsct_analysis.stats.counting`).

The numbers match R's ``survival`` package (version 3.5): ``survfit`` for the curve and its
confidence limits, ``survdiff`` (with ``strata`` and ``rho``) for the log-rank family of tests
and ``quantile.survfit`` for medians. ``tests/reference/make_reference.R`` writes the R results
the test-suite compares against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.stats.chisquare import SINGULAR_NOTE, ChiSquareTest, chi2_p_value, chi_square_statistic
from hsct_analysis.stats.counting import (
    COUNT_COLUMNS,
    KIND_ATTR,
    NOTES_ATTR,
    as_event,
    as_groups,
    as_times,
    by_stratum,
    complete_cases,
    curve_frame,
    distinct_times,
    tally,
    z_value,
)
from hsct_analysis.stats.docstrings import substitute

__all__ = [
    "kaplan_meier",
    "kaplan_meier_by",
    "logrank",
    "logrank_core",
    "LogRankResult",
    "median_followup",
    "FollowUp",
    "value_at",
    "CONF_TYPES",
]

#: Accepted ``conf_type`` values and the name R's ``survfit`` uses for each.
CONF_TYPES = {"arcsine": "arcsin", "log": "log", "log-log": "log-log", "plain": "plain"}


# ----------------------------------------------------------------------------- Kaplan-Meier
def survfit_limits(surv, se_log, z, conf_type):
    """Confidence limits exactly as R ``survival:::survfit_confint`` (logse=TRUE, ulimit=TRUE).

    ``se_log`` is the standard error of the cumulative hazard (= of log S), which is what
    R stores in ``survfit()$std.err``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "plain":
            half = se_log * surv * z
            lower, upper = np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        elif conf_type == "log":
            p = np.where(surv == 0, np.nan, surv)
            lower = np.exp(np.log(p) - z * se_log)
            upper = np.minimum(np.exp(np.log(p) + z * se_log), 1.0)
        elif conf_type == "log-log":
            p = np.where((surv == 0) | (surv == 1), np.nan, surv)
            half = z * se_log / np.log(p)
            lower = np.exp(-np.exp(np.log(-np.log(p)) - half))
            upper = np.exp(-np.exp(np.log(-np.log(p)) + half))
        elif conf_type == "arcsin":
            p = np.where(surv == 0, np.nan, surv)
            half = 0.5 * z * se_log * np.sqrt(p / (1 - p))
            angle = np.arcsin(np.sqrt(p))
            lower = np.sin(np.maximum(0.0, angle - half)) ** 2
            upper = np.sin(np.minimum(np.pi / 2, angle + half)) ** 2
            # R's pmax/pmin propagate NaN (0 * Inf when S = 1): keep them NaN.
            bad = np.isnan(half) | np.isnan(angle)
            lower, upper = np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)
        else:  # pragma: no cover - guarded by caller
            raise ValueError(conf_type)
    return lower, upper


def product_limit(at_risk, events) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier S(t) and Greenwood's SE of log S(t) from counts at each distinct time.

    Greenwood terms are Inf where everyone at risk has the event (S = 0 from there on).
    Works along the last axis, so a (groups x times) array gives one curve per group; a time
    without events multiplies by exactly 1 (the same numbers as without that time).
    """
    n, d = np.asarray(at_risk, float), np.asarray(events, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(d > 0, 1.0 - d / n, 1.0), axis=-1)
        greenwood_terms = np.where(d > 0, d / (n * (n - d)), 0.0)
    return surv, np.sqrt(np.cumsum(greenwood_terms, axis=-1))


def kaplan_meier(time, event, conf_type: str = "arcsine", conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate of the survival function with pointwise confidence limits.

    Equal to R ``survfit(Surv(time, event) ~ 1, conf.type = ...)``.

    Parameters
    ----------
    time : array-like of float
        Follow-up time in days (>= 0), one per patient.
    event : array-like of int
        1 = the event happened at ``time``, 0 = censored at ``time``.
    conf_type : {"arcsine", "log", "log-log", "plain"}
        Scale of the confidence interval, computed exactly as R ``survfit`` does with
        ``conf.type`` = "arcsin", "log" (R's default), "log-log" (lifelines' default) or
        "plain". The paper reports arcsine-square-root intervals, hence the default.
    conf_level : float
        Two-sided confidence level (0.95 = 95 %).

    Returns
    -------
    pandas.DataFrame
        Indexed by every distinct time (index name ``time``, days), with columns
        ``at_risk`` (patients still under observation just before that time), ``events``
        and ``censored`` (counts at that time), ``estimate`` (survival probability S(t),
        0-1), ``std_err`` (Greenwood standard error of S(t), R's ``std.err`` times S(t))
        and ``lower``, ``upper`` (confidence limits, clipped to [0, 1]). ``attrs`` holds
        ``conf_type``, ``conf_level`` and ``notes`` (observations dropped for a missing
        value).

    Notes
    -----
    NaN conventions (identical to R): once S(t) = 0 the standard error and both limits are
    NaN; the arcsine and log-log limits are NaN while S(t) = 1 (R's formulas divide 0 by 0
    there); the log and plain limits are 1 while S(t) = 1. If every patient is censored the
    estimate is 1 throughout and the standard error is 0.

    Examples
    --------
    >>> from hsct_analysis.stats import kaplan_meier
    >>> km = kaplan_meier([30, 60, 60, 200, 400], [1, 0, 1, 1, 0], conf_type="log")
    >>> km[["at_risk", "events", "estimate"]]
           at_risk  events  estimate
    time
    30.0         5       1       0.8
    60.0         4       1       0.6
    200.0        2       1       0.3
    400.0        1       0       0.3
    """
    if conf_type not in CONF_TYPES:
        raise ValueError(f"conf_type must be one of {sorted(CONF_TYPES)}, got {conf_type!r}")
    z = z_value(conf_level)
    arrays, notes = complete_cases(time=time, event=event)
    t = as_times(arrays.get("time", []))
    d = as_event(arrays["event"], t.size)
    times, at_risk, counts = tally(t, d, 2)
    events, censored = counts[:, 1], counts[:, 0]
    surv, se_log = product_limit(at_risk, events)
    lower, upper = survfit_limits(surv, se_log, z, CONF_TYPES[conf_type])
    with np.errstate(invalid="ignore"):
        std_err = np.where(surv == 0, np.nan, surv * se_log)
    columns = {
        "at_risk": at_risk,
        "events": events,
        "censored": censored,
        "estimate": surv,
        "std_err": std_err,
        "lower": lower,
        "upper": upper,
    }
    return curve_frame("survival", times, columns, notes, conf_type=conf_type, conf_level=conf_level)


@substitute()
def kaplan_meier_by(time, event, group, conf_type: str = "arcsine", conf_level: float = 0.95) -> dict:
    """One :func:`kaplan_meier` curve per group: ``{level: DataFrame}``.

    Equal to R ``survfit(Surv(time, event) ~ group)``, one stratum per level.

    Parameters
    ----------
    %(time_array)s
    %(event_array)s
    group : array-like
        Group labels; levels come out in sorted order (as R's ``factor`` sorts them).
    conf_type, conf_level
        As in :func:`kaplan_meier`.

    Returns
    -------
    dict
        ``{level: DataFrame}`` with the columns of :func:`kaplan_meier`. Observations with a
        missing value in any argument are dropped and noted in every curve's
        ``attrs["notes"]``.

    Examples
    --------
    >>> from hsct_analysis.stats import kaplan_meier_by
    >>> curves = kaplan_meier_by([5, 8, 12, 3, 9, 15], [1, 0, 1, 1, 1, 0], ["a", "a", "a", "b", "b", "b"])
    >>> list(curves)
    ['a', 'b']
    >>> curves["b"]["estimate"].round(3).tolist()
    [0.667, 0.333, 0.333]
    """
    arrays, notes = complete_cases(time=time, event=event, group=group)
    t = as_times(arrays.get("time", []))
    d = as_event(arrays["event"], t.size)
    cat = pd.Categorical(as_groups(arrays["group"], t.size))
    out = {}
    for i, level in enumerate(cat.categories):
        curve = kaplan_meier(t[cat.codes == i], d[cat.codes == i], conf_type=conf_type, conf_level=conf_level)
        curve.attrs[NOTES_ATTR] = list(notes)
        out[level] = curve
    return out


# ----------------------------------------------------------------------------- value_at
def value_at(curve: pd.DataFrame, t: float) -> pd.Series:
    """The curve at time ``t`` (days): the estimate and its interval of the last index <= t.

    Works for the output of :func:`kaplan_meier` and
    :func:`hsct_analysis.stats.competing.cumulative_incidence`, like R's
    ``summary(fit, times = t, extend = FALSE)``: ``at_risk`` is the number at risk at ``t``
    itself (R's ``n.risk``: patients whose time is >= t), and the counts (``events``,
    ``censored``, ``competing_events``) are those at ``t``, 0 between two times of the curve.

    Parameters
    ----------
    curve : pandas.DataFrame
        A curve indexed by time in days.
    t : float
        Time in days.

    Returns
    -------
    pandas.Series
        The curve's columns at ``t``, named ``t``. Before the first time in the curve: the
        value at time 0, i.e. estimate 1 (survival) or 0 (cumulative incidence) with a
        standard error / variance of 0, ``lower`` and ``upper`` NaN (no interval is estimated
        before the first observation), ``at_risk`` the number at risk at the first time and
        event counts 0. After the last time in the curve (the last follow-up): every column
        is NaN; the curve is never extrapolated beyond the data.

    Examples
    --------
    >>> from hsct_analysis.stats import kaplan_meier, value_at
    >>> km = kaplan_meier([30, 60, 60, 200, 400], [1, 0, 1, 1, 0])
    >>> round(float(value_at(km, 365)["estimate"]), 4)
    0.3
    >>> float(value_at(km, 10)["estimate"]), float(value_at(km, 500)["estimate"])
    (1.0, nan)
    """
    if curve.empty:
        raise ValueError("curve is empty")
    t = float(t)
    if np.isnan(t):
        raise ValueError("t is NaN")
    times = curve.index.to_numpy(dtype=float)
    if t > times[-1]:
        row = pd.Series(np.nan, index=curve.columns, dtype=float)
    elif t < times[0]:
        row = _time_zero_row(curve)
    else:
        pos = int(np.searchsorted(times, t, side="right")) - 1
        row = curve.iloc[pos].copy()
        if times[pos] < t:  # between two times of the curve: nobody leaves at t, those at risk are the next time's
            for col in COUNT_COLUMNS:
                if col in row.index:
                    row[col] = curve[col].iloc[pos + 1] if col == "at_risk" else 0
    row.name = t
    return row


def _time_zero_row(curve: pd.DataFrame) -> pd.Series:
    kind = curve.attrs.get(KIND_ATTR)
    if kind is None:  # attrs lost (e.g. after some pandas operations): infer from columns
        kind = "cumulative_incidence" if "variance" in curve.columns else "survival"
    start = 1.0 if kind == "survival" else 0.0
    row = pd.Series(np.nan, index=curve.columns, dtype=float)
    row["estimate"] = start
    for col in ("std_err", "variance", *COUNT_COLUMNS):
        if col in row.index:
            row[col] = float(curve["at_risk"].iloc[0]) if col == "at_risk" else 0.0
    return row


# ----------------------------------------------------------------------------- log-rank
@substitute()
@dataclass(frozen=True)
class LogRankResult(ChiSquareTest):
    """The log-rank (or Fleming-Harrington G-rho) test, as R ``survdiff``.

    ``statistic`` is R's ``chisq``; ``df`` is the number of groups with a positive expected
    count, minus 1 (with ``df`` 0 the statistic is 0 and the p-value NaN).

    Attributes
    ----------
    %(chisq_fields)s
    rho : float
        The weight exponent: each event time is weighted by S(t-)^rho (pooled Kaplan-Meier
        within stratum); 0 is the log-rank test, 1 the Peto-Peto (Gehan-Wilcoxon-type) test.
    table : pandas.DataFrame
        Indexed by group (sorted levels) with columns ``n``, ``observed`` and ``expected``
        (weighted by S(t-)^rho, summed over strata; R ``obs``/``exp`` row sums).
    variance : pandas.DataFrame
        Covariance matrix of observed - expected (R ``var``), groups x groups.
    strata : int
        Number of strata (1 when unstratified).
    notes : list of str
        What was done to the input (observations dropped for a missing value).
    """

    table: pd.DataFrame
    rho: float = 0.0
    variance: pd.DataFrame | None = None
    strata: int = 1
    notes: list = field(default_factory=list)

    @property
    def observed(self) -> pd.Series:
        """Observed (weighted) events per group."""
        return self.table["observed"]

    @property
    def expected(self) -> pd.Series:
        """Expected (weighted) events per group under equal hazards."""
        return self.table["expected"]


def _logrank_stratum(t, d, gi, k, rho):
    """Observed, expected and covariance of one stratum (R ``survdiff2``)."""
    times, inverse = distinct_times(t)
    cells = inverse * k + gi
    leaving = np.bincount(cells, minlength=times.size * k).reshape(times.size, k).astype(float)
    deaths = np.bincount(cells, weights=d, minlength=times.size * k).reshape(times.size, k)
    at_risk = np.bincount(gi, minlength=k)[None, :] - np.vstack([np.zeros((1, k)), np.cumsum(leaving, axis=0)[:-1]])
    n_tot = at_risk.sum(axis=1)
    d_tot = deaths.sum(axis=1)
    keep = d_tot > 0
    at_risk, deaths, n_tot, d_tot = at_risk[keep], deaths[keep], n_tot[keep], d_tot[keep]
    if rho != 0:  # pooled KM just before each event time, within the stratum
        km_before = np.cumprod(np.concatenate(([1.0], 1.0 - d_tot / n_tot)))[:-1]  # empty with no event
        weight = km_before**rho
    else:
        weight = np.ones(d_tot.size)
    share = at_risk / n_tot[:, None]
    expected = (weight * d_tot) @ share
    observed = weight @ deaths
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_tot > 1, weight**2 * d_tot * (n_tot - d_tot) / (n_tot - 1), 0.0)
    var = np.diag(factor @ share) - np.einsum("t,ti,tj->ij", factor, share, share)
    return observed, expected, var


def logrank_core(time, event, codes, n_groups: int, strata=None, rho: float = 0.0):
    """:func:`logrank` on clean arrays, for callers that test many times (no checks, no copies).

    ``time`` (days, float), ``event`` (0/1), ``codes`` (group of each observation, ints 0 ..
    ``n_groups`` - 1) and ``strata`` (optional int codes) are numpy arrays of one length with no
    missing value. Returns (observed, expected, covariance, statistic, df) as :func:`logrank`
    computes them (statistic NaN when the covariance is singular); its p-value is :func:`~hsct_analysis.stats.chisquare.chi2_p_value` (statistic, df).
    """
    k = n_groups
    observed, expected, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for t, e_, g in by_stratum(strata, time, event, codes):
        o, e, v = _logrank_stratum(t, e_, g, k, float(rho))
        observed, expected, var = observed + o, expected + e, var + v
    # as survdiff: groups with no expected events (all censored before the first event)
    # drop out of the statistic and of the degrees of freedom
    used = expected > 0
    df = int(used.sum()) - 1
    if df < 1:
        stat = 0.0
    else:
        diff = (observed - expected)[used][1:]
        stat = chi_square_statistic(diff, var[np.ix_(used, used)][1:, 1:])
    return observed, expected, var, stat, df


@substitute()
def logrank(time, event, group, strata=None, rho: float = 0.0) -> LogRankResult:
    """Log-rank test comparing survival between groups, equal to R ``survdiff``.

    Parameters
    ----------
    %(time_array)s
    %(event_array)s
    group : array-like
        Group labels (at least two distinct values; sorted as R's ``factor``).
    strata : array-like, optional
        Stratum labels: observed, expected and variance are computed within each stratum
        and summed (R ``survdiff(... + strata(s))``).
    rho : float
        Fleming-Harrington weight exponent: events at t are weighted by S(t-)^rho, S the
        Kaplan-Meier estimate of the pooled sample (within stratum). 0 (default) is the
        log-rank test, 1 the Peto-Peto modification of the Gehan-Wilcoxon test
        (R ``survdiff(rho = )``).

    Returns
    -------
    LogRankResult
        ``statistic`` (R ``chisq``), ``df``, ``p_value``, ``table`` (``n``, ``observed``,
        ``expected`` per group), ``variance`` and ``notes``.

    Notes
    -----
    Groups with no expected events are left out of the statistic and of ``df``, as in R; if
    fewer than two groups remain (e.g. no events at all) the statistic is 0, ``df`` is 0 and
    ``p_value`` is NaN. Where the remaining groups' covariance is singular (R's ``survdiff`` stops: "system is
    exactly singular") the statistic and ``p_value`` are NaN and the notes say why. Observations with a missing
    value are dropped and noted.

    Examples
    --------
    >>> from hsct_analysis.stats import logrank
    >>> time = [5, 8, 12, 20, 3, 4, 9, 15]
    >>> event = [1, 0, 1, 0, 1, 1, 1, 0]
    >>> group = ["a", "a", "a", "a", "b", "b", "b", "b"]
    >>> res = logrank(time, event, group)
    >>> round(res.statistic, 4), res.df, round(res.p_value, 4)
    (0.6883, 1, 0.4068)
    >>> res.table
           n  observed  expected
    group
    a      4       2.0  2.904762
    b      4       3.0  2.095238

    The Peto-Peto test (R ``survdiff(..., rho = 1)`` gives 1.1584):

    >>> round(logrank(time, event, group, rho=1).statistic, 4)
    1.1584
    """
    arrays, notes = complete_cases(time=time, event=event, group=group, strata=strata)
    t = as_times(arrays.get("time", []))
    d = as_event(arrays["event"], t.size)
    g = as_groups(arrays["group"], t.size)
    cat = pd.Categorical(g)  # levels sorted as R's factor() sorts them
    levels, gi = list(cat.categories), cat.codes.astype(np.int64)
    k = len(levels)
    if k < 2:
        raise ValueError("logrank needs at least two groups; only one group was given")
    if strata is None:
        sidx = np.zeros(t.size, dtype=np.int64)
    else:
        sidx = pd.Categorical(as_groups(arrays["strata"], t.size, name="strata")).codes.astype(np.int64)
    observed, expected, var, stat, df = logrank_core(t, d, gi, k, sidx, rho)
    p_value = chi2_p_value(stat, df)
    if np.isnan(stat):
        notes = [*notes, SINGULAR_NOTE]
    index = pd.Index(levels, name="group")
    table = pd.DataFrame({"n": np.bincount(gi, minlength=k), "observed": observed, "expected": expected}, index=index)
    variance = pd.DataFrame(var, index=index, columns=index)
    return LogRankResult(stat, df, p_value, table, float(rho), variance, int(np.unique(sidx).size), notes)


# ----------------------------------------------------------------------------- follow-up
@dataclass(frozen=True)
class FollowUp:
    """Median follow-up by the reverse Kaplan-Meier method (censoring is the 'event').

    All values in days. ``lower``/``upper`` are the 95 % limits of the median from the
    log-scale confidence band (R's default), NaN when the band never reaches 0.5.
    ``minimum``/``maximum`` are the shortest and longest follow-up time of all patients.
    """

    median: float
    lower: float
    upper: float
    minimum: float
    maximum: float


def _first_below_half(x: np.ndarray, y: np.ndarray) -> float:
    """First time at which the step curve y (survival-type) is at or below 0.5.

    Mirrors the rule of R's ``print.survfit`` / ``summary(fit)$table`` (``minmin`` inside
    ``survival:::survmean``): if the curve sits exactly on 0.5 at that time and drops
    below it later, the midpoint between the two times is returned. NaN when the curve
    never reaches 0.5 (NaN points of a confidence band are skipped).
    """
    tol = float(np.sqrt(np.finfo(float).eps))
    keep = ~np.isnan(y) & (y < 0.5 + tol)
    if not keep.any():
        return np.nan
    x, y = x[keep], y[keep]
    later_lower = np.flatnonzero(y < y[0])
    if abs(y[0] - 0.5) < tol and later_lower.size:
        return float((x[0] + x[later_lower[0]]) / 2)
    return float(x[0])


@substitute()
def median_followup(time, event) -> FollowUp:
    """Median follow-up (days) by reverse Kaplan-Meier.

    Equal to the median and 95 % CI that R prints for ``survfit(Surv(time, 1 - event) ~ 1)``
    (``summary(fit)$table``).

    Parameters
    ----------
    %(time_array)s
    event : array-like of int
        The usual event indicator (1 = death/event, 0 = censored); the function reverses it.

    Returns
    -------
    FollowUp
        ``median``, ``lower``, ``upper``, ``minimum``, ``maximum`` (days).

    Examples
    --------
    >>> from hsct_analysis.stats import median_followup
    >>> median_followup([100, 200, 300, 400, 500], [1, 0, 0, 1, 0]).median
    400.0
    """
    arrays, _ = complete_cases(time=time, event=event)
    t = as_times(arrays.get("time", []))
    d = as_event(arrays["event"], t.size)
    curve = kaplan_meier(t, 1 - d, conf_type="log")
    x = curve.index.to_numpy(dtype=float)
    med, lo, hi = (_first_below_half(x, curve[c].to_numpy()) for c in ("estimate", "lower", "upper"))
    return FollowUp(med, lo, hi, float(t.min()), float(t.max()))


def peto_hazard_ratio(result: LogRankResult, level) -> float:
    """Peto's log-rank hazard ratio of group ``level`` against the others: exp((O - E) / V).

    ``result`` is a two-group :func:`logrank` result; V, the variance of O - E, is recovered from the
    chi-square statistic (chi-square = (O - E)^2 / V). Returns NaN when no events were expected or the
    statistic is 0 and O - E is not (cannot happen for a log-rank result), and 1 when both are 0. An approximation of the Cox hazard ratio that is close
    when the ratio is near 1 (Berry, Kitchin & Mock 1991).
    """
    if len(result.table) != 2:
        raise ValueError(f"peto_hazard_ratio needs a two-group log-rank result, got {len(result.table)} groups")
    o_minus_e = float(result.observed[level] - result.expected[level])
    if not result.statistic > 0:
        return 1.0 if o_minus_e == 0 else float("nan")
    variance = o_minus_e**2 / result.statistic
    return float(np.exp(o_minus_e / variance))
