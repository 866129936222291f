"""Table 4: the multivariable models, built the way the paper describes.

"Factors with a 2-sided p value <= 0.15 in a univariate analysis were subjected to
multivariate analysis" (Cao et al. 2023). For each endpoint:

1. :func:`screen` runs the univariate test of every candidate factor (log-rank for LFS/OS,
   Gray's test for RI/NRM) and keeps those with p <= 0.15.
2. :func:`fit_endpoint` fits the model on the kept factors: a Cox model for LFS and OS; for
   RI and NRM both a Fine-Gray model (subdistribution hazard: how the factor changes the
   cumulative incidence, the paper's choice) and a cause-specific Cox model (how the factor
   changes the rate of the event among patients still alive and event-free).
3. :func:`ph_check` tests proportional hazards with scaled Schoenfeld residuals
   (lifelines ``proportional_hazard_test``, rank time transform) on the Cox models.

Times are days; hazard ratios are per level against the factor's reference level (the first
level of :data:`hsct_analysis.cohort.factors.FACTORS`, as in the paper). Separation (a level with
no events) is reported as a flag by the fitting functions, never as an absurd hazard ratio.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.book import figures, privacy, tables
from hsct_analysis.book.report import not_available
from hsct_analysis.book.univariate import SHORT_LABEL, comparison_p, plain_numbers
from hsct_analysis.cohort import endpoints
from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.paper.models import fit_model, model_frame
from hsct_analysis.stats.cause_specific import cause_specific_cox
from hsct_analysis.stats.design import design_matrix
from hsct_analysis.stats.fine_gray import fine_gray

#: Table 4's endpoints in the paper's column order.
TABLE4_ENDPOINTS = ("lfs", "os", "relapse", "nrm")
#: Univariate p at or below which a factor enters the multivariable model.
SCREEN_P = 0.15
#: Candidate factors: all of Table 3 except the <=60-day cut, a second coding of the same
#: CAR-T-to-HSCT interval (the paper's models use the <=90-day cut).
CANDIDATES = tuple(name for name in FACTORS if name != "cart_interval_60")


def screen(
    cohort: pd.DataFrame, endpoint_name: str, threshold: float = SCREEN_P, candidates=CANDIDATES
) -> pd.DataFrame:
    """Univariate screening of ``candidates`` for one endpoint.

    Returns one row per factor (index ``factor``) with ``label``, ``p`` (log-rank or
    Gray's test), ``test``, ``selected`` (p <= ``threshold``) and ``note`` (why a p is
    missing, e.g. a single observed level).
    """
    cohort = plain_numbers(cohort)
    ep = endpoints.endpoint(endpoint_name)
    rows = []
    for name in candidates:
        p, note = comparison_p(cohort, endpoint_name, name)
        rows.append(
            {
                "factor": name,
                "label": FACTORS[name].label,
                "p": p,
                "test": ep.test_name,
                "selected": bool(np.isfinite(p) and p <= threshold),
                "note": note,
            }
        )
    return pd.DataFrame(rows).set_index("factor")


def references(factor_names: list[str]) -> dict[str, str]:
    """Reference level of each factor: its first level in FACTORS (the paper's reference)."""
    return {name: FACTORS[name].levels[0] for name in factor_names}


def _usable(data: pd.DataFrame, factor_names: list[str]) -> tuple[list[str], list[str]]:
    """Factors with at least two levels among complete cases, and notes on those left out."""
    complete = data.dropna()
    keep, notes = [], []
    for name in factor_names:
        present = set(complete[name])
        if len(present) < 2:
            notes.append(f"{FACTORS[name].label} left out: only one level among complete cases")
        else:
            keep.append(name)
    return keep, notes


def _reference_present(data: pd.DataFrame, factor_names: list[str]) -> dict[str, str]:
    """The paper's reference level where present, else the first level that is present."""
    complete = data.dropna()
    out = {}
    for name in factor_names:
        present = set(complete[name])
        out[name] = next(lv for lv in FACTORS[name].levels if lv in present)
    return out


@dataclass
class EndpointModel:
    """The multivariable analysis of one endpoint.

    ``summary`` is the Table 4 model (Cox for LFS/OS, Fine-Gray for RI/NRM), indexed by
    term (``factor[level]``) with columns coef, std_err, hr, hr_lower, hr_upper, p, reference,
    separation; ``cause_specific`` the cause-specific Cox model (RI/NRM only); ``ph`` the
    Schoenfeld test per term of the Cox / cause-specific Cox model (statistic, p).
    ``unavailable`` holds the reason when no model could be fitted; ``sizes`` the patients of each term's level and
    of its reference (:func:`~hsct_analysis.book.privacy.term_sizes`), for the small-cell rule.
    """

    endpoint: str
    method: str
    factors: list[str]
    screening: pd.DataFrame
    summary: pd.DataFrame | None = None
    cause_specific: pd.DataFrame | None = None
    ph: pd.DataFrame | None = None
    n: int = 0
    events: int = 0
    notes: list[str] = field(default_factory=list)
    unavailable: str = ""
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    total: int = 0  # the cohort's patients and events of the endpoint, shown elsewhere (its table, its curve)
    total_events: int = 0

    def shown(self, which: str, min_cell: int | None = None) -> pd.DataFrame | None:
        """The ``"summary"`` or ``"cause_specific"`` table with the terms of small levels withheld (privacy rule 7)."""
        table = getattr(self, which)
        return None if table is None else privacy.withhold_terms(table, self.sizes, min_cell)

    @property
    def label(self) -> str:
        return endpoints.endpoint(self.endpoint).label

    @property
    def separated_terms(self) -> list[str]:
        """Terms flagged as separated (not estimable) in either model."""
        out = []
        for table in (self.summary, self.cause_specific):
            if table is not None:
                out += [t for t in table.index[table["separation"].astype(bool)] if t not in out]
        return out


def fit_endpoint(
    cohort: pd.DataFrame,
    endpoint_name: str,
    factor_names: list[str] | None = None,
    threshold: float = SCREEN_P,
    conf_level: float = 0.95,
) -> EndpointModel:
    """Screen (unless ``factor_names`` is given) and fit the multivariable model(s) of one endpoint."""
    ep = endpoints.endpoint(endpoint_name)
    method = "Cox proportional hazards" if ep.method == "km" else "Fine-Gray subdistribution hazards"
    screening = screen(cohort, endpoint_name, threshold)
    chosen = list(factor_names) if factor_names is not None else list(screening.index[screening["selected"]])
    model = EndpointModel(endpoint_name, method, chosen, screening)
    if not endpoints.is_available(cohort, endpoint_name):
        model.unavailable = f"{ep.label} is not recorded in this cohort"
        return model
    if not chosen:
        model.unavailable = f"no factor reached p <= {threshold:g} in the univariate screening of {ep.label}"
        return model
    data = model_frame(cohort, endpoint_name, chosen)
    model.total, model.total_events = len(data), int((data["status"] == (1 if ep.method == "km" else ep.cause)).sum())
    chosen, notes = _usable(data, chosen)
    model.factors, model.notes = chosen, notes
    if not chosen:
        model.unavailable = "every selected factor has a single level among complete cases"
        return model
    data = data[chosen + ["time", "status"]]
    reference = _reference_present(data, chosen)
    try:
        fit = fit_model(data, endpoint_name, chosen, reference, conf_level=conf_level)  # the one Table 4 route
        model.summary, model.n, model.events = fit.summary, fit.n, fit.events
        model.sizes = privacy.term_sizes(fit.summary, data)
        model.notes += fit.notes
        if ep.method == "km":
            model.ph = ph_check(fit, data, chosen, reference)
        else:
            try:
                cs = cause_specific_cox(
                    data, "time", "status", chosen, cause=ep.cause, conf_level=conf_level, reference=reference
                )
            except Exception as err:  # noqa: BLE001 - a failed fit is reported on the page, not hidden
                model.notes.append(f"the cause-specific Cox model could not be fitted: {type(err).__name__}: {err}")
            else:
                model.cause_specific = cs.summary
                model.sizes.update(privacy.term_sizes(cs.summary, data))
                model.notes += [w for w in cs.notes if w not in model.notes]
                model.ph = ph_check(cs, data, chosen, reference)
    except ValueError as err:  # e.g. no events of the cause among complete cases
        model.unavailable = str(err)
    return model


def ph_check(result, data: pd.DataFrame, factor_names: list[str], reference: dict[str, str]) -> pd.DataFrame:
    """Scaled-Schoenfeld test of proportional hazards for each term of a fitted Cox model.

    ``result`` is a :class:`hsct_analysis.stats.regression.RegressionResult` of a cause-specific Cox model. Returns
    one row per term with ``statistic`` (chi-square, 1 df) and ``p`` (rank time transform);
    separated terms are left out (their residuals carry no information).
    """
    from lifelines.statistics import proportional_hazard_test

    design = design_matrix(data, "time", "status", factor_names, reference)
    frame = pd.DataFrame(design.x, columns=design.term_names)
    frame["_time"] = design.time
    frame["_event"] = (design.status == result.cause).astype(int)
    try:
        fitted = list(result.fitter.params_.index)
    except AttributeError:  # the Cox fit failed: nothing to test
        return pd.DataFrame(columns=["statistic", "p"])
    left_out = [name for name in design.term_names if name not in fitted]
    keep = (frame[left_out] == 0).all(axis=1) if left_out else pd.Series(True, index=frame.index)
    frame = frame.loc[keep, fitted + ["_time", "_event"]]
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        test = proportional_hazard_test(result.fitter, frame, time_transform="rank")
    out = test.summary[["test_statistic", "p"]].rename(columns={"test_statistic": "statistic"})
    out.index = [str(i[0]) if isinstance(i, tuple) else str(i) for i in out.index]
    flagged = set(result.summary.index[result.summary["separation"].astype(bool)])
    return out.drop(index=[t for t in out.index if t in flagged])


def table4(
    cohort: pd.DataFrame,
    endpoint_names=TABLE4_ENDPOINTS,
    factor_names: dict[str, list[str]] | None = None,
    threshold: float = SCREEN_P,
    conf_level: float = 0.95,
) -> dict[str, EndpointModel]:
    """:func:`fit_endpoint` for each endpoint; ``factor_names`` may fix an endpoint's factors."""
    factor_names = factor_names or {}
    return {name: fit_endpoint(cohort, name, factor_names.get(name), threshold, conf_level) for name in endpoint_names}


def layout(models: dict[str, EndpointModel], which: str = "summary", min_cell: int | None = None) -> pd.DataFrame:
    """Table 4 as the paper lays it out: rows (variable, level), per endpoint "HR (95% CI)" and "p".

    ``which`` is ``"summary"`` (Cox / Fine-Gray) or ``"cause_specific"``. Reference levels
    read "1 (reference)", separated terms "not estimable (separation)", terms of a level (or against a reference)
    of fewer than ``min_cell`` patients "not shown (...)"; an endpoint without a model has no columns.
    """
    parts = []
    for name, model in models.items():
        table = model.shown(which, min_cell)
        if table is None or table.empty:
            continue
        short = SHORT_LABEL.get(name, name)
        part = tables.regression_table(table, references(model.factors), hr_column=f"{short} HR (95% CI)")
        parts.append(part.rename(columns={"p": f"p ({short})"}))
    if not parts:
        return pd.DataFrame()
    order = list(dict.fromkeys(key for part in parts for key in part.index))
    out = pd.concat([part.reindex(order) for part in parts], axis=1)
    out.index = pd.MultiIndex.from_tuples(order, names=parts[0].index.names)
    return out.fillna("")


#: The forest plots of a model (:func:`forest`): (x-axis label, the model's name in the title) by ``which``.
FOREST_KINDS = {
    "cox": ("Hazard ratio (95% CI, log scale)", "Cox model"),
    "fine_gray": ("Subdistribution HR (95% CI, log scale)", "Fine-Gray"),
    "cause_specific": ("Cause-specific HR (95% CI, log scale)", "cause-specific Cox"),
}


def forest(model: EndpointModel, which: str, min_cell: int | None = None, published=None):
    """The forest plot of one model of ``model``: ``which`` is ``"cox"`` or ``"fine_gray"`` (the Table 4 model,
    titled with its patients and events, counts masked below ``min_cell``, or where they would reveal a small
    count by subtraction from the cohort's: :func:`~hsct_analysis.book.privacy.model_counts`) or ``"cause_specific"``; a term of a level
    (or against a reference) of fewer than ``min_cell`` patients is not drawn, its reason in its place; ``published``
    as in :func:`~hsct_analysis.book.figures.plot_forest`. None when that model was not fitted (nothing to draw;
    :func:`unavailable_notes` says why)."""
    xlabel, name = FOREST_KINDS[which]
    table = model.shown("cause_specific" if which == "cause_specific" else "summary", min_cell)
    if table is None:
        return None
    title = f"{model.label}: {name}"
    if which != "cause_specific":
        n, events = privacy.model_counts(model.n, model.events, model.total, model.total_events, min_cell)
        title += f" (n = {n}, {events} events)"
    return figures.plot_forest(table, title=title, xlabel=xlabel, published=published)


def complete_cases(models: dict[str, EndpointModel], min_cell: int | None = None) -> str:
    """The patients each fitted model uses, out of the cohort's: "LFS 85 of 95; OS 95 of 95". A model is fitted on
    the patients with every one of its factors recorded (complete cases); counts masked as in the model's title
    (:func:`~hsct_analysis.book.privacy.model_counts`)."""
    parts = []
    for name, model in models.items():
        if model.summary is not None:
            n, _ = privacy.model_counts(model.n, model.events, model.total, model.total_events, min_cell)
            parts.append(f"{SHORT_LABEL.get(name, name)} {n} of {privacy.count_text(model.total, min_cell)}")
    return "; ".join(parts) or "no model was fitted"


def factor_labels(factor_names) -> str:
    """The labels of ``factor_names`` (keys of ``FACTORS``), comma-separated; ``"none"`` for no factor."""
    return ", ".join(FACTORS[name].label for name in factor_names) or "none"


def model_sets(models: dict[str, EndpointModel], paper_sets: dict[str, list[str]] | None = None) -> str:
    """The factors each endpoint's model uses here, with the paper's where ``paper_sets`` gives them.

    E.g. ``"LFS: here Disease status (paper: Disease status, ATG type); OS: here none"``.
    """
    parts = []
    for name, model in models.items():
        text = f"{model.label}: here {factor_labels(model.factors)}"
        if paper_sets:
            text += f" (paper: {factor_labels(paper_sets.get(name, []))})"
        parts.append(text)
    return "; ".join(parts)


def unavailable_notes(models: dict[str, EndpointModel], names: list[str]) -> str:
    """Markdown: the not-available sentence of each model among ``names`` that could not be fitted (``""`` if all were),
    its reason in the reader's words (:func:`~hsct_analysis.book.tables.plain_note`)."""
    return "\n\n".join(
        not_available(f"The model for {models[n].label}", tables.plain_note(models[n].unavailable))
        for n in names
        if models[n].unavailable
    )


def screening_table(models: dict[str, EndpointModel]) -> pd.DataFrame:
    """Factor x endpoint univariate p-values, "p (kept)" where the factor entered the model."""
    cols = {}
    for name, model in models.items():
        s = model.screening
        cols[SHORT_LABEL.get(name, name)] = [
            (tables.format_p(p) + (" ✔ kept" if kept else "")) if np.isfinite(p) else "NA"
            for p, kept in zip(s["p"], s["selected"])
        ]
    first = next(iter(models.values())).screening
    return pd.DataFrame(cols, index=pd.Index(first["label"], name="Factor"))


def event_counts(cohort: pd.DataFrame, endpoint_name: str, factor_name: str) -> pd.DataFrame:
    """Patients and events of an endpoint by level of a factor (index: the levels, named by the factor's label).

    Columns ``patients``, ``events`` (the endpoint's event or cause), ``competing`` (the
    competing cause, 0 for LFS/OS) and ``censored``.
    """
    ep = endpoints.endpoint(endpoint_name)
    data = model_frame(cohort, endpoint_name, [factor_name]).dropna()
    status = data["status"]
    grouped = pd.DataFrame(
        {
            "level": data[factor_name],
            "events": (status == ep.cause).astype(int),
            "competing": ((status > 0) & (status != ep.cause)).astype(int),
            "censored": (status == 0).astype(int),
        }
    ).groupby("level")
    out = grouped.sum()
    out.insert(0, "patients", grouped.size())
    order = [lv for lv in FACTORS[factor_name].levels if lv in out.index]
    return out.loc[order].rename_axis(FACTORS[factor_name].label)  # the index is read as the factor's name


def refit_without_events(
    cohort: pd.DataFrame, endpoint_name: str, factor_name: str, level: str, conf_level: float = 0.95
) -> pd.DataFrame:
    """A what-if: the Fine-Gray model of ``factor_name`` after the events of ``level`` are censored.

    Each patient of ``level`` who had the endpoint's event is recoded as censored at the same
    day; nothing else changes. This shows what a model does when a level has no event at
    all (separation) - the situation behind a published HR of 1E+06. Returns the Fine-Gray
    summary (separation flagged); the cohort itself is not modified.
    """
    ep = endpoints.endpoint(endpoint_name)
    data = model_frame(cohort, endpoint_name, [factor_name]).dropna()
    hit = (data[factor_name] == level) & (data["status"] == ep.cause)
    data.loc[hit, "status"] = 0
    reference = _reference_present(data, [factor_name])
    fit = fine_gray(data, "time", "status", [factor_name], cause=ep.cause, conf_level=conf_level, reference=reference)
    out = fit.summary.copy()
    out.attrs["recoded"] = int(hit.sum())
    out.attrs["notes"] = fit.notes
    return out


def _given_references(summary: pd.DataFrame) -> dict[str, str]:
    """Reference level per variable as a model summary names it (column ``reference``), if it does."""
    if "reference" not in summary.columns:
        return {}
    out = {}
    for term, ref in summary["reference"].items():
        variable, _ = tables.term_parts(term)
        if isinstance(ref, str) and ref:
            out[variable] = ref
    return out


def ph_table(models: dict[str, EndpointModel], min_cell: int | None = None) -> tuple[pd.DataFrame, str]:
    """The proportional-hazards checks of every model as a reader table, and the smallest p in words.

    Columns: Model, Term (in the reader's words), Test statistic (chi-square, 1 df), p. The text names the
    smallest p-value with its model and term ("0.018 (Non-relapse mortality, CAR-T to second HSCT: > 90 vs
    ≤ 90)"), or is empty when no model was checked. A term whose hazard ratio is withheld (privacy rule 7, a level
    or reference of fewer than ``min_cell`` patients) shows no test either.
    """
    rows = []
    for model in models.values():
        if model.ph is None or not len(model.ph):
            continue
        refs = references(model.factors)
        for term, r in model.ph.iterrows():
            withheld = privacy.term_withheld(model.sizes.get(str(term), (0, 0)), min_cell)  # unknown: not shown
            rows.append(
                {
                    "Model": model.label,
                    "Term": tables.term_label(term, refs),
                    "Test statistic": np.nan if withheld else float(r["statistic"]),
                    "p": np.nan if withheld else float(r["p"]),
                    "withheld": withheld,
                }
            )
    frame = pd.DataFrame(rows, columns=["Model", "Term", "Test statistic", "p", "withheld"])
    text = ""
    if frame["p"].notna().any():
        low = frame.loc[frame["p"].idxmin()]
        text = f"{tables.format_p(low['p'])} ({low['Model']}, {low['Term']})"
    frame["Test statistic"] = [w or f"{x:.2f}" for x, w in zip(frame["Test statistic"], frame["withheld"])]
    frame["p"] = ["" if w else tables.format_p(x) for x, w in zip(frame["p"], frame["withheld"])]
    return frame.drop(columns="withheld"), text


def describe_hrs(summary: pd.DataFrame) -> str:
    """One line per model term: "term: HR (95% CI)", "not estimable (separation)" for a separated term, or the text
    of a term withheld for privacy (column ``withheld``, :func:`~hsct_analysis.book.privacy.withhold_terms`): the
    text of the regression table's cell (:func:`~hsct_analysis.book.tables.hr_text`)."""
    return "; ".join(
        f"{tables.term_label(term, _given_references(summary))}: {tables.hr_text(row)}"
        for term, row in summary.iterrows()
    )


SEPARATION_KEYS = ("atgf_relapses", "atg_fg_text", "atg_fg_flag", "atg_whatif_text")


def separation_example(
    cohort: pd.DataFrame,
    endpoint_name: str = "relapse",
    factor_name: str = "atg_type",
    min_cell: int | None = None,
    conf_level: float = 0.95,
) -> dict[str, str] | None:
    """The separation story of chapter 7 as reader text: events in the reference level, the Fine-Gray HRs
    with the separation flag, and the what-if refit with the reference level's events censored.

    Returns ``None`` when the endpoint is not recorded or the factor has fewer than two levels; otherwise a
    dict with the keys :data:`SEPARATION_KEYS` (counts below ``min_cell`` masked).
    """
    if not endpoints.is_available(cohort, endpoint_name) or cohort[factor_name].dropna().nunique() < 2:
        return None
    found = {}
    counts = event_counts(cohort, endpoint_name, factor_name)
    ref = counts.index[0]
    # the same cell as in the outcome table: masked with its row and column (privacy rule 3)
    shown = privacy.suppress_table(
        counts, min_cell, ["events", "competing", "censored"], "patients", column_totals=True
    )
    found["atgf_relapses"] = f"{shown['events'].iloc[0]} ({ref})"
    fit = fit_endpoint(cohort, endpoint_name, [factor_name], conf_level=conf_level)
    if fit.summary is None:
        found["atg_fg_text"], found["atg_fg_flag"] = fit.unavailable, "not applicable"
    else:
        found["atg_fg_text"] = describe_hrs(fit.shown("summary", min_cell))
        flagged = [t for t in fit.separated_terms if not fit.shown("summary", min_cell).loc[t, "withheld"]]
        names = [tables.term_label(t, _given_references(fit.summary)) for t in flagged]
        found["atg_fg_flag"] = ("raised for " + ", ".join(names)) if flagged else "not raised: every level has an event"
    try:
        whatif = refit_without_events(cohort, endpoint_name, factor_name, ref, conf_level)
        sizes = privacy.term_sizes(whatif, model_frame(cohort, endpoint_name, [factor_name]).dropna())
        found["atg_whatif_text"] = describe_hrs(privacy.withhold_terms(whatif, sizes, min_cell))
    except ValueError as err:
        found["atg_whatif_text"] = f"no model ({err})"
    return found
