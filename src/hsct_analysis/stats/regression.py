"""The one result type of the competing-risks regressions: Fine-Gray and cause-specific Cox.

:func:`hsct_analysis.stats.fine_gray.fine_gray` and
:func:`hsct_analysis.stats.cause_specific.cause_specific_cox` both return a
:class:`RegressionResult`, so the two models print, plot and predict the same way:

- ``summary``: a DataFrame indexed by term (``"covariate[level]"`` or ``"covariate"``) with
  ``coef``, ``std_err``, ``hr``, ``hr_lower``, ``hr_upper``, ``p``, ``reference``, ``separation``;
- ``plot(ax)``: a forest plot of the hazard ratios on the given matplotlib Axes;
- ``predict(profiles)``: the cumulative incidence of the cause for covariate profiles.

Times are in days; cumulative incidences are proportions (0-1).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from hsct_analysis.stats.counting import check_cause
from hsct_analysis.stats.design import Design, Term, design_matrix, profile_matrix
from hsct_analysis.stats.docstrings import substitute

__all__ = ["RegressionResult", "RegressionOptions", "coefficient_table", "wald_columns", "SUMMARY_COLUMNS"]

#: Columns of :attr:`RegressionResult.summary`, in order.
SUMMARY_COLUMNS = ("coef", "std_err", "hr", "hr_lower", "hr_upper", "p", "reference", "separation")


def wald_columns(coef, std_err, flagged: Collection[int], conf_level: float) -> dict[str, np.ndarray]:
    """The Wald columns of a coefficient table as arrays: ``coef``, ``std_err``, ``hr = exp(coef)``,
    the limits ``hr_lower``/``hr_upper`` = ``exp(coef -+ z std_err)`` (``conf_level`` two-sided) and the
    two-sided Wald ``p``. Flagged (separated) columns get coef +-inf, hr inf or 0, and NaN std_err,
    limits and p; a flagged column with no direction (coef 0 or NaN: not estimable) gets NaN throughout."""
    coef = np.array(coef, dtype=float)
    std_err = np.array(std_err, dtype=float)
    for j in flagged:
        coef[j] = np.copysign(np.inf, coef[j]) if coef[j] != 0 and not np.isnan(coef[j]) else np.nan
        std_err[j] = np.nan
    z = stats.norm.ppf(0.5 + conf_level / 2)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        columns = {
            "coef": coef,
            "std_err": std_err,
            "hr": np.exp(coef),
            "hr_lower": np.exp(coef - z * std_err),
            "hr_upper": np.exp(coef + z * std_err),
            "p": 2 * stats.norm.sf(np.abs(coef / std_err)),
        }
    separated = np.isin(np.arange(len(coef)), list(flagged))
    for name in ("hr_lower", "hr_upper", "p"):
        columns[name][separated] = np.nan
    return columns


def coefficient_table(
    terms: list[Term], coef: np.ndarray, std_err: np.ndarray, flagged: set[int], conf_level: float
) -> pd.DataFrame:
    """Coefficient table indexed by term, with the columns of :data:`SUMMARY_COLUMNS` (the Wald
    columns of :func:`wald_columns`, the reference level and whether the term is separated)."""
    columns = wald_columns(coef, std_err, flagged, conf_level)
    return pd.DataFrame(
        {
            **columns,
            "reference": [t.reference for t in terms],
            "separation": [j in flagged for j in range(len(columns["coef"]))],
        },
        index=pd.Index([t.name for t in terms], name="term"),
    )


@substitute()
@dataclass(frozen=True)
class RegressionOptions:
    """The keyword options every competing-risks regression takes, declared once.

    :func:`~hsct_analysis.stats.fine_gray.fine_gray` and
    :func:`~hsct_analysis.stats.cause_specific.cause_specific_cox` take ``(data, time, status,
    covariates, cause=1, **options)``; these are the options they share, with their defaults.
    Each model adds its own (see its ``options``).

    Attributes
    ----------
    %(regression_option_fields)s
    """

    cencode: int = 0
    conf_level: float = 0.95
    reference: dict[str, str] | None = None
    categorical: list[str] | None = None
    numeric: list[str] | None = None

    @classmethod
    def split(cls, options: dict, own: Collection[str] | None = ()) -> tuple[RegressionOptions, dict]:
        """These options, and the rest (the model's own).

        ``own`` names the options the model itself takes; any other name raises ValueError
        listing the known ones. ``own=None`` passes every other name through unchecked (to a
        fitting library that checks its own keywords).
        """
        shared = {f.name for f in fields(cls)}
        rest = {k: v for k, v in options.items() if k not in shared}
        if own is not None:
            known = sorted(shared | set(own))
            for name in rest:
                if name not in own:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise ValueError(f"unknown option {name!r}{hint}; the options are {known}")
        return cls(**{k: v for k, v in options.items() if k in shared}), rest

    def design(
        self, data: pd.DataFrame, time: str, status: str, covariates: list[str], cause: int
    ) -> tuple[Design, int]:
        """The complete-case design of the model (:func:`~hsct_analysis.stats.design.design_matrix`), and ``cause`` as an int."""
        cause, cencode = check_cause(cause, self.cencode)
        design = design_matrix(
            data,
            time,
            status,
            covariates,
            self.reference,
            categorical=self.categorical,
            numeric=self.numeric,
            cencode=cencode,
        )
        return design, cause

    def result(
        self, method: str, design: Design, cause: int, fit: tuple[np.ndarray, np.ndarray, set[int]], **fitted
    ) -> RegressionResult:
        """The result of a fit of ``design``: ``fit`` = (coef, std_err, flagged columns); ``fitted``
        holds the other fields of :class:`RegressionResult` that the model computes (variance and
        information as arrays). Counts, terms and the options come from here.
        """
        names = design.term_names
        coef, std_err, flagged = fit
        status = design.status
        for matrix in ("variance", "information"):
            fitted[matrix] = pd.DataFrame(fitted[matrix], index=names, columns=names)
        return RegressionResult(
            method=method,
            summary=coefficient_table(design.terms, coef, std_err, flagged, self.conf_level),
            n=len(status),
            events=int((status == cause).sum()),
            competing_events=int(((status != 0) & (status != cause)).sum()),
            censored=int((status == 0).sum()),
            cause=cause,
            cencode=int(self.cencode),
            conf_level=self.conf_level,
            terms=design.terms,
            **fitted,
        )


@dataclass
class RegressionResult:
    """A fitted Fine-Gray or cause-specific Cox model for one cause.

    Attributes
    ----------
    method : str
        ``"fine-gray"`` (subdistribution hazards, R ``cmprsk::crr``) or
        ``"cause-specific cox"`` (R ``coxph(Surv(time, status == cause) ~ ...)``).
    summary : pandas.DataFrame
        Indexed by term, columns ``coef`` (log hazard ratio), ``std_err`` (Fine-Gray: crr's
        sandwich standard error; Cox: inverse information, as coxph), ``hr`` (exp(coef)),
        ``hr_lower``, ``hr_upper`` (Wald limits at ``conf_level``), ``p`` (two-sided Wald),
        ``reference`` (the reference level of a categorical term) and ``separation`` (True
        where the estimate runs off to +-infinity; coef is then +-inf, hr inf or 0, and
        std_err, limits and p are NaN).
    variance : pandas.DataFrame
        Covariance matrix of the coefficients (the variance whose diagonal is std_err**2).
    information : pandas.DataFrame
        Minus the Hessian of the log (pseudo-)likelihood at the estimate.
    converged : bool
    iterations : int
    n : int
        Patients used (complete cases).
    events, competing_events, censored : int
        Patients with the cause, with another cause, censored.
    loglik, loglik_null : float
        Log (pseudo-)partial likelihood at the estimate and at coef = 0.
    cause, cencode : int
        The cause modelled and the censoring code of the status column.
    conf_level : float
    notes : list of str
        What the final fit did and what was done to the data: patients dropped for missing
        values, separation, non-convergence, warnings of the fitting routine.
    terms : list of Term
        The design's columns (covariate, level, reference).
    fitter : object or None
        The fitted lifelines ``CoxPHFitter`` of a cause-specific model; None for Fine-Gray.
    """

    method: str
    summary: pd.DataFrame
    variance: pd.DataFrame
    information: pd.DataFrame
    converged: bool
    iterations: int
    n: int
    events: int
    competing_events: int
    censored: int
    loglik: float
    loglik_null: float
    cause: int
    cencode: int
    conf_level: float
    notes: list[str] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list, repr=False)
    fitter: object = field(default=None, repr=False)
    _predict: Callable | None = field(default=None, repr=False)
    _baseline: Callable | None = field(default=None, repr=False)

    @property
    def reference(self) -> dict[str, str]:
        """Reference level of each categorical covariate."""
        return {t.covariate: t.reference for t in self.terms if t.reference is not None}

    @property
    def hazard_ratio_label(self) -> str:
        """``"subdistribution hazard ratio"`` or ``"cause-specific hazard ratio"``."""
        return "subdistribution hazard ratio" if self.method == "fine-gray" else "cause-specific hazard ratio"

    def baseline_cumulative_hazard(self) -> pd.Series:
        """Baseline cumulative (subdistribution or cause-specific) hazard of the cause.

        All covariates 0 (numeric ones at 0, categorical ones at their reference), indexed
        by the event times of the cause in days. Fine-Gray: ``predict.crr``'s baseline;
        cause-specific Cox: the Breslow estimator.
        """
        return self._baseline()

    def predict(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """Cumulative incidence of the cause for covariate ``profiles``.

        Parameters
        ----------
        profiles : pandas.DataFrame
            One row per profile, with the model's covariate columns holding raw values
            (e.g. ``group="B"``, ``age=50``); categorical values must be levels seen in the fit.

        Returns
        -------
        pandas.DataFrame
            Proportions (0-1) indexed by the event times (days), one column per profile,
            named by the profile index. Fine-Gray: ``1 - exp(-Lambda0(t) exp(z b))``, equal to
            R ``predict.crr``. Cause-specific Cox: the Aalen-Johansen combination of the
            cause-specific hazards of every cause (a Cox model with the same covariates is
            fitted for each competing cause; Breslow baseline hazards), i.e.
            ``sum_{s<=t} S(s-|z) dLambda_cause(s|z)`` with ``S`` the product-limit event-free
            survival; it equals the Aalen-Johansen estimate when no covariate is used.
        """
        if not isinstance(profiles, pd.DataFrame):
            raise ValueError(f"profiles must be a pandas DataFrame, got {type(profiles).__name__}")
        z = profile_matrix(profiles, self.terms)
        cif, times = self._predict(z)
        return pd.DataFrame(cif, index=pd.Index(times, name="time"), columns=profiles.index)

    def plot(self, ax=None, **errorbar_kwargs):
        """Forest plot of the hazard ratios with their confidence intervals (log scale).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure is made if omitted. No global style is changed.
        **errorbar_kwargs
            Passed to ``Axes.errorbar`` (defaults: black squares, caps of 3 points).

        Returns
        -------
        matplotlib.axes.Axes
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(self.summary)))
        tab = self.summary.iloc[::-1]
        y = np.arange(len(tab))
        ok = ~tab["separation"].to_numpy(dtype=bool)
        style = {"fmt": "s", "color": "black", "capsize": 3, **errorbar_kwargs}
        ax.errorbar(
            tab["hr"][ok],
            y[ok],
            xerr=[(tab["hr"] - tab["hr_lower"])[ok], (tab["hr_upper"] - tab["hr"])[ok]],
            **style,
        )
        for yy in y[~ok]:
            ax.annotate("separation: not estimable", (1, yy), ha="center", va="center", color="firebrick")
        ax.axvline(1, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(y, tab.index)
        ax.set_xlabel(f"{self.hazard_ratio_label} ({self.conf_level:.0%} CI)")
        return ax
