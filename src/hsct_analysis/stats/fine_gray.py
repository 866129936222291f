"""Fine-Gray proportional subdistribution hazards regression, equal to R ``cmprsk::crr``.

The model (Fine & Gray 1999) regresses the cumulative incidence of one cause on covariates.
Patients who failed from a competing cause stay in the risk set after their failure with
weight G(t-)/G(T_i-), where G is the Kaplan-Meier estimate of the censoring distribution
(every failure, of any cause, counts as "not censored"). Ties are handled as in ``crr``
(Breslow). The standard errors are ``crr``'s sandwich estimate, which includes the extra
variance from estimating G; it is not the naive inverse information.

Speed: ``crr`` loops over all pairs of patients (O(n^2) per Newton step). Here every
risk-set sum, the score, the information and the sandwich terms are sorted cumulative sums,
so a fit costs one sort plus O(n p^2) per Newton iteration.

Times are in days; cumulative incidences are proportions (0-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hsct_analysis.stats.design import Design
from hsct_analysis.stats.docstrings import substitute
from hsct_analysis.stats.regression import RegressionOptions, RegressionResult

__all__ = [
    "fine_gray",
    "fine_gray_estimates",
    "censoring_km_before",
    "detect_separation",
    "levels_without_events",
    "diverging",
]

_EPS = np.finfo(float).eps
#: Coefficients whose size exceeds this, with a z statistic below 1, are taken as diverging.
DIVERGENCE_COEF = 8.0


# --------------------------------------------------------------------------- data layout


@dataclass
class _Sorted:
    """Data sorted by time, with the quantities that do not depend on the coefficients."""

    time: np.ndarray  # days, ascending
    x: np.ndarray  # centred covariates, n x p
    cause: np.ndarray  # 1 = cause of interest, 2 = competing cause, 0 = censored
    g_minus: np.ndarray  # censoring KM just before each patient's time, G(T_i-)
    fail_times: np.ndarray  # distinct times of the cause of interest (days)
    fail_counts: np.ndarray  # failures of the cause at each of those times
    fail_first: np.ndarray  # first sorted index with time >= each failure time
    fail_g: np.ndarray  # G(t-) at each failure time
    x_mean: np.ndarray  # the centring constants (original scale)


def censoring_km_before(time: np.ndarray, censored: np.ndarray) -> np.ndarray:
    """Kaplan-Meier estimate of the censoring distribution just before each ``time``.

    A censoring counts as the event; failures of any cause count as censorings. Evaluated
    as ``crr`` does, at ``time * (1 - 100 eps)`` on the step function, i.e. G(t-).
    """
    order = np.argsort(time, kind="stable")
    t = time[order]
    c = censored[order].astype(float)
    knots, first = np.unique(t, return_index=True)
    at_risk = len(t) - first
    n_cens = np.add.reduceat(c, first)
    surv = np.cumprod(1.0 - n_cens / at_risk)
    where = np.searchsorted(knots, time * (1.0 - 100 * _EPS), side="right") - 1
    return np.where(where >= 0, surv[np.maximum(where, 0)], 1.0)


def _prepare(design: Design, cause: int) -> _Sorted:
    """Sort the design by time and precompute the coefficient-free quantities."""
    order = np.argsort(design.time, kind="stable")
    time = design.time[order]
    status = design.status[order]
    x = design.x[order]
    x_mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    code = np.where(status == cause, 1, np.where(status == 0, 0, 2))
    g_minus = censoring_km_before(time, status == 0)
    fail_times, fail_counts = np.unique(time[code == 1], return_counts=True)
    fail_first = np.searchsorted(time, fail_times, side="left")
    return _Sorted(
        time=time,
        x=x - x_mean,
        cause=code,
        g_minus=g_minus,
        fail_times=fail_times,
        fail_counts=fail_counts.astype(float),
        fail_first=fail_first,
        fail_g=g_minus[fail_first],
        x_mean=x_mean,
    )


# --------------------------------------------------------------------------- risk sets


def _suffix(a: np.ndarray) -> np.ndarray:
    """Sums over indices >= i, with one extra zero row at the end."""
    out = np.zeros((len(a) + 1,) + a.shape[1:])
    out[:-1] = np.cumsum(a[::-1], axis=0)[::-1]
    return out


def _prefix(a: np.ndarray) -> np.ndarray:
    """Sums over indices < i (exclusive prefix sums), length n + 1."""
    out = np.zeros((len(a) + 1,) + a.shape[1:])
    out[1:] = np.cumsum(a, axis=0)
    return out


def _linear_predictor(s: _Sorted, b: np.ndarray) -> tuple[np.ndarray, float]:
    """exp(x b - shift) and the shift (the maximum of x b), to avoid overflow."""
    eta = s.x @ b
    shift = float(eta.max()) if len(eta) else 0.0
    return np.exp(eta - shift), shift


def _risk_weights(s: _Sorted, r: np.ndarray) -> np.ndarray:
    """Weights of competing-cause failures after their failure, before the G(t-) factor."""
    return np.where(s.cause == 2, r / s.g_minus, 0.0)


def _risk_sum(s: _Sorted, r: np.ndarray, w2: np.ndarray, values: np.ndarray | None) -> np.ndarray:
    """Weighted sums over the Fine-Gray risk set at each failure time of the cause.

    Patients still under observation count with weight r; competing-cause failures
    before t count with weight r G(t-)/G(T_i-). ``values`` (n x ...) are multiplied in.
    """
    if values is None:
        a, b = r, w2
    else:
        shape = (-1,) + (1,) * (values.ndim - 1)
        a, b = r.reshape(shape) * values, w2.reshape(shape) * values
    at_risk = _suffix(a)[s.fail_first]
    after_competing = _prefix(b)[s.fail_first]
    g = s.fail_g.reshape((-1,) + (1,) * (at_risk.ndim - 1))
    return at_risk + g * after_competing


def _neg_loglik(s: _Sorted, b: np.ndarray) -> float:
    """Minus the log pseudo-partial likelihood at ``b``."""
    r, shift = _linear_predictor(s, b)
    s0 = _risk_sum(s, r, _risk_weights(s, r), None)
    events = s.x[s.cause == 1] @ b
    return float(-events.sum() + np.sum(s.fail_counts * (np.log(s0) + shift)))


def _derivatives(s: _Sorted, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Minus the log likelihood, its gradient and its Hessian (the information) at ``b``."""
    r, shift = _linear_predictor(s, b)
    w2 = _risk_weights(s, r)
    s0 = _risk_sum(s, r, w2, None)
    s1 = _risk_sum(s, r, w2, s.x)
    s2 = _risk_sum(s, r, w2, np.einsum("ij,ik->ijk", s.x, s.x))
    x_bar = s1 / s0[:, None]
    d = s.fail_counts
    events = s.x[s.cause == 1]
    neg_loglik = float(-(events @ b).sum() + np.sum(d * (np.log(s0) + shift)))
    score = -events.sum(axis=0) + d @ x_bar
    cov = s2 / s0[:, None, None] - np.einsum("kj,kl->kjl", x_bar, x_bar)
    information = np.einsum("k,kjl->jl", d, cov)
    return neg_loglik, score, information


# --------------------------------------------------------------------------- fitting


@dataclass
class _Fit:
    b: np.ndarray
    neg_loglik: float
    information: np.ndarray
    converged: bool
    iterations: int


def _newton(s: _Sorted, p: int, gtol: float, max_iter: int) -> _Fit:
    """Newton-Raphson with step halving, as ``crr`` does, with its convergence rule.

    Converged when max |score_j| max(|b_j|, 1) < max(|loglik|, 1) * gtol.
    """
    b = np.zeros(p)
    for iteration in range(max_iter + 1):
        f, g, h = _derivatives(s, b)
        if np.max(np.abs(g) * np.maximum(np.abs(b), 1.0), initial=0.0) < max(abs(f), 1.0) * gtol:
            return _Fit(b, f, h, True, iteration)
        if iteration == max_iter:
            break
        try:
            step = -np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(h, g, rcond=None)[0]
        for _ in range(31):
            f_new = _neg_loglik(s, b + step)
            # Armijo, or a change within rounding of f: near the optimum the predicted decrease
            # falls below the precision of f, and halving further would stop short of it
            noise = 64 * _EPS * max(abs(f), 1.0)
            if np.isfinite(f_new) and (f_new <= f + 1e-4 * float(step @ g) or abs(f_new - f) <= noise):
                break
            step = step * 0.5
        else:
            return _Fit(b, f, h, False, iteration)
        if np.max(np.abs(step), initial=0.0) < 1e-13 * max(1.0, np.max(np.abs(b), initial=0.0)):
            b = b + step
            f, g, h = _derivatives(s, b)
            return _Fit(b, f, h, True, iteration + 1)
        b = b + step
    return _Fit(b, f, h, False, max_iter)


def _score_residuals(s: _Sorted, b: np.ndarray) -> np.ndarray:
    """Each patient's contribution to the score with the censoring correction (n x p).

    eta_i is the usual Fine-Gray score residual; psi_i adds the influence of the patient
    on the Kaplan-Meier estimate of the censoring distribution (Fine & Gray 1999, sec. 3).
    Their outer products summed give the middle of ``crr``'s sandwich variance.
    """
    r, _ = _linear_predictor(s, b)
    w2 = _risk_weights(s, r)
    s0 = _risk_sum(s, r, w2, None)
    x_bar = _risk_sum(s, r, w2, s.x) / s0[:, None]
    a = s.fail_counts / s0  # dLambda_1 jumps (shifted scale)
    ag = a * s.fail_g
    time, x = s.time, s.x
    # eta: dN part
    k_own = np.searchsorted(s.fail_times, time)  # index of each patient's own time among failures
    eta = np.zeros_like(x)
    is_fail = s.cause == 1
    eta[is_fail] = x[is_fail] - x_bar[k_own[is_fail]]
    # eta: dLambda part while at risk (failure times <= T_i)
    cum_a = _prefix(a)
    cum_ax = _prefix(a[:, None] * x_bar)
    upto = np.searchsorted(s.fail_times, time, side="right")
    eta -= r[:, None] * (x * cum_a[upto][:, None] - cum_ax[upto])
    # eta: dLambda part after a competing failure (failure times > T_i), weighted by G
    cum_ag = _prefix(ag)
    cum_agx = _prefix(ag[:, None] * x_bar)
    later_a = cum_ag[-1] - cum_ag[upto]
    later_ax = cum_agx[-1] - cum_agx[upto]
    comp = s.cause == 2
    eta[comp] -= (r[comp] / s.g_minus[comp])[:, None] * (x[comp] * later_a[comp][:, None] - later_ax[comp])
    return eta + _censoring_correction(s, r, ag, x_bar)


def _censoring_correction(s: _Sorted, r: np.ndarray, ag: np.ndarray, x_bar: np.ndarray) -> np.ndarray:
    """psi_i = int q(u) / Y(u) dM^c_i(u): the censoring-distribution term of the variance.

    q(u) = sum over failure times t >= u of dLambda_1(t) G(t-) (E1(u) - x_bar(t) E0(u)),
    with E0, E1 the weighted sums over competing failures before u; Y(u) = number at risk.
    """
    time, x, n = s.time, s.x, len(s.time)
    cens_times, n_cens = np.unique(time[s.cause == 0], return_counts=True)
    if len(cens_times) == 0:
        return np.zeros_like(x)
    first = np.searchsorted(time, cens_times, side="left")
    at_risk = (n - first).astype(float)
    w_comp = np.where(s.cause == 2, r / s.g_minus, 0.0)
    e0 = _prefix(w_comp)[first]
    e1 = _prefix(w_comp[:, None] * x)[first]
    from_k = np.searchsorted(s.fail_times, cens_times, side="left")
    tail_a = _suffix(ag)[from_k]
    tail_ax = _suffix(ag[:, None] * x_bar)[from_k]
    q = e1 * tail_a[:, None] - e0[:, None] * tail_ax
    compensator = _prefix(n_cens[:, None] * q / at_risk[:, None] ** 2)
    upto = np.searchsorted(cens_times, time, side="right")
    psi = -compensator[upto]
    cens = s.cause == 0
    own = np.searchsorted(cens_times, time[cens])
    psi[cens] += q[own] / at_risk[own][:, None]
    return psi


def _baseline_log_jumps(s: _Sorted, b: np.ndarray) -> np.ndarray:
    """log of the jumps of the baseline cumulative subdistribution hazard (uncentred x)."""
    r, shift = _linear_predictor(s, b)
    s0 = _risk_sum(s, r, _risk_weights(s, r), None)
    return np.log(s.fail_counts) - np.log(s0) - shift - float(s.x_mean @ b)


# --------------------------------------------------------------------------- separation


def _risk_set_range(s: _Sorted, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value of ``col`` in the risk set at each failure time."""
    comp = s.cause == 2
    at = s.fail_first
    hi = np.maximum(
        np.maximum.accumulate(col[::-1])[::-1][at],
        np.concatenate([[-np.inf], np.maximum.accumulate(np.where(comp, col, -np.inf))])[at],
    )
    lo = np.minimum(
        np.minimum.accumulate(col[::-1])[::-1][at],
        np.concatenate([[np.inf], np.minimum.accumulate(np.where(comp, col, np.inf))])[at],
    )
    return lo, hi


def _monotone_columns(s: _Sorted) -> dict[int, int]:
    """Columns along which the likelihood is monotone on their own: {column: direction}.

    Direction +1: at every failure of the cause the failing patient has the largest value
    in the risk set (coefficient runs to +infinity); -1: the smallest. Columns constant
    over every risk set are reported with direction 0 (not estimable).
    """
    result = {}
    failed = s.cause == 1
    k = np.searchsorted(s.fail_times, s.time[failed])
    for j in range(s.x.shape[1]):
        col = s.x[:, j]
        lo, hi = _risk_set_range(s, col)
        xf = col[failed]
        tol = 1e-12 * max(1.0, float(np.max(np.abs(col), initial=0.0)))
        if np.all(hi - lo <= tol):
            result[j] = 0
        elif np.all(xf >= hi[k] - tol):
            result[j] = 1
        elif np.all(xf <= lo[k] + tol):
            result[j] = -1
    return result


def levels_without_events(design: Design, cause: int) -> dict[str, list[str]]:
    """Categorical covariate -> its levels (reference included) with no event of the cause."""
    out: dict[str, list[str]] = {}
    event = design.status == cause
    covariates = dict.fromkeys(t.covariate for t in design.terms if t.level is not None)
    for cov in covariates:
        terms = [(j, t) for j, t in enumerate(design.terms) if t.covariate == cov]
        in_any = np.zeros(len(design.x), dtype=bool)
        empty = []
        for j, t in terms:
            member = design.x[:, j] == 1
            in_any |= member
            if not np.any(event & member):
                empty.append(t.level)
        if not np.any(event & ~in_any):
            empty.insert(0, terms[0][1].reference)
        if empty:
            out[cov] = empty
    return out


def detect_separation(design: Design, cause: int) -> tuple[set[int], list[str]]:
    """Design columns whose coefficient is infinite (or not estimable), with warnings naming them.

    Checks (1) levels of a categorical covariate with no event of ``cause`` and (2) single
    columns that order every event against its (Fine-Gray) risk set. For a cause-specific
    Cox model pass a design whose competing causes are recoded as censored (0).
    """
    return _separation(design, _prepare(design, cause), cause)


def _separation(design: Design, s: _Sorted, cause: int) -> tuple[set[int], list[str]]:
    """Columns whose coefficient is infinite (or not estimable), and warnings naming them."""
    flagged: set[int] = set()
    messages = []
    for cov, levels in levels_without_events(design, cause).items():
        terms = [(j, t) for j, t in enumerate(design.terms) if t.covariate == cov]
        reference = terms[0][1].reference
        if reference in levels:
            hit = [j for j, _ in terms]
        else:
            hit = [j for j, t in terms if t.level in levels]
        flagged.update(hit)
        messages.append(
            f"separation: {cov} level(s) {levels} have no events of cause {cause}; the hazard "
            f"ratio(s) for {[design.terms[j].name for j in hit]} are infinite or zero (not estimable)"
        )
    for j, direction in _monotone_columns(s).items():
        if j in flagged:
            continue
        flagged.add(j)
        name = design.terms[j].name
        if direction == 0:
            messages.append(f"not estimable: {name} does not vary within any risk set of cause {cause}")
        else:
            side = "highest" if direction > 0 else "lowest"
            messages.append(
                f"separation: every cause-{cause} event has the {side} value of {name} in its "
                f"risk set; its hazard ratio is {'infinite' if direction > 0 else 'zero'} (not estimable)"
            )
    return flagged, messages


# --------------------------------------------------------------------------- result


def _sandwich(s: _Sorted, fit: _Fit, keep: np.ndarray) -> np.ndarray:
    """crr's variance H^-1 (sum U_i U_i') H^-1 on the estimable columns ``keep``."""
    p = len(fit.b)
    var = np.full((p, p), np.nan)
    if not keep.any():
        return var
    u = _score_residuals(s, fit.b)[:, keep]
    h_inv = np.linalg.inv(fit.information[np.ix_(keep, keep)])
    var[np.ix_(keep, keep)] = h_inv @ (u.T @ u) @ h_inv
    return var


def diverging(coef: np.ndarray, naive_se: np.ndarray, flagged: set[int]) -> set[int]:
    """Columns that ran off numerically: |coef| > 8 (HR beyond 1/3000..3000) with |z| < 1."""
    return {
        j
        for j, (bj, sj) in enumerate(zip(coef, naive_se))
        if j not in flagged and abs(bj) > DIVERGENCE_COEF and not abs(bj) > sj
    }


def _diverging(fit: _Fit, flagged: set[int]) -> set[int]:
    """Columns of a Fine-Gray fit that ran off numerically (see :func:`diverging`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        naive_se = np.sqrt(np.abs(np.diag(np.linalg.pinv(fit.information))))
    return diverging(fit.b, naive_se, flagged)


#: fine_gray's own options, with their defaults: Newton-Raphson controls (R ``crr``'s ``gtol``, ``maxiter``).
NEWTON_DEFAULTS = {"gtol": 1e-10, "max_iter": 100}


def _estimate(design: Design, cause: int, gtol: float, max_iter: int):
    """The fit of ``design`` for ``cause``: (sorted data, Newton fit, flagged columns, separation messages, columns
    flagged as diverging, crr's sandwich variance with NaN on the flagged columns)."""
    s = _prepare(design, cause)
    if len(s.fail_times) == 0:
        raise ValueError(f"no events of cause {cause} among {len(s.time)} complete cases")
    flagged, messages = _separation(design, s, cause)
    with np.errstate(all="ignore"):  # separated fits under/overflow; reported by the caller
        fit = _newton(s, design.x.shape[1], gtol, max_iter)
    extra = _diverging(fit, flagged)
    flagged = flagged | extra
    keep = np.array([j not in flagged for j in range(design.x.shape[1])], dtype=bool)
    with np.errstate(all="ignore"):
        var = _sandwich(s, fit, keep)
    return s, fit, flagged, messages, extra, var


def fine_gray_estimates(
    design: Design, cause: int, gtol: float = NEWTON_DEFAULTS["gtol"], max_iter: int = NEWTON_DEFAULTS["max_iter"]
) -> tuple[np.ndarray, np.ndarray, set[int], bool]:
    """The estimates of :func:`fine_gray` for a ready design, as arrays: (coefficients, crr's sandwich
    standard errors, flagged columns (separated or diverging; NaN standard error), converged).

    Same numbers as :func:`fine_gray` without the data-frame work (notes, summary, prediction): for
    many refits of one design on changing outcomes, e.g. a design whose ``time`` and ``status`` are
    replaced. Raises ValueError when there is no event of the cause."""
    _, fit, flagged, _, _, var = _estimate(design, cause, gtol, max_iter)
    return fit.b, np.sqrt(np.diag(var)), flagged, fit.converged


@substitute()
def fine_gray(
    data: pd.DataFrame, time: str, status: str, covariates: list[str], cause: int = 1, **options
) -> RegressionResult:
    """Fit a Fine-Gray model for ``cause``, equal to R ``cmprsk::crr(..., failcode = cause, cencode = cencode)``.

    The model regresses the cumulative incidence of the cause on the covariates through its
    subdistribution hazard; patients who failed from a competing cause stay in its risk set,
    weighted by the censoring distribution.

    Parameters
    ----------
    %(regression_columns)s
    %(regression_options)s
    gtol : float
        Convergence tolerance (1e-10 by default; crr's is 1e-6), crr's rule:
        ``max(abs(score_j) * max(abs(b_j), 1)) < max(abs(loglik), 1) * gtol``.
    max_iter : int
        Newton-Raphson iterations at most, 100 by default.

    Returns
    -------
    RegressionResult
        ``method="fine-gray"``; ``summary`` with crr's sandwich standard errors (which include
        the variance of the censoring-distribution estimate, not the naive inverse
        information); ``predict`` equals ``predict.crr``.

    Notes
    -----
    Patients with a missing value in a used column are dropped (noted in ``notes``).
    Separation (a level with no events of the cause, or a covariate that orders the events
    perfectly) is detected and reported in ``notes`` and in the ``separation`` column.

    Examples
    --------
    >>> import pandas as pd
    >>> from hsct_analysis.stats import fine_gray
    >>> from hsct_analysis.stats.datasets import load_competing_example
    >>> data = load_competing_example()  # 16 patients: time, status (0/1/2), group, age
    >>> fit = fine_gray(data, "time", "status", ["group", "age"], cause=1)
    >>> fit.summary[["coef", "std_err", "hr", "p"]].round(4)
                coef  std_err      hr       p
    term
    group[b] -0.4889   0.9478  0.6133  0.6060
    group[c] -0.3409   0.9003  0.7111  0.7049
    age      -0.0086   0.0443  0.9915  0.8466

    (R: ``crr(time, status, model.matrix(~ group + age)[, -1])`` gives -0.48891, -0.34095,
    -0.00856 with standard errors 0.94781, 0.90033, 0.04426.) The cumulative incidence at
    the last event time (day 18) for two 50-year-olds in groups a and b (``predict.crr``):

    >>> fit.predict(pd.DataFrame({"group": ["a", "b"], "age": [50, 50]})).iloc[-1].round(4).tolist()
    [0.6766, 0.4995]
    """
    shared, own = RegressionOptions.split(options, own=NEWTON_DEFAULTS)
    newton = {**NEWTON_DEFAULTS, **own}
    design, cause = shared.design(data, time, status, covariates, cause)
    s, fit, flagged, messages, extra, var = _estimate(design, cause, newton["gtol"], newton["max_iter"])
    p = design.x.shape[1]
    notes = list(design.notes) + messages
    for j in sorted(extra):
        notes.append(
            f"possible separation: the estimate for {design.terms[j].name} ran off to "
            f"coef={fit.b[j]:.1f} with an unbounded standard error; not reported"
        )
    if not fit.converged:
        notes.append(f"Newton-Raphson did not converge in {fit.iterations} iterations")
    keep = np.array([j not in flagged for j in range(p)], dtype=bool)
    with np.errstate(all="ignore"):
        log_jumps = _baseline_log_jumps(s, fit.b)
    for j in np.flatnonzero(keep & ~np.isfinite(np.diag(var))):
        notes.append(f"not estimable: {design.terms[j].name} has no finite standard error (see the separation above)")
    null = _neg_loglik(s, np.zeros(p))
    coef_at_stop, event_times = fit.b.copy(), s.fail_times

    def predict(z: np.ndarray):
        log_hazard = log_jumps[:, None] + (z @ coef_at_stop)[None, :]
        return 1.0 - np.exp(-np.cumsum(np.exp(log_hazard), axis=0)), event_times

    def baseline() -> pd.Series:
        return pd.Series(
            np.cumsum(np.exp(log_jumps)), index=pd.Index(event_times, name="time"), name="cumulative_hazard"
        )

    return shared.result(
        "fine-gray",
        design,
        cause,
        (fit.b, np.sqrt(np.diag(var)), flagged),
        variance=var,
        information=fit.information,
        converged=fit.converged,
        iterations=fit.iterations,
        loglik=-fit.neg_loglik,
        loglik_null=-null,
        notes=notes,
        _predict=predict,
        _baseline=baseline,
    )
