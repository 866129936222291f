"""Cause-specific Cox regression: the hazard of one cause, other causes treated as censored.

A thin helper over lifelines' ``CoxPHFitter`` (Efron ties, as R's ``coxph`` default) that
uses the same treatment coding as :func:`hsct_analysis.stats.fine_gray.fine_gray` and returns
the same result type (:class:`hsct_analysis.stats.regression.RegressionResult`), so the two
models sit side by side in one table. Times are in days.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError

from hsct_analysis.stats.design import Design
from hsct_analysis.stats.docstrings import substitute
from hsct_analysis.stats.fine_gray import detect_separation, diverging, levels_without_events
from hsct_analysis.stats.regression import RegressionOptions, RegressionResult

__all__ = ["cause_specific_cox", "FIT_OPTIONS", "breslow_jumps", "CoxEstimates", "efron_estimates", "cox_estimates"]

#: Tight Newton-Raphson settings, so estimates agree with R ``coxph`` to 1e-6 or better.
#: Full Newton steps (lifelines damps them to 0.95 by default), and stop on the relative
#: log-likelihood change only: its step-norm rules return the point before the last step.
FIT_OPTIONS = {"step_size": 1.0, "precision": 1e-20, "r_precision": 1e-14, "max_steps": 200}


def _cause_only(design: Design, cause: int) -> Design:
    """The same design with every status other than ``cause`` recoded as censored (0)."""
    status = np.where(design.status == cause, cause, 0)
    return Design(design.x, design.terms, design.time, status, design.index, design.n_dropped, design.notes)


def _limit_fit(design: Design, cause: int, flagged: set[int]) -> tuple[np.ndarray, list[str]]:
    """Rows and terms to fit when non-reference levels have no events of ``cause``.

    As such a level's coefficient runs to -infinity its patients leave every risk set, so
    the other estimates converge to the fit without those patients and that term. Other
    kinds of separation are left to the full fit (and flagged).
    """
    rows = np.ones(len(design.x), dtype=bool)
    dropped = set()
    for cov, levels in levels_without_events(design, cause).items():
        terms = [(j, t) for j, t in enumerate(design.terms) if t.covariate == cov]
        if terms[0][1].reference in levels:
            continue
        for j, t in terms:
            if t.level in levels and j in flagged:
                rows &= design.x[:, j] == 0
                dropped.add(j)
    return rows, [t.name for j, t in enumerate(design.terms) if j not in dropped]


def _fit_recording(frame: pd.DataFrame, kwargs: dict, **fit_kwargs) -> tuple[CoxPHFitter, list[str]]:
    """One lifelines fit and the (first lines of the) warnings it raised."""
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        model = CoxPHFitter(**kwargs).fit(frame, "_time", "_event", **fit_kwargs)
    return model, sorted({str(w.message).splitlines()[0] for w in caught})


def _fit_tightly(frame: pd.DataFrame, kwargs: dict) -> tuple[CoxPHFitter, list[str]]:
    """Full Newton steps to a tight optimum (agrees with R coxph to 1e-6), and the final fit's warnings.

    Full steps from zero can overshoot on small, unbalanced data; then lifelines' damped
    default steps find the neighbourhood first and full steps polish from there (checked
    against R coxph on the bundled cohort's relapse-by-ATG model in tests). Only the
    warnings of the fit that is returned are reported: those of a discarded first attempt
    say nothing about the estimate.
    """
    try:
        return _fit_recording(frame, kwargs, fit_options=FIT_OPTIONS)
    except ConvergenceError:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            rough = CoxPHFitter(**kwargs).fit(frame, "_time", "_event")
        return _fit_from(rough, rough.params_.to_numpy(), frame, kwargs)


def _fit_from(model: CoxPHFitter, coef: np.ndarray, frame: pd.DataFrame, kwargs: dict):
    """Full Newton steps of lifelines from ``coef`` (log hazard ratios per unit of ``frame``'s columns); lifelines
    iterates on standardised covariates, so the start is given on the scale of ``model``'s."""
    return _fit_recording(frame, kwargs, initial_point=coef * model._norm_std.to_numpy(), fit_options=FIT_OPTIONS)


#: lifelines messages that say its fit stopped short of the maximum.
SHORT_OF_MAXIMUM = ("Newton-Raphson failed to converge",)
#: CoxPHFitter options that leave the partial likelihood as coxph's (others, e.g. a penalizer, change it).
_PLAIN_OPTIONS = frozenset({"alpha"})


def _fit_to_the_maximum(frame: pd.DataFrame, kwargs: dict):
    """:func:`_fit_tightly`, checked against the package's own Newton-Raphson with step halving
    (:func:`efron_estimates`, coxph's algorithm): where that reaches a higher partial likelihood, lifelines'
    full steps stopped short (seen on small, nearly separated data, 4 patients), and lifelines is restarted
    from that maximum. Returns (model, warnings, Newton steps of the package's fit from zero, or 0 where the check
    does not apply: options that change the likelihood)."""
    model, caught = _fit_tightly(frame, kwargs)
    if set(kwargs) - _PLAIN_OPTIONS or model.params_.empty:
        return model, caught, 0
    names = list(model.params_.index)
    own = efron_estimates(frame["_time"].to_numpy(float), frame["_event"].to_numpy(), frame[names].to_numpy(float))
    # a maximum with a finite, invertible information; a separated design (coefficients running off) is not one
    regular = own.converged and np.all(np.isfinite(own.coef)) and np.all(np.isfinite(own.std_err))
    if regular and own.loglik > model.log_likelihood_ + 1e-9 * max(1.0, abs(own.loglik)):
        try:
            restarted, restarted_caught = _fit_from(model, own.coef, frame, kwargs)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError):
            restarted = None  # lifelines cannot start there: keep its first fit
        if restarted is not None and restarted.log_likelihood_ > model.log_likelihood_:
            model, caught = restarted, restarted_caught
    return model, caught, own.iterations if regular else 0


def breslow_jumps(time: np.ndarray, event: np.ndarray, x: np.ndarray, coef: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Breslow jumps of the baseline cumulative hazard at the times ``at`` (0 where no event).

    ``dLambda0(t) = d(t) / sum_{j: T_j >= t} exp(x_j coef)`` with x uncentred (covariates 0
    = baseline); coefficients of -inf (levels without events) give those patients weight 0.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        eta = np.where(x != 0, x * coef[None, :], 0.0).sum(axis=1) if x.size else np.zeros(len(time))
    risk = np.exp(eta)
    order = np.argsort(time, kind="stable")
    t_sorted, r_sorted = time[order], risk[order]
    tail = np.concatenate((np.cumsum(r_sorted[::-1])[::-1], [0.0]))
    first = np.searchsorted(t_sorted, at, side="left")
    deaths = np.array([np.sum((time == a) & (event == 1)) for a in at], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(deaths > 0, deaths / tail[first], 0.0)


@dataclass(frozen=True)
class CoxEstimates:
    """A Cox fit as arrays: coefficients (log hazard ratio per unit of each column), their
    inverse-information standard errors, the log partial likelihood, and whether Newton-Raphson
    converged."""

    coef: np.ndarray
    std_err: np.ndarray
    loglik: float
    converged: bool
    iterations: int


def _efron_sums(time: np.ndarray, event: np.ndarray, x: np.ndarray):
    """The coefficient-free layout of Efron's partial likelihood: data sorted by time, and per event
    (one row per event, in time order) its tied-time group, the first sorted row at risk at each
    event time, and Efron's fraction l/d of the tied events already removed."""
    order = np.argsort(time, kind="stable")
    t, e, xs = time[order], event[order].astype(bool), x[order]
    times, d = np.unique(t[e], return_counts=True)
    first = np.searchsorted(t, times, side="left")
    group = np.repeat(np.arange(len(times)), d)
    frac = np.concatenate([np.arange(k) / k for k in d]) if len(d) else np.zeros(0)
    return xs, e, first, group, frac, len(times)


def _efron_derivatives(layout, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood (Efron ties), its gradient and minus its Hessian (the information) at ``b``."""
    xs, e, first, group, frac, n_times = layout
    eta = xs @ b
    shift = float(eta.max()) if len(eta) else 0.0
    r = np.exp(eta - shift)
    rx = r[:, None] * xs
    rxx = rx[:, :, None] * xs[:, None, :]
    tail0 = np.cumsum(r[::-1])[::-1][first]
    tail1 = np.cumsum(rx[::-1], axis=0)[::-1][first]
    tail2 = np.cumsum(rxx[::-1], axis=0)[::-1][first]
    tie0 = np.bincount(group, weights=r[e], minlength=n_times)
    tie1 = np.zeros((n_times, xs.shape[1]))
    np.add.at(tie1, group, rx[e])
    tie2 = np.zeros((n_times,) + rxx.shape[1:])
    np.add.at(tie2, group, rxx[e])
    phi0 = tail0[group] - frac * tie0[group]
    phi1 = tail1[group] - frac[:, None] * tie1[group]
    phi2 = tail2[group] - frac[:, None, None] * tie2[group]
    mean = phi1 / phi0[:, None]
    loglik = float(eta[e].sum() - np.sum(np.log(phi0) + shift))
    score = xs[e].sum(axis=0) - mean.sum(axis=0)
    information = (phi2 / phi0[:, None, None]).sum(axis=0) - mean.T @ mean
    return loglik, score, information


def efron_estimates(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, max_iter: int = 50, tol: float = 1e-12
) -> CoxEstimates:
    """Cox proportional-hazards fit with Efron ties on arrays, equal to R ``coxph`` (its default ties).

    ``time`` in days, ``event`` 1 = event and 0 = censored, ``x`` the n x p design matrix (no
    intercept). Newton-Raphson from zero with step halving; converged when a step changes no
    coefficient by more than ``tol`` (relative to max(1, |coef|)). No separation handling: on a
    separated design the coefficient runs off until a step no longer changes it by ``tol``, and the
    fit may say ``converged`` with a huge coefficient and NaN or huge standard errors (or not converge,
    where the information becomes singular); its estimates are then meaningless.
    :func:`cox_estimates` checks for that; :func:`cause_specific_cox` detects and reports separation. For many refits of one design on
    changing outcomes (a permutation test, a calibration) this avoids the data-frame work of a
    full fit: about a millisecond for 100 patients and 5 columns.
    """
    x = np.asarray(x, float)
    x = x - x.mean(axis=0) if len(x) else x  # centring changes neither the estimates nor the information
    layout = _efron_sums(np.asarray(time, float), np.asarray(event), x)
    b = np.zeros(x.shape[1])
    loglik, score, info = _efron_derivatives(layout, b)
    steps = 0
    while steps < max_iter:
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            new = _efron_derivatives(layout, b + step)
            if np.isfinite(new[0]) and new[0] >= loglik - 1e-12 * max(1.0, abs(loglik)):
                break
            step = step / 2
        else:
            break
        b, steps = b + step, steps + 1
        loglik, score, info = new
        if np.max(np.abs(step) / np.maximum(1.0, np.abs(b)), initial=0.0) <= tol:
            try:
                inverse = np.linalg.inv(info)
            except np.linalg.LinAlgError:  # a singular information: no maximum here (separation)
                break
            with np.errstate(invalid="ignore"):
                se = np.sqrt(np.diag(inverse))
            return CoxEstimates(b, se, loglik, True, steps)
    return CoxEstimates(b, np.full(len(b), np.nan), loglik, False, steps)


def cox_estimates(design: Design, cause: int) -> CoxEstimates | None:
    """The cause-specific Cox fit of ``design`` for ``cause`` by :func:`efron_estimates`, or None
    where :func:`cause_specific_cox` would handle the fit specially: separation, a level without
    events, a diverging estimate or no convergence. Where it returns estimates they equal that
    function's (R ``coxph``'s) to about 1e-9."""
    one = _cause_only(design, cause)
    event = (one.status == cause).astype(int)
    if not event.any() or detect_separation(one, cause)[0]:
        return None
    fit = efron_estimates(one.time, event, one.x)
    if not fit.converged or not np.all(np.isfinite(fit.std_err)) or diverging(fit.coef, fit.std_err, set()):
        return None
    return fit


def _fit_cause(design: Design, cause: int, kwargs: dict):
    """Fit the Cox model of one cause: coefficients (NaN/inf where flagged), std errors, model, notes, and whether
    the fit reached the maximum (with the Newton steps it took from zero, 0 where not counted)."""
    names = design.term_names
    one = _cause_only(design, cause)
    frame = pd.DataFrame(one.x, columns=names)
    frame["_time"] = one.time
    frame["_event"] = (one.status == cause).astype(int)
    if frame["_event"].sum() == 0:
        raise ValueError(f"no events of cause {cause} among {len(frame)} complete cases")
    if len(frame) < 2:  # lifelines' separation check fails on one row with scipy's message
        raise ValueError(f"a Cox model needs at least 2 complete cases; {len(frame)} given")
    flagged, notes = detect_separation(one, cause)
    rows, fitted = _limit_fit(one, cause, flagged)
    if not rows.all():
        notes.append(
            f"{int((~rows).sum())} patient(s) in level(s) without events were left out when estimating "
            "the other terms (the limit of the fit as their coefficient runs to -infinity)"
        )
    model, iterations, short = None, 0, False
    coef, se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    loglik, variance = np.nan, np.full((len(names), len(names)), np.nan)
    try:
        model, caught, iterations = _fit_to_the_maximum(frame.loc[rows, fitted + ["_time", "_event"]], kwargs)
        coef = model.params_.reindex(names).to_numpy()
        se = model.standard_errors_.reindex(names).to_numpy()
        loglik = float(model.log_likelihood_)
        variance = model.variance_matrix_.reindex(index=names, columns=names).to_numpy()
        notes += caught
        short = any(note.startswith(SHORT_OF_MAXIMUM) for note in caught)
    except ConvergenceError as err:
        notes.append(f"lifelines could not fit the model: {str(err).splitlines()[0]}")
    if len(fitted) < len(names):
        coef[[names.index(t) for t in names if t not in fitted]] = -1.0  # shown as -inf (HR 0)
    extra = diverging(coef, se, flagged)
    notes += [f"possible separation: the estimate for {names[j]} ran off to coef={coef[j]:.1f}" for j in sorted(extra)]
    # lifelines' "failed to converge" is expected where a separated column runs off (reported as such); with
    # every column regular it means the fit stopped short of the maximum
    converged = model is not None and not (short and not (flagged | extra))
    return coef, se, flagged | extra, model, loglik, variance, notes, frame, iterations, converged


@substitute()
def cause_specific_cox(
    data: pd.DataFrame, time: str, status: str, covariates: list[str], cause: int = 1, **options
) -> RegressionResult:
    """Fit a Cox model for the hazard of ``cause``, equal to R ``coxph(Surv(time, status == cause) ~ ...)``.

    Every status other than ``cause`` (competing causes as well as ``cencode``) counts as a
    censoring in this model; the covariates are coded as in
    :func:`~hsct_analysis.stats.fine_gray.fine_gray`.

    Parameters
    ----------
    %(regression_columns)s
    %(regression_options)s
    penalizer, ...
        Any other keyword is passed to lifelines ``CoxPHFitter``.

    Returns
    -------
    RegressionResult
        ``method="cause-specific cox"``; ``std_err`` is the inverse-information standard
        error (as coxph); ``fitter`` is the lifelines model; ``notes`` lists what the final
        fit did (separation, warnings of the fit that was kept, patients dropped).

    Notes
    -----
    Ties are handled by Efron's method (coxph's default). Separation (a level with no
    events, a covariate that orders the events) is reported in ``notes`` and in the
    ``separation`` column rather than as an absurd hazard ratio; a level without events is
    handled as the limit of the fit (its patients leave the estimation of the other terms).

    Examples
    --------
    >>> import pandas as pd
    >>> from hsct_analysis.stats import cause_specific_cox, fine_gray
    >>> from hsct_analysis.stats.datasets import load_competing_example
    >>> data = load_competing_example()  # 16 patients: time, status (0/1/2), group, age
    >>> csc = cause_specific_cox(data, "time", "status", ["group", "age"])
    >>> fg = fine_gray(data, "time", "status", ["group", "age"])
    >>> pd.DataFrame({"cause-specific": csc.summary["hr"], "fine-gray": fg.summary["hr"]}).round(4)
              cause-specific  fine-gray
    term
    group[b]          0.4410     0.6133
    group[c]          0.5581     0.7111
    age               0.9897     0.9915

    The hazard ratios of cause 1 from the two models, side by side. R
    ``coxph(Surv(time, status == 1) ~ group + age)`` gives the same cause-specific fit, to every
    digit shown here:

    >>> csc.summary[["coef", "std_err", "p"]].round(4).to_numpy().tolist()
    [[-0.8187, 0.963, 0.3952], [-0.5832, 1.1117, 0.5998], [-0.0104, 0.0471, 0.8254]]

    The cumulative incidence of cause 1 at day 18 for two 50-year-olds, from this model and
    the cause-2 model fitted alongside:

    >>> csc.predict(pd.DataFrame({"group": ["a", "b"], "age": [50, 50]})).iloc[-1].round(4).tolist()
    [0.5417, 0.5169]
    """
    shared, kwargs = RegressionOptions.split(options, own=None)
    design, cause = shared.design(data, time, status, covariates, cause)
    names = design.term_names
    coef, se, flagged, model, loglik, variance, fit_notes, frame, iterations, converged = _fit_cause(
        design, cause, kwargs
    )
    notes = list(design.notes) + fit_notes
    null = _null_loglik(frame)
    information = np.full_like(variance, np.nan)
    ok = np.isfinite(np.diag(variance))
    if ok.any():
        information[np.ix_(ok, ok)] = np.linalg.pinv(variance[np.ix_(ok, ok)])
    causes = sorted(int(c) for c in np.unique(design.status) if c != 0)
    x_all, time_all = design.x, design.time

    def coefficients_of(k: int) -> np.ndarray:
        if k == cause:
            b, bad = coef, flagged
        else:
            b, _, bad, *_ = _fit_cause(design, k, kwargs)
        b = np.array(b, dtype=float)
        for j in bad:
            if b[j] < 0:
                b[j] = -np.inf
            else:
                raise ValueError(
                    f"cannot predict: the cause-{k} hazard ratio of {names[j]} is not estimable (separation)"
                )
        if not np.all(np.isfinite(b) | (b == -np.inf)):
            raise ValueError(f"cannot predict: the cause-{k} model has coefficients that could not be estimated")
        return b

    event_times = np.unique(time_all[design.status == cause])

    def predict(z: np.ndarray):
        grid = np.unique(time_all[design.status != 0])
        with np.errstate(over="ignore", invalid="ignore"):
            hazards = {}
            for k in causes:
                b = coefficients_of(k)
                jumps = breslow_jumps(time_all, (design.status == k).astype(int), x_all, b, grid)
                rel = np.exp(np.where(z != 0, z * b[None, :], 0.0).sum(axis=1))
                hazards[k] = jumps[:, None] * rel[None, :]
        total = sum(hazards.values())
        surv_before = np.vstack([np.ones((1, z.shape[0])), np.cumprod(1.0 - total, axis=0)[:-1]])
        cif = np.cumsum(surv_before * hazards[cause], axis=0)
        keep = np.isin(grid, event_times)
        return cif[keep], grid[keep]

    def baseline() -> pd.Series:
        b = coefficients_of(cause)
        jumps = breslow_jumps(time_all, (design.status == cause).astype(int), x_all, b, event_times)
        return pd.Series(np.cumsum(jumps), index=pd.Index(event_times, name="time"), name="cumulative_hazard")

    return shared.result(
        "cause-specific cox",
        design,
        cause,
        (coef, se, flagged),
        variance=variance,
        information=information,
        converged=converged,
        iterations=iterations,
        loglik=loglik,
        loglik_null=null,
        notes=notes,
        fitter=model,
        _predict=predict,
        _baseline=baseline,
    )


def _null_loglik(frame: pd.DataFrame) -> float:
    """Log partial likelihood at coef = 0 with Efron ties (as coxph's ``loglik[1]``).

    At coef = 0 every weight is 1, so a time with d events among n at risk contributes
    -sum_{l<d} log(n - l).
    """
    t = frame["_time"].to_numpy(float)
    e = frame["_event"].to_numpy(int)
    times, d = np.unique(t[e == 1], return_counts=True)
    n_risk = len(t) - np.searchsorted(np.sort(t), times, side="left")
    return -float(sum(np.sum(np.log(n - np.arange(k))) for n, k in zip(n_risk, d)))
