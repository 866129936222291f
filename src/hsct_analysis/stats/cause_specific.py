"""Cause-specific Cox regression: the hazard of one cause, other causes treated as censored.

A thin helper over lifelines' ``CoxPHFitter`` (Efron ties, as R's ``coxph`` default) that
uses the same treatment coding as :func:`hsct_analysis.stats.fine_gray.fine_gray` and returns the
same summary columns, so the two models sit side by side in one table. Times are in days.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError

from hsct_analysis.stats.design import Design, Term, design_matrix
from hsct_analysis.stats.fine_gray import coefficient_table, detect_separation, diverging, levels_without_events

#: Tight Newton-Raphson settings, so estimates agree with R ``coxph`` to 1e-6 or better.
#: Full Newton steps (lifelines damps them to 0.95 by default), and stop on the relative
#: log-likelihood change only: its step-norm rules return the point before the last step.
FIT_OPTIONS = {"step_size": 1.0, "precision": 1e-20, "r_precision": 1e-14, "max_steps": 200}


@dataclass
class CauseSpecificCoxResult:
    """A fitted cause-specific Cox model.

    ``summary`` is indexed by term with columns coef, se (inverse information, as R
    ``coxph``), hr, hr_lower, hr_upper, p (two-sided Wald), reference, separation.
    ``model`` is the fitted lifelines ``CoxPHFitter``.
    """

    summary: pd.DataFrame
    model: CoxPHFitter
    n: int
    events: int
    loglik: float
    cause: int
    conf_level: float
    warnings: list[str] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list, repr=False)

    @property
    def reference(self) -> dict[str, str]:
        """Reference level of each categorical covariate."""
        return {t.covariate: t.reference for t in self.terms if t.reference is not None}


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


def _fit_tightly(frame: pd.DataFrame, kwargs: dict) -> CoxPHFitter:
    """Full Newton steps to a tight optimum (agrees with R coxph to 1e-6).

    Full steps from zero can overshoot on small, unbalanced data; then lifelines' damped
    default steps find the neighbourhood first and full steps polish from there (checked
    against R coxph on the bundled cohort's relapse-by-ATG model in tests).
    """
    try:
        return CoxPHFitter(**kwargs).fit(frame, "_time", "_event", fit_options=FIT_OPTIONS)
    except ConvergenceError:
        rough = CoxPHFitter(**kwargs).fit(frame, "_time", "_event")
        # lifelines iterates on standardised covariates, so the start is given on that scale
        start = rough.params_.to_numpy() * rough._norm_std.to_numpy()
        return CoxPHFitter(**kwargs).fit(frame, "_time", "_event", initial_point=start, fit_options=FIT_OPTIONS)


def cause_specific_cox(
    data: pd.DataFrame,
    duration_col: str,
    status_col: str,
    covariates: list[str],
    cause: int = 1,
    conf_level: float = 0.95,
    reference: dict[str, str] | None = None,
    **kwargs,
) -> CauseSpecificCoxResult:
    """Fit a Cox model for the hazard of ``cause`` (= ``coxph(Surv(t, status == cause) ~ ...)``).

    ``duration_col`` holds days; ``status_col`` 0 = censored, 1..k = causes (all but
    ``cause`` count as censored). Categorical covariates are treatment coded as in
    ``fine_gray``. Extra keyword arguments go to ``CoxPHFitter`` (e.g. ``penalizer``).
    Separation (a level with no events, a covariate that orders the events) is reported in
    ``warnings`` and in the ``separation`` column rather than as an absurd hazard ratio.
    """
    design = _cause_only(design_matrix(data, duration_col, status_col, covariates, reference), cause)
    names = design.term_names
    frame = pd.DataFrame(design.x, columns=names)
    frame["_time"] = design.time
    frame["_event"] = (design.status == cause).astype(int)
    if frame["_event"].sum() == 0:
        raise ValueError(f"no events of cause {cause} among {len(frame)} complete cases")
    flagged, messages = detect_separation(design, cause)
    notes = list(design.notes) + messages
    rows, fitted = _limit_fit(design, cause, flagged)
    if not rows.all():
        notes.append(
            f"{int((~rows).sum())} patient(s) in level(s) without events were left out when estimating "
            "the other terms (the limit of the fit as their coefficient runs to -infinity)"
        )
    model = CoxPHFitter(**kwargs)
    coef, se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    loglik = np.nan
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            model = _fit_tightly(frame.loc[rows, fitted + ["_time", "_event"]], kwargs)
            coef = model.params_.reindex(names).to_numpy()
            se = model.standard_errors_.reindex(names).to_numpy()
            loglik = float(model.log_likelihood_)
        except ConvergenceError as err:
            notes.append(f"lifelines could not fit the model: {str(err).splitlines()[0]}")
    notes += sorted({str(w.message).splitlines()[0] for w in caught})
    if len(fitted) < len(names):
        coef[[names.index(t) for t in names if t not in fitted]] = -1.0  # shown as -inf (HR 0)
    extra = diverging(coef, se, flagged)
    notes += [f"possible separation: the estimate for {names[j]} ran off to coef={coef[j]:.1f}" for j in sorted(extra)]
    return CauseSpecificCoxResult(
        summary=coefficient_table(design.terms, coef, se, flagged | extra, conf_level),
        model=model,
        n=len(frame),
        events=int(frame["_event"].sum()),
        loglik=loglik,
        cause=cause,
        conf_level=conf_level,
        warnings=notes,
        terms=design.terms,
    )
