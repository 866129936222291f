"""Competing risks: cumulative incidence (Aalen-Johansen) and Gray's test.

Status codes are integers: by default 0 = censored, any other code = the cause of the event
(for example 1 = relapse, 2 = death without relapse). Data coded otherwise name their
censoring code with ``cencode``, as R ``cmprsk`` does: MASS ``Melanoma`` (1 = died of
melanoma, 2 = alive, 3 = died of other causes) needs ``cencode=2``. Times are in **days**.
Cumulative incidences are proportions between 0 and 1. Observations with a missing value
are dropped and noted (the package's one rule, see :mod:`hsct_analysis.stats.counting`).

The estimates and (by default) the variances equal R ``cmprsk::cuminc`` (version 2.2-11)
and the test equals ``cuminc(...)$Tests``. The code is an independent, vectorised
implementation of the formulas in Gray (1988), Ann. Stat. 16:1141-1154, checked number for
number against R by ``tests/test_competing.py``. A second variance,
``cumulative_incidence(..., variance="survfit")``, equals R ``survival::survfit``'s
multi-state (Aalen-Johansen) standard error, the infinitesimal jackknife (survival 3.5-3).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.stats.chisquare import SINGULAR_NOTE, ChiSquareTest, chi2_p_value, chi_square_statistic
from hsct_analysis.stats.counting import (
    NOTES_ATTR,
    as_codes,
    as_groups,
    as_times,
    by_stratum,
    cause_codes,
    check_cause,
    complete_cases,
    curve_frame,
    distinct_times,
    tally,
    z_value,
)
from hsct_analysis.stats.docstrings import substitute

__all__ = [
    "cumulative_incidence",
    "cumulative_incidence_by",
    "gray_test",
    "gray_core",
    "GrayTestResult",
    "CIF_CONF_TYPES",
    "CIF_VARIANCES",
]

#: Accepted ``conf_type`` values for cumulative incidence.
CIF_CONF_TYPES = ("log", "log-log", "arcsine", "plain")

#: Accepted ``variance`` values for cumulative incidence: Gray's (R cmprsk::cuminc) and the
#: infinitesimal jackknife of R survival::survfit's multi-state curve.
CIF_VARIANCES = ("cmprsk", "survfit")


def _no_censoring_warning(codes, cencode, name="status"):
    """Warn when no observation carries the censoring code: often a mis-coded ``cencode``."""
    if codes.size and not np.any(codes == cencode) and np.unique(codes).size > 2:
        warnings.warn(
            f"no {name} equals cencode={cencode}, so every observation is an event; if censoring is "
            f"coded otherwise (codes present: {sorted(np.unique(codes).tolist())}), pass cencode=",
            UserWarning,
            stacklevel=3,
        )


def _status_input(time, status, cause, cencode, **more):
    """Complete cases, validated times and codes 0 (censored) / 1 (cause) / 2 (other)."""
    cause, cencode = check_cause(cause, cencode)
    arrays, notes = complete_cases(time=time, status=status, **more)
    t = as_times(arrays.get("time", []))
    codes = as_codes(arrays["status"], t.size)
    _no_censoring_warning(codes, cencode)
    return t, cause_codes(codes, cause, cencode), cause, cencode, arrays, notes


# ----------------------------------------------------------------------------- CIF
def cif_limits(cif, var, z, conf_type):
    """Pointwise limits of a cumulative incidence F with variance var; NaN where F = 0."""
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(cif > 0, cif, np.nan)
        if conf_type == "log":  # exp(log F -+ z se / F)
            lower = f * np.exp(-z * se / f)
            upper = np.minimum(f * np.exp(z * se / f), 1.0)
        elif conf_type == "log-log":  # F ** exp(-+ z se / (F log F)), cmprsk-style
            f = np.where(f < 1, f, np.nan)
            k = z * se / (f * np.log(f))
            lower, upper = f ** np.exp(-k), f ** np.exp(k)
        elif conf_type == "arcsine":
            half = z * se / (2 * np.sqrt(f * (1 - f)))
            angle = np.arcsin(np.sqrt(f))
            lower = np.sin(np.maximum(0.0, angle - half)) ** 2
            upper = np.sin(np.minimum(np.pi / 2, angle + half)) ** 2
            bad = np.isnan(half)
            lower, upper = np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)
        else:  # plain
            lower = np.maximum(f - z * se, 0.0)
            upper = np.minimum(f + z * se, 1.0)
    return lower, upper


def cinc_variance_terms(at_risk, n_cause, n_other, surv_before, surv_after, cif):
    """The three increments of cmprsk's variance sums (Gray's ``cinc``) at one time, element by element.

    ``at_risk``: the number at risk just before the time; ``n_cause``, ``n_other``: its events of the cause and of
    the other causes; ``surv_before``, ``surv_after``: the all-cause Kaplan-Meier survival just before and after
    it; ``cif``: the cumulative incidence of the cause just after it. Arrays broadcast together. Returns
    (dv1, dv2, dv3): added up over the times so far into v1, v2, v3, they give the variance at a time of the cause
    (:func:`cinc_variance`). :func:`cif_core` sums them along a curve; an enumeration of event sequences can add
    them step by step and get the same values to the last bit."""
    rs = at_risk
    with np.errstate(divide="ignore", invalid="ignore"):

        def weight(d):  # fk^2 * (tie correction) * d / rs^2
            ties = np.where(d > 1, 1.0 - (d - 1.0) / (rs - 1.0), 1.0)
            return np.where(d > 0, surv_before**2 * ties * d / rs**2, 0.0)

        inv_after = np.where(surv_after > 0, 1.0 / surv_after, 0.0)
        w2 = np.where(surv_after > 0, weight(n_other), 0.0)
        h2 = cif * inv_after  # F(t) / S(t)
        w1 = weight(n_cause)
        h1 = 1.0 + inv_after * cif
        return (
            h2 * h2 * w2 + h1 * h1 * w1,
            inv_after * h2 * w2 + inv_after * h1 * w1,
            inv_after**2 * w2 + inv_after**2 * w1,
        )


def cinc_variance(v1, v2, v3, cif):
    """cmprsk's variance of the cumulative incidence ``cif`` from the running sums v1, v2, v3 of
    :func:`cinc_variance_terms` (at a time of the cause; carried forward in between)."""
    return v1 + cif**2 * v3 - 2 * cif * v2


def cif_core(at_risk, n_cause, n_other):
    """Aalen-Johansen estimate and cmprsk's delta-method variance at each distinct time.

    Inputs are per distinct time (sorted): number at risk just before, events of the cause
    of interest, events of all other causes. The variance follows Gray's ``cinc`` routine:
    it is updated at the times of the cause of interest and carried forward in between.
    Works along the last axis, so (groups x times) arrays give one curve per group.
    """
    rs = np.asarray(at_risk, float)
    d1, d2 = np.asarray(n_cause, float), np.asarray(n_other, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv_after = np.cumprod(np.where(rs > 0, 1.0 - (d1 + d2) / rs, 1.0), axis=-1)
        ones = np.ones(surv_after.shape[:-1] + (1,))
        surv_before = np.concatenate((ones, surv_after[..., :-1]), axis=-1)  # all-cause KM at t-
        cif = np.cumsum(np.where(d1 > 0, surv_before * d1 / rs, 0.0), axis=-1)

        dv1, dv2, dv3 = cinc_variance_terms(rs, d1, d2, surv_before, surv_after, cif)
        v1, v2, v3 = (np.cumsum(dv, axis=-1) for dv in (dv1, dv2, dv3))
    var_now = cinc_variance(v1, v2, v3, cif)
    # carried forward from the last time of the cause (0 before the first one)
    last = np.maximum.accumulate(np.where(d1 > 0, np.arange(d1.shape[-1]), -1), axis=-1)
    var = np.where(last >= 0, np.take_along_axis(var_now, np.maximum(last, 0), axis=-1), 0.0)
    return cif, var


def _jackknife_pieces(at_risk, n_cause, n_all, cif):
    """Per distinct time: running sums A1, B, C, g = -A1 + F B - C, q = 1 / (Y - d) and S(s-) / Y.

    See :func:`_cif_survfit_variance` for what they are.
    """
    y = at_risk.astype(float)
    d, dk = n_all.astype(float), n_cause.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv_before = np.concatenate(([1.0], np.cumprod(np.where(y > 0, 1.0 - d / y, 1.0))[:-1]))
        a1 = np.cumsum(np.where(dk > 0, surv_before * dk / y**2, 0.0))
        q = np.where(y > d, 1.0 / (y - d), 0.0)  # 0 where everyone left fails: F is final then
        b_step = np.where(d > 0, d * q / y, 0.0)
        jump = np.where(y > 0, surv_before / y, 0.0)
    b = np.cumsum(b_step)
    c = np.cumsum(cif * b_step)
    return a1, b, c, -a1 + cif * b - c, q, jump


def _cif_survfit_variance(entry, is_cause, is_event, at_risk, n_cause, n_all, cif):
    """Infinitesimal-jackknife variance of the Aalen-Johansen F(t), as R ``survfit`` (multi-state).

    The variance is sum_i U_i(t)^2, where U_i(t) = dF(t)/dw_i is the derivative of F(t)
    with respect to subject i's case weight at w = 1. With Y(s) at risk, d(s) events of any
    cause, d_k(s) of the cause, S(s-) the all-cause KM before s and dA = d/Y, dA_k = d_k/Y:

        F(t)   = sum_{s<=t} S(s-) dA_k(s)
        U_i(t) = sum_{s<=t} S(s-) [dN_ik(s) - Y_i(s) dA_k(s)] / Y(s)
                 - sum_{u<=t} h_i(u) [F(t) - F(u)],
        h_i(u) = [dN_i(u) - Y_i(u) dA(u)] / [Y(u) - d(u)]   (0 where everyone left fails),

    the second sum being the derivative of S(s-) = prod_{u<s} (1 - dA(u)). A subject still
    at risk after t has U_i(t) = g(t) = -A1(t) + F(t) B(t) - C(t), with running sums
    A1 = sum S(s-) d_k / Y^2, B = sum d / (Y (Y - d)), C = sum F d / (Y (Y - d)). A subject
    whose time has index a <= t has U_i(t) = alpha_i - F(t) beta_i, with
    alpha_i = [cause] S(a-)/Y(a) - A1(a) + [event] F(a)/(Y(a) - d(a)) - C(a) and
    beta_i = [event] / (Y(a) - d(a)) - B(a). Hence
    sum_i U_i(t)^2 = (still at risk) g^2 + sum alpha^2 - 2 F sum alpha beta + F^2 sum beta^2,
    the sums running over subjects gone by t: O(n log n) in all. Without censoring this is
    F (1 - F) / n.

    ``entry``: each subject's index into the distinct times; ``is_cause``/``is_event``:
    subject's event is of the cause / of any cause; the rest are per distinct time.
    """
    a1, b, c, g, q, jump = _jackknife_pieces(at_risk, n_cause, n_all, cif)
    alpha = (np.where(is_cause, jump[entry], 0.0) - a1[entry]
             + np.where(is_event, cif[entry] * q[entry], 0.0) - c[entry])  # fmt: skip
    beta = np.where(is_event, q[entry], 0.0) - b[entry]
    n_times = at_risk.size
    s_aa = np.cumsum(np.bincount(entry, alpha * alpha, n_times))
    s_ab = np.cumsum(np.bincount(entry, alpha * beta, n_times))
    s_bb = np.cumsum(np.bincount(entry, beta * beta, n_times))
    still_at_risk = entry.size - np.cumsum(np.bincount(entry, minlength=n_times))
    var = still_at_risk * g**2 + s_aa - 2 * cif * s_ab + cif**2 * s_bb
    return np.maximum(var, 0.0)


def cumulative_incidence(
    time,
    status,
    cause: int = 1,
    *,
    cencode: int = 0,
    conf_type: str = "log",
    conf_level: float = 0.95,
    variance: str = "cmprsk",
) -> pd.DataFrame:
    """Cumulative incidence of one cause in the presence of competing causes.

    Equal to R ``cmprsk::cuminc(time, status, cencode = cencode)`` for ``cause``.

    Parameters
    ----------
    time : array-like of float
        Time to the first event or censoring, in days (>= 0).
    status : array-like of int
        Integer codes: ``cencode`` = censored, any other code = cause of the event. Any
        number of causes.
    cause : int
        The cause whose cumulative incidence is estimated.
    cencode : int
        The code of a censored observation (R ``cencode``), 0 by default. A warning is given
        when no observation has it and there are more than two codes (a likely mis-coding).
    conf_type : {"log", "log-log", "arcsine", "plain"}
        Confidence-interval scale. "log" (default, the paper's "symmetric on the log
        scale") is exp(log F +- z sqrt(var) / F); "log-log" is
        F ** exp(+- z sqrt(var) / (F log F)); "arcsine" is
        asin(sqrt F) +- z sqrt(var) / (2 sqrt(F (1 - F))) back-transformed; "plain" is
        F +- z sqrt(var). Limits are clipped to [0, 1].
    conf_level : float
        Two-sided confidence level (0.95 = 95 %).
    variance : {"cmprsk", "survfit"}
        Which variance of F(t) to report and build the limits on.
        "cmprsk" (default): Gray's (1988) delta-method variance, as R
        ``cmprsk::cuminc(time, status)$"1 k"$var``; it changes only at times of the cause.
        "survfit": R ``survival``'s Aalen-Johansen with its default infinitesimal-jackknife
        standard error, ``survfit(Surv(time, factor(status, levels = 0:K)) ~ 1)``, whose
        ``std.err`` for the cause's state is the SE of the probability in that state
        (variance = std.err^2); with ``conf_type="log"`` the limits then equal survfit's
        ``lower``/``upper``. Without censoring it is F (1 - F) / n (binomial); it changes
        at every event time, of any cause, and at censoring times between them.

    Returns
    -------
    pandas.DataFrame
        Indexed by every distinct time (index name ``time``, days), with columns
        ``at_risk`` (patients event-free and under observation just before that time),
        ``events`` (events of ``cause`` at that time), ``competing_events`` (events of other
        causes), ``censored``, ``estimate`` (Aalen-Johansen cumulative incidence F(t), 0-1),
        ``variance`` (variance of F(t): with ``variance="cmprsk"``, ``cmprsk::cuminc``'s
        delta-method formula, which changes only at times of the cause of interest; with
        ``variance="survfit"``, the infinitesimal jackknife) and ``lower``, ``upper``
        (confidence limits). ``attrs`` holds ``cause``, ``cencode``, ``conf_type``,
        ``conf_level``, ``variance`` and ``notes``.

    Notes
    -----
    Where F(t) = 0 (before the first event of the cause, or always if there is none, e.g.
    when everyone is censored) the limits are NaN; with the "log-log" and "arcsine" scales
    they are NaN at F(t) = 1 too. The standard error is ``sqrt(variance)``.

    Examples
    --------
    >>> from hsct_analysis.stats import cumulative_incidence
    >>> time = [2, 3, 5, 6, 8, 9, 11, 14]
    >>> status = [1, 0, 2, 1, 1, 2, 0, 1]
    >>> cif = cumulative_incidence(time, status, cause=1)
    >>> cif["estimate"].round(4).tolist()
    [0.125, 0.125, 0.125, 0.2708, 0.4167, 0.4167, 0.4167, 0.7083]

    Data whose censoring code is not 0, e.g. 2 = alive as in MASS ``Melanoma``:

    >>> recoded = [{0: 2, 1: 1, 2: 3}[s] for s in status]
    >>> float(cumulative_incidence(time, recoded, cause=1, cencode=2)["estimate"].iloc[-1].round(4))
    0.7083
    """
    if conf_type not in CIF_CONF_TYPES:
        raise ValueError(f"conf_type must be one of {list(CIF_CONF_TYPES)}, got {conf_type!r}")
    if variance not in CIF_VARIANCES:
        raise ValueError(f"variance must be one of {list(CIF_VARIANCES)}, got {variance!r}")
    z = z_value(conf_level)
    t, code3, cause, cencode, _, notes = _status_input(time, status, cause, cencode)
    times, at_risk, counts = tally(t, code3, 3)
    n_cause, n_other = counts[:, 1], counts[:, 2]
    cif, var = cif_core(at_risk, n_cause, n_other)
    if variance == "survfit":
        entry = np.searchsorted(times, t)
        var = _cif_survfit_variance(entry, code3 == 1, code3 > 0, at_risk, n_cause, n_cause + n_other, cif)
    lower, upper = cif_limits(cif, var, z, conf_type)
    columns = {
        "at_risk": at_risk,
        "events": n_cause,
        "competing_events": n_other,
        "censored": counts[:, 0],
        "estimate": cif,
        "variance": var,
        "lower": lower,
        "upper": upper,
    }
    return curve_frame(
        "cumulative_incidence",
        times,
        columns,
        notes,
        cause=cause,
        cencode=cencode,
        conf_type=conf_type,
        conf_level=conf_level,
        variance=variance,
    )


def cumulative_incidence_by(time, status, group, cause: int = 1, *, cencode: int = 0, **options) -> dict:
    """One :func:`cumulative_incidence` curve per group level: ``{level: DataFrame}``.

    Equal to R ``cmprsk::cuminc(time, status, group, cencode = cencode)``.

    Parameters
    ----------
    time, status, cause, cencode
        As in :func:`cumulative_incidence`.
    group : array-like
        Group labels; levels come out in sorted order (as R's ``factor`` sorts them).
    **options
        ``conf_type``, ``conf_level``, ``variance``: passed to :func:`cumulative_incidence`
        for every curve (same defaults).

    Returns
    -------
    dict
        ``{level: DataFrame}`` with the columns of :func:`cumulative_incidence`.
        Observations with a missing value in any argument are dropped and noted in every
        curve's ``attrs["notes"]``.

    Examples
    --------
    >>> from hsct_analysis.stats import cumulative_incidence_by
    >>> curves = cumulative_incidence_by([2, 3, 5, 6, 8, 9], [1, 0, 2, 1, 1, 2], ["a", "b", "a", "b", "a", "b"])
    >>> {level: float(round(c["estimate"].iloc[-1], 4)) for level, c in curves.items()}
    {'a': 0.6667, 'b': 0.5}
    """
    t, code3, cause, cencode, arrays, notes = _status_input(time, status, cause, cencode, group=group)
    cat = pd.Categorical(as_groups(arrays["group"], t.size))
    out = {}
    for i, level in enumerate(cat.categories):
        # the codes are already 0 = censored, 1 = cause, 2 = other
        curve = cumulative_incidence(t[cat.codes == i], code3[cat.codes == i], 1, cencode=0, **options)
        curve.attrs.update(cause=cause, cencode=cencode)
        curve.attrs[NOTES_ATTR] = list(notes)
        out[level] = curve
    return out


# ----------------------------------------------------------------------------- Gray's test
@substitute()
@dataclass(frozen=True)
class GrayTestResult(ChiSquareTest):
    """Gray's K-sample test for equality of cumulative incidence curves.

    ``statistic`` is R's ``cuminc(...)$Tests[, "stat"]`` on ``df`` = groups - 1 degrees of
    freedom; it is NaN when the variance matrix is singular (R reports -1 then), e.g. when
    the cause never occurs. Singular means what cuminc means: not of full rank by R's ``qr()``
    (:func:`~hsct_analysis.stats.chisquare.qr_rank`, tolerance 1e-7).

    Attributes
    ----------
    %(chisq_fields)s
    cause : int
    rho : float
    groups : tuple
        The group levels in sorted order.
    score : numpy.ndarray
        Score of every group but the last.
    variance : numpy.ndarray
        Covariance matrix of ``score``.
    cencode : int
        The censoring code used.
    notes : list of str
        What was done to the input (observations dropped for a missing value).
    """

    cause: int
    rho: float
    groups: tuple
    score: np.ndarray
    variance: np.ndarray
    cencode: int = 0
    notes: list = field(default_factory=list)


def _per_time_counts(time, code3, gidx, n_groups):
    """Distinct times and counts d[t, m, g] of status m (0 cens., 1 cause, 2 other) by group."""
    times, inverse = distinct_times(time)
    flat = (inverse * 3 + code3) * n_groups + gidx
    d = np.bincount(flat, minlength=times.size * 3 * n_groups).reshape(times.size, 3, n_groups)
    return times, d.astype(float)


def _shifted(x: np.ndarray, first: float) -> np.ndarray:
    """``x`` one row down along the first axis, ``first`` in the new first row: the value just before each time
    of a running product or sum (``np.vstack([first row, x[:-1]])`` without the stacking, for ``x`` of at least one row)."""
    out = np.empty_like(x)
    out[:1] = first
    out[1:] = x[:-1]
    return out


def _gray_stratum(time, code3, gidx, n_groups, rho):
    """Score vector and covariance (groups 1..G-1) within one stratum (Gray 1988, sec. 2-3).

    Everything is computed per distinct event time with cumulative sums over time, so the
    cost is O(n log n + T * G^3) for T distinct event times and G groups.
    """
    G = n_groups
    _, d = _per_time_counts(time, code3, gidx, G)
    leaving = d[:, 0, :] + d[:, 1, :] + d[:, 2, :]  # whole numbers: exact in any order
    size = np.bincount(gidx, minlength=G).astype(float)
    rs_all = size[None, :] - _shifted(np.cumsum(leaving, axis=0), 0.0)
    d1, d2 = d[:, 1, :], d[:, 2, :]
    has_event = (d1 + d2).sum(axis=1) > 0
    rs, d1, d2 = rs_all[has_event], d1[has_event], d2[has_event]
    nd1 = d1.sum(axis=1)
    live = rs > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # group-wise all-cause KM (after / before t) and cumulative incidence before t
        skm = np.cumprod(np.where(live, (rs - d1 - d2) / rs, 1.0), axis=0)
        skmm = _shifted(skm, 1.0)
        f1 = np.cumsum(np.where(live, skmm * d1 / rs, 0.0), axis=0)
        f1m = _shifted(f1, 0.0)
        h = np.where(live, rs / skmm, 0.0)  # the paper's h_r
        tr = h.sum(axis=1)
        risk = np.where(live, rs * (1 - f1m) / skmm, 0.0)  # the paper's R_r
        tq = risk.sum(axis=1)
        f = np.cumsum(nd1 / tr)  # pooled cumulative incidence after t
        fm = _shifted(f, 0.0)
        fb = (1 - fm) ** rho
        # a[t] = fb (diag(h) - h h' / tr); c = running sum of a * nd1 / (tr (1 - fm))
        a = fb[:, None, None] * (h[:, :, None] * np.eye(G)[None] - h[:, :, None] * h[:, None, :] / tr[:, None, None])
        c = np.cumsum(a * (nd1 / (tr * (1 - fm)))[:, None, None], axis=0)
        score = (fb[:, None] * (d1 - nd1[:, None] * risk / tq[:, None])).sum(axis=0)[: G - 1]

        # variance: contributions of events of the cause of interest
        t4 = np.where(skm > 0, 1 - (1 - f[:, None]) / skm, 1.0)
        ties = np.where(nd1[:, None] > 1, 1 - (nd1[:, None] - 1) / (tr[:, None] * skmm - 1), 1.0)
        t3 = np.where(live & (nd1[:, None] > 0), ties * skmm * nd1[:, None] / (tr[:, None] * rs), 0.0)
        b = a[:, : G - 1, :] - t4[:, None, :] * c[:, : G - 1, :]
        v = np.einsum("tik,tk,tjk->ij", b, t3, b)
        v2 = np.einsum("tik,tk->ik", b, t4 * t3)
        v3 = (t4 * t4 * t3).sum(axis=0)

        # contributions of competing events
        other = (skm > 0) & (d2 > 0)
        u4 = np.where(other, (1 - f[:, None]) / skm, 0.0)
        ties2 = np.where(d2 > 1, 1 - (d2 - 1) / (rs - 1), 1.0)
        u3 = np.where(other, ties2 * skmm**2 * d2 / rs**2, 0.0)
        b2 = u4[:, None, :] * c[:, : G - 1, :]
        v += np.einsum("tik,tk,tjk->ij", b2, u3, b2)
        v2 -= np.einsum("tik,tk->ik", b2, u4 * u3)
        v3 += (u4 * u4 * u3).sum(axis=0)

    c_end = c[-1, : G - 1, :] if c.shape[0] else np.zeros((G - 1, G))
    v += (c_end * v3[None, :]) @ c_end.T + c_end @ v2.T + v2 @ c_end.T
    return score, v


def gray_core(time, code3, codes, n_groups: int, strata=None, rho: float = 0.0):
    """:func:`gray_test` on clean arrays, for callers that test many times (no checks, no copies).

    ``time`` (days, float), ``code3`` (0 censored, 1 the cause compared, 2 any competing event),
    ``codes`` (group of each observation, ints 0 .. ``n_groups`` - 1) and ``strata`` (optional int
    codes) are numpy arrays of one length with no missing value. Returns (score, covariance,
    statistic) as :func:`gray_test` computes them (statistic NaN when the covariance is singular);
    the p-value is :func:`~hsct_analysis.stats.chisquare.chi2_p_value` (statistic, ``n_groups`` - 1).
    """
    score = np.zeros(n_groups - 1)
    var = np.zeros((n_groups - 1, n_groups - 1))
    for t, c3, g in by_stratum(strata, time, code3, codes):
        sc, v = _gray_stratum(t, c3, g, n_groups, float(rho))
        score += sc
        var += v
    return score, var, chi_square_statistic(score, var, rule="qr")  # cmprsk's rank rule


def gray_test(
    time, status, group, cause: int = 1, rho: float = 0.0, strata=None, *, cencode: int = 0
) -> GrayTestResult:
    """Gray's test that the cumulative incidence of ``cause`` is equal across groups.

    Equal to ``cmprsk::cuminc(time, status, group, strata, rho, cencode)$Tests`` for that cause.

    Parameters
    ----------
    time : array-like of float
        Days to the first event or censoring.
    status : array-like of int
        ``cencode`` = censored, any other code = cause. Every cause other than ``cause`` is
        a competing event.
    group : array-like
        Group labels (at least two distinct values).
    cause : int
        Cause whose cumulative incidence is compared.
    rho : float
        Power of the weight (1 - F(t-))^rho; 0 (default) is the log-rank-type test.
    strata : array-like, optional
        Stratum labels: scores and variances are computed within strata and summed.
    cencode : int
        The code of a censored observation (R ``cencode``), 0 by default.

    Returns
    -------
    GrayTestResult

    Examples
    --------
    >>> from hsct_analysis.stats import gray_test
    >>> time = [2, 3, 5, 6, 8, 9, 11, 14, 4, 7]
    >>> status = [1, 0, 2, 1, 1, 2, 0, 1, 2, 0]
    >>> group = ["a", "b", "a", "b", "a", "b", "a", "b", "a", "b"]
    >>> res = gray_test(time, status, group, cause=1)
    >>> round(res.statistic, 4), res.df, round(res.p_value, 4)
    (0.1412, 1, 0.7071)

    (R ``cuminc(time, status, group)$Tests`` gives 0.1411553 and 0.7071352 for cause 1.)
    """
    t, code3, cause, cencode, arrays, notes = _status_input(time, status, cause, cencode, group=group, strata=strata)
    g = as_groups(arrays["group"], t.size)
    cat = pd.Categorical(g)
    n_groups = len(cat.categories)
    if n_groups < 2:
        raise ValueError("gray_test needs at least two groups; only one group was given")
    gidx = cat.codes.astype(np.int64)
    sidx = None if strata is None else pd.Categorical(as_groups(arrays["strata"], t.size, name="strata")).codes
    score, var, stat = gray_core(t, code3, gidx, n_groups, sidx, rho)
    df = n_groups - 1
    p = chi2_p_value(stat, df)
    if np.isnan(stat):
        notes = [*notes, SINGULAR_NOTE]
    return GrayTestResult(stat, df, p, cause, float(rho), tuple(cat.categories), score, var, cencode, notes)
