"""The paper's multivariable models: which factors each Table 4 model entered, which were
screened (Table 3), events per variable, and the one route that fits such a model.

:func:`fit_model` is the one route that fits a Table 4 model: the scorecard and the book's
multivariable chapter call it. The synthetic-cohort calibration, which refits Table 4 after every
move, uses :class:`Refit`: the same numbers (to about 1e-9, tested) by the statistics core's array
estimators, and :func:`fit_model` itself wherever the fit needs its special handling. LFS and OS get
a Cox proportional-hazards model (:func:`hsct_analysis.stats.cause_specific.cause_specific_cox`
with cause 1: lifelines, Efron ties, agreeing with R ``coxph``); relapse and NRM a Fine-Gray
model (:func:`hsct_analysis.stats.fine_gray.fine_gray`). Times are days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hsct_analysis.cohort import endpoints, plain_numbers
from hsct_analysis.cohort.factors import FACTORS, factor
from hsct_analysis.stats.cause_specific import cause_specific_cox, cox_estimates
from hsct_analysis.stats.design import Design
from hsct_analysis.stats.fine_gray import NEWTON_DEFAULTS, fine_gray, fine_gray_estimates
from hsct_analysis.stats.regression import RegressionOptions, wald_columns

#: The paper's multivariable models (Table 4): endpoint -> factors entered.
PAPER_MODELS: dict[str, tuple[str, ...]] = {
    "LFS": ("bcr_abl1", "cart_interval_90", "cart_source", "atg_type"),
    "OS": ("bcr_abl1", "cart_interval_90"),
    "RI": ("atg_type",),
    "NRM": ("cart_interval_90",),
}

#: Factors screened in univariate analysis (Table 3), the pool the models came from.
SCREENED_FACTORS: tuple[str, ...] = (
    "sex",
    "age_group",
    "bcr_abl1",
    "relapse_timing",
    "first_to_second",
    "cart_interval_90",
    "cart_interval_60",
    "cart_source",
    "crs",
    "mrd_second",
    "conditioning_second",
    "atg_type",
    "donor_second_group",
)


def n_parameters(factors) -> int:
    """Regression coefficients needed for ``factors`` (levels - 1 each)."""
    return int(sum(len(FACTORS[f].levels) - 1 for f in factors))


def count_events(cohort: pd.DataFrame, endpoint: str) -> int:
    """Events for ``endpoint`` in a loaded cohort: LFS, OS, RI (relapse) or NRM."""
    counts = {
        "LFS": lambda c: c["lfs_event"].sum(),
        "OS": lambda c: c["os_event"].sum(),
        "RI": lambda c: (c["relapse_nrm_status"] == 1).sum(),
        "NRM": lambda c: (c["relapse_nrm_status"] == 2).sum(),
    }
    return int(counts[endpoint](cohort))


def events_per_variable(cohort: pd.DataFrame, models=None, screened=SCREENED_FACTORS) -> pd.DataFrame:
    """Events per regression coefficient for each of the paper's models.

    Returns a DataFrame indexed by endpoint with ``events``, ``parameters`` (in the final
    model), ``epv`` (= events / parameters), ``screened_parameters`` (all coefficients
    tested in univariate screening) and ``epv_screened``. A common rule of thumb asks
    for 10 or more events per variable.
    """
    models = PAPER_MODELS if models is None else models
    k_screen = n_parameters(screened)
    rows = []
    for endpoint, factors in models.items():
        events, k = count_events(cohort, endpoint), n_parameters(factors)
        rows.append(
            {
                "endpoint": endpoint,
                "events": events,
                "parameters": k,
                "epv": events / k,
                "screened_parameters": k_screen,
                "epv_screened": events / k_screen,
            }
        )
    return pd.DataFrame(rows).set_index("endpoint")


def model_frame(cohort: pd.DataFrame, endpoint_name: str, factor_names: list[str]) -> pd.DataFrame:
    """One row per patient: the factors (as text; NaN where undefined), ``time`` (days) and ``status``."""
    cohort = plain_numbers(cohort)
    ep = endpoints.endpoint(endpoint_name)
    data = pd.DataFrame({name: factor(cohort, name).astype(object) for name in factor_names}, index=cohort.index)
    data["time"] = pd.to_numeric(cohort[ep.time_col]).to_numpy(float)
    data["status"] = pd.to_numeric(cohort[ep.status_col]).to_numpy(int)
    return data


def fit_model(
    data: pd.DataFrame, endpoint_name: str, factor_names: list[str], reference: dict[str, str], conf_level: float = 0.95
):
    """Fit the multivariable model of ``endpoint_name`` on a :func:`model_frame`.

    Cox (cause 1 of ``status``) for ``lfs``/``os``, Fine-Gray (the endpoint's cause) for
    ``relapse``/``nrm``; ``reference`` maps each factor to its reference level. Returns the
    fit (:class:`~hsct_analysis.stats.regression.RegressionResult`): ``summary`` indexed by term
    ``factor[level]`` with hr, hr_lower, hr_upper, p, separation; ``n``, ``events``, ``notes``.
    Raises ValueError when the model cannot be set up (e.g. no events of the cause).
    """
    ep = endpoints.endpoint(endpoint_name)
    if ep.method == "km":
        return cause_specific_cox(
            data, "time", "status", list(factor_names), cause=1, conf_level=conf_level, reference=reference
        )
    return fine_gray(
        data, "time", "status", list(factor_names), cause=ep.cause, conf_level=conf_level, reference=reference
    )


def method_name(endpoint_name: str) -> str:
    """How :func:`fit_model` fits ``endpoint_name``, in words."""
    ep = endpoints.endpoint(endpoint_name)
    return "Cox PH (lifelines, Efron ties)" if ep.method == "km" else f"Fine-Gray (cause {ep.cause})"


def paper_model_frame(cohort: pd.DataFrame, endpoint_name: str, reference: dict[str, str]) -> pd.DataFrame:
    """The :func:`model_frame` of the paper's model of ``endpoint_name`` (factors: the keys of
    ``reference``), complete cases only: what :func:`fit_paper_model` fits."""
    return model_frame(cohort, endpoint_name, list(reference)).dropna()


def fit_paper_model(cohort: pd.DataFrame, endpoint_name: str, reference: dict[str, str], data=None):
    """The paper's model of ``endpoint_name`` on ``cohort``: factors ``reference`` (factor ->
    reference level), complete cases only. Returns (fit, description) or a string saying why it failed.

    ``data``: the :func:`paper_model_frame` when the caller has it (a caller that refits on changing
    outcomes builds it once and updates ``time`` and ``status``); then ``cohort`` is not read."""
    data = paper_model_frame(cohort, endpoint_name, reference) if data is None else data
    try:
        fit = fit_model(data, endpoint_name, list(reference), reference)
    except Exception as exc:  # noqa: BLE001 - reported where the numbers are shown, not hidden
        return f"{method_name(endpoint_name)} failed: {exc}"
    return fit, f"{method_name(endpoint_name)} on {', '.join(reference)}; n={len(data)}"


#: The columns :class:`Refit` gives per term: those of a fit's summary that Table 4 prints.
REFIT_COLUMNS = ("hr", "hr_lower", "hr_upper", "p")


class Refit:
    """The paper's model of one endpoint refitted many times on one model frame whose outcomes change.

    For a search that refits Table 4 after every move (the synthetic cohort's calibration).
    :meth:`terms` gives the numbers of :func:`fit_paper_model` on the frame as it is now: by the
    array estimators of the statistics core (:func:`~hsct_analysis.stats.cause_specific.cox_estimates`,
    :func:`~hsct_analysis.stats.fine_gray.fine_gray_estimates`) on a design built once per state of the
    frame's rows and factor columns (built again when either changes), and by :func:`fit_paper_model`
    itself wherever the Cox route treats the fit specially (separation, no convergence), a time is
    missing or negative, or the design cannot be built. Equal to it to about 1e-9 (checked in the tests).
    """

    def __init__(self, endpoint_name: str, reference: dict[str, str]):
        self.endpoint_name = endpoint_name
        self.reference = dict(reference)
        self.endpoint = endpoints.endpoint(endpoint_name)
        self._design: tuple[Design, np.ndarray, int, pd.DataFrame] | None = None
        #: How many refits took the array route (the rest went through :func:`fit_paper_model`).
        self.fast_fits = 0

    def _design_for(self, data: pd.DataFrame) -> tuple[Design, np.ndarray, int]:
        """The design of ``data``'s factors (built again when the rows or a factor value changed since the last
        build), the positions of its rows in ``data``, and the cause."""
        factors = data[list(self.reference)]
        if self._design is None or not self._design[3].equals(factors):
            options = RegressionOptions(reference=self.reference)
            cause = 1 if self.endpoint.method == "km" else self.endpoint.cause
            positional = data.reset_index(drop=True)
            design, cause = options.design(positional, "time", "status", list(self.reference), cause)
            self._design = (design, design.index.to_numpy(), cause, factors.copy())
        return self._design[:3]

    def terms(self, data: pd.DataFrame) -> dict[str, dict[str, float]] | str:
        """Per term ``factor[level]`` of the model, its hazard ratio, 95% limits and Wald p (:data:`REFIT_COLUMNS`)
        on ``data`` (its :func:`paper_model_frame`, with the current ``time`` and ``status``); or the string of
        :func:`fit_paper_model` when the model cannot be fitted."""
        fast = self._fast(data)
        if fast is not None:
            self.fast_fits += 1
            return fast
        fit = fit_paper_model(None, self.endpoint_name, self.reference, data=data)
        if isinstance(fit, str):
            return fit
        summary = fit[0].summary
        return {term: {c: float(summary.at[term, c]) for c in REFIT_COLUMNS} for term in summary.index}

    def _fast(self, data: pd.DataFrame) -> dict[str, dict[str, float]] | None:
        """The array route's numbers, or None where :func:`fit_paper_model` must decide."""
        try:
            template, rows, cause = self._design_for(data)
            time = data["time"].to_numpy(float)[rows]
            if not (np.isfinite(time).all() and (time >= 0).all()):
                return None
            design = Design(template.x, template.terms, time, data["status"].to_numpy(int)[rows], template.index)
            if self.endpoint.method == "km":
                fit = cox_estimates(design, cause)
                if fit is None:
                    return None
                coef, std_err, flagged = fit.coef, fit.std_err, set()
            else:  # fine_gray's own estimates, separation included
                coef, std_err, flagged, _ = fine_gray_estimates(design, cause, **NEWTON_DEFAULTS)
        except Exception:  # noqa: BLE001 - the full route says what is wrong with the data
            return None
        columns = wald_columns(coef, std_err, flagged, RegressionOptions().conf_level)
        return {t.name: {c: float(columns[c][j]) for c in REFIT_COLUMNS} for j, t in enumerate(design.terms)}
