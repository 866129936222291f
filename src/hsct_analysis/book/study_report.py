"""The book of a study file without a published paper: reader-ready results from a study's cohort.

Every function takes a :class:`~hsct_analysis.cohort.study.StudyCohort` (from
:func:`~hsct_analysis.cohort.study.read_cohort`) and returns what a chapter shows: a pandas DataFrame
(rendered as an HTML table; pandas escapes every cell and label), a matplotlib Figure, a :class:`Text`
(Markdown whose user text is escaped) or a :class:`Notice`, the rendered sentence saying what is not
available and why. Data shapes that make an analysis impossible (one group, one level, an empty level,
no events, everyone censored, a model that does not converge) give a :class:`Notice`, never an exception.

Conventions:

- Times are days inside (as in :mod:`hsct_analysis.stats`); tables and prose show them in the study's
  units (``estimates.unit`` for the time points, ``cohort.time_unit`` for follow-up), figures in months.
- Estimates are percentages with the study's confidence level and transforms (``estimates.km_ci`` for
  Kaplan-Meier, ``estimates.cif_ci`` for cumulative incidences); a time point after a group's last
  follow-up reads "NA (follow-up too short)": a curve is never extrapolated.
- ``min_cell`` (None: the study file's ``min_cell``) applies the rules of :mod:`hsct_analysis.book.privacy`:
  counts of 1 to min_cell - 1 read "<min_cell", counts that would reveal one by subtraction read "*",
  continuous rows show the IQR instead of the range, and estimates of a group whose size is hidden are
  not shown.
- Survival endpoints are compared with the log-rank test, competing-risks endpoints with Gray's test;
  multivariable models are Cox models (survival endpoints) and Fine-Gray and/or cause-specific Cox
  models (competing-risks endpoints, as ``risk_factors.multivariable.models`` asks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hsct_analysis.book import baseline as book_baseline
from hsct_analysis.book import figures, privacy, tables
from hsct_analysis.book.build import escape_markdown
from hsct_analysis.book.text import Text
from hsct_analysis.cohort import enrolment
from hsct_analysis.cohort import standard_endpoints as se
from hsct_analysis.cohort.study import DAYS_PER_UNIT, StudyCohort
from hsct_analysis.stats import competing, survival
from hsct_analysis.stats.cause_specific import cause_specific_cox
from hsct_analysis.stats.fine_gray import fine_gray
from hsct_analysis.stats.units import DAYS_PER_MONTH

__all__ = [
    "Notice",
    "Text",
    "Numbering",
    "EndpointInfo",
    "Comparison",
    "MultivariableResult",
    "resolve_min_cell",
    "model_counts",
    "endpoint_info",
    "about",
    "followup",
    "followup_text",
    "baseline_table",
    "baseline_tables",
    "curve",
    "estimates",
    "endpoint_table",
    "endpoint_notices",
    "endpoint_figure",
    "compare",
    "univariate",
    "univariate_table",
    "multivariable",
    "model_table",
    "forest_plot",
    "screening_table",
    "privacy_note",
    "count_text",
    "time_labels",
    "show",
]

BEYOND_FOLLOWUP = "NA (follow-up too short)"
MODEL_NAMES = {
    "cox": "Cox proportional hazards",
    "fine_gray": "Fine-Gray subdistribution hazards",
    "cause_specific": "cause-specific Cox",
}


# --------------------------------------------------------------------------------------- rendered text


@dataclass(frozen=True)
class Notice:
    """What is not available and why, rendered as one sentence (``what`` and ``why`` are plain text)."""

    what: str
    why: str

    @property
    def sentence(self) -> str:
        """The plain sentence, e.g. "Gray's test ... is not available: only one level is observed."."""
        return f"{self.what} is not available: {self.why}."

    @property
    def markdown(self) -> str:
        return f"**{escape_markdown(self.what)} is not available:** {escape_markdown(self.why)}."

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __str__(self) -> str:
        return self.sentence


def md(text: Any) -> str:
    """User text (a label from the study file) for Markdown: every punctuation character escaped."""
    return escape_markdown(str(text))


class Numbering:
    """Numbered captions of one chapter: ``Figure 2.1``, ``Table 2.1``, ... (chapter number first, so that
    chapters executed separately never share a number)."""

    def __init__(self, chapter: int):
        self.chapter = int(chapter)
        self.counts = {"Figure": 0, "Table": 0}

    def _caption(self, kind: str, text: str) -> Text:
        self.counts[kind] += 1
        return Text(f"**{kind} {self.chapter}.{self.counts[kind]}.** {md(text)}")

    def figure(self, text: str) -> Text:
        return self._caption("Figure", text)

    def table(self, text: str) -> Text:
        return self._caption("Table", text)


def privacy_note(cohort: StudyCohort, min_cell: int | None = None) -> Text | None:
    """The sentence under tables with masked counts (None when nothing is masked)."""
    n = resolve_min_cell(cohort, min_cell)
    if not privacy.masking(n):
        return None
    return Text(
        f'Counts of 1 to {n - 1} patients are shown as "<{n}"; a "{privacy.COMPLEMENTARY}" hides a larger '
        f"count so that a small one cannot be recovered from a total; zeros are shown as 0. Continuous values "
        f"are summarised by the median and interquartile range (IQR), whose ends are not single patients' values."
    )


def model_counts(cohort: StudyCohort, result: MultivariableResult, min_cell: int | None = None) -> tuple[Any, Any]:
    """The patients and events of a multivariable model for its caption, masked where small or where the cohort's
    own counts of the endpoint would give back a small count by subtraction
    (:func:`~hsct_analysis.book.privacy.model_counts`)."""
    status = cohort.endpoints[result.endpoint].status
    cause = endpoint_info(cohort, result.endpoint).cause
    total_events = int(np.sum(status == cause))
    return privacy.model_counts(result.n, result.events, len(status), total_events, resolve_min_cell(cohort, min_cell))


def count_text(cohort: StudyCohort, count: int, min_cell: int | None = None) -> Any:
    """A count for prose or a caption: "<min_cell" when it is 1 to min_cell - 1, else the count."""
    return privacy.count_text(int(count), resolve_min_cell(cohort, min_cell))


def show(*items) -> None:
    """Display each item in a notebook (DataFrame, Figure, Text, Notice, or a list of them)."""
    from IPython.display import display

    for item in items:
        if isinstance(item, (list, tuple)):
            show(*item)
        elif item is not None:
            display(item)


# --------------------------------------------------------------------------------------- the study


def resolve_min_cell(cohort: StudyCohort, min_cell: int | None = None) -> int | None:
    """The small-cell threshold in force: ``min_cell`` when given, else the study file's ``min_cell``."""
    return cohort.study.min_cell if min_cell is None else int(min_cell)


@dataclass(frozen=True)
class EndpointInfo:
    """An endpoint of the study: ``kind`` "km" or "cif", the status ``cause`` counted as its event, the
    event's name and the competing events' names, in status-code order (2, 3, ...)."""

    name: str
    label: str
    kind: str  # "km" or "cif"
    cause: int = 1
    event: str = ""
    competing: tuple[str, ...] = ()

    @property
    def estimator(self) -> str:
        return "Kaplan-Meier" if self.kind == "km" else "cumulative incidence"

    @property
    def test(self) -> str:
        return "log-rank" if self.kind == "km" else "Gray's test"


def endpoint_info(cohort: StudyCohort, name: str) -> EndpointInfo:
    """The label, estimator and events of endpoint ``name`` (standard or custom)."""
    study = cohort.study
    if name in study.custom_endpoints:
        ep = study.custom_endpoints[name]
        event = f"{' or '.join(ep.event.codes)} in column {ep.event.column}"
        return EndpointInfo(name, ep.label, ep.kind, 1, event, tuple(c.label for c in ep.competing))
    ep = se.standard_endpoint(name)
    return EndpointInfo(name, ep.label, ep.kind, ep.cause, ep.codes[ep.cause], ep.competing)


def _unit_text(value: float, unit: str) -> str:
    word = unit[:-1] if float(value) == 1 else unit
    return f"{value:g} {word}"


def time_labels(cohort: StudyCohort) -> list[str]:
    """The study's time points as text in their unit, e.g. ``["1 year", "2 years"]``."""
    return [_unit_text(t, cohort.study.times_unit) for t in cohort.study.times]


def _in_unit(days: float, unit: str) -> float:
    return float(days) / DAYS_PER_UNIT[unit]


def _duration(days: float, unit: str) -> str:
    value = _in_unit(days, unit)
    return _unit_text(round(value) if unit == "days" else round(value, 1), unit)


# --------------------------------------------------------------------------------------- follow-up


def followup(cohort: StudyCohort) -> dict | Notice:
    """Median follow-up by the reverse Kaplan-Meier method (days) and what it was computed on.

    With vital status (``cohort.followup`` and ``cohort.dead``) it is overall survival's; otherwise the
    first survival endpoint of the study (its event then ends a patient's follow-up). Returns a dict with
    ``median``, ``lower``, ``upper``, ``minimum``, ``maximum`` (days), ``basis`` (the endpoint's label) and
    ``censored`` (patients without the event), or a Notice.
    """
    what = "The median follow-up"
    if cohort.followup_days is not None and cohort.dead is not None:
        time, event, basis = cohort.followup_days, cohort.dead, "overall survival"
    else:
        km = [n for n in cohort.study.endpoint_names if endpoint_info(cohort, n).kind == "km"]
        if not km:
            return Notice(
                what,
                "the study file declares neither vital status (cohort.followup and cohort.dead) nor a survival endpoint",
            )
        data = cohort.endpoints[km[0]]
        time, event, basis = data.time, (data.status == 1).astype(int), endpoint_info(cohort, km[0]).label
    if len(time) == 0:
        return Notice(what, "the cohort has no patients")
    if int(np.sum(event == 0)) == 0:
        return Notice(
            what, f"every patient had the event of {basis}, so no patient was followed to the end of the study"
        )
    fu = survival.median_followup(time, event)
    if not np.isfinite(fu.median):
        return Notice(what, f"the reverse Kaplan-Meier curve of {basis} does not fall to 50%")
    return {
        "median": fu.median,
        "lower": fu.lower,
        "upper": fu.upper,
        "minimum": fu.minimum,
        "maximum": fu.maximum,
        "basis": basis,
        "censored": int(np.sum(event == 0)),
    }


def followup_text(cohort: StudyCohort, min_cell: int | None = None) -> Text | Notice:
    """One sentence on the median follow-up, in the cohort's time unit (the range is left out with
    ``min_cell``: its ends are single patients' values)."""
    fu = followup(cohort)
    if isinstance(fu, Notice):
        return fu
    unit = cohort.study.time_unit
    ci = (
        ""
        if not np.isfinite(fu["lower"])
        else (
            f" (95% CI {_duration(fu['lower'], unit)} to "
            + (_duration(fu["upper"], unit) if np.isfinite(fu["upper"]) else "not reached")
            + ")"
        )
    )
    spread = (
        ""
        if privacy.masking(resolve_min_cell(cohort, min_cell))
        else (f"; follow-up times range from {_duration(fu['minimum'], unit)} to {_duration(fu['maximum'], unit)}")
    )
    return Text(
        f"Median follow-up (reverse Kaplan-Meier on {md(fu['basis'])}, in which the event is treated as censoring "
        f"and censoring as the event): **{md(_duration(fu['median'], unit))}**{md(ci)}{md(spread)}."
    )


# --------------------------------------------------------------------------------------- about


def about(cohort: StudyCohort, min_cell: int | None = None) -> Text:
    """The study's title, authors, cohort (size, time zero, time unit, follow-up), endpoints with their
    competing events, time points and factors, as Markdown."""
    study = cohort.study
    n = privacy.count_text(len(cohort.ids), resolve_min_cell(cohort, min_cell))
    lines = [f"**{md(study.title)}**", ""]
    if study.authors:
        lines += [f"Authors: {md(', '.join(study.authors))}", ""]
    lines += [
        f"- Patients: **{md(n)}** (cohort file {md(study.cohort_file.name)})",
        f"- Time zero: {md(study.time_zero)}",
        f"- Time unit of the cohort file: {md(study.time_unit)}",
        "- Time points of the estimates: " + (md(", ".join(time_labels(cohort))) or "none declared"),
        f"- Confidence intervals: {study.conf_level * 100:g}%, {md(study.km_ci)} transform for Kaplan-Meier "
        f"estimates, {md(study.cif_ci)} transform for cumulative incidences",
        "",
        "**Endpoints**",
        "",
    ]
    for name in study.endpoint_names:
        info = endpoint_info(cohort, name)
        if info.kind == "km":
            lines.append(f"- {md(info.label)}: survival (Kaplan-Meier); the event is {md(info.event)}")
        else:
            rivals = "; ".join(info.competing) or "none"
            lines.append(
                f"- {md(info.label)}: cumulative incidence of {md(info.event)}, with competing events: {md(rivals)}"
            )
    if not study.endpoint_names:
        lines.append("- none declared")
    lines += ["", "**Risk factors**", ""]
    for f in study.factors.values():
        kind = "cut at " + ", ".join(f"{c:g}" for c in f.cuts) if f.cuts else "categorical"
        lines.append(
            f"- {md(f.label)} (column {md(f.column)}, {md(kind)}): levels {md(', '.join(f.level_labels))}; "
            f"reference {md(f.reference)}"
        )
    if not study.factors:
        lines.append("- none declared")
    if cohort.warnings:  # how many, never which patient: `hsct-book validate` lists them for the data's owner
        count = privacy.count_text(len(cohort.warnings), resolve_min_cell(cohort, min_cell))
        lines += [
            "",
            f"**Data to check:** {md(count)} event time(s) fall after the patient's last follow-up. They are used as "
            "given (as R's survival and cmprsk would use them); `hsct-book validate` lists them.",
        ]
    return Text("\n".join(lines))


# --------------------------------------------------------------------------------------- baseline


def _spread(values: np.ndarray, summary: str, masking: bool) -> tuple[str, str]:
    iqr = summary == "iqr" or masking
    text = tables.format_median_iqr(values) if iqr else tables.format_median_range(values)
    return ("median (IQR)" if iqr else "median (range)"), text


def baseline_table(cohort: StudyCohort, table, min_cell: int | None = None) -> pd.DataFrame | Notice:
    """One baseline table of the study (``study.baseline[i]``): categorical rows as n (%) of all patients
    (levels in the study file's order, then "Not recorded"), continuous rows as median with IQR or range
    (IQR whenever counts are masked). Indexed by (characteristic, level)."""
    n_cell = resolve_min_cell(cohort, min_cell)
    masking = privacy.masking(n_cell)
    total = len(cohort.ids)
    if total == 0:
        return Notice(table.title, "the cohort has no patients")
    records: list[tuple[str, str, str]] = []
    for row in table.rows:
        if row.type == "continuous":
            name = f"{row.label} ({row.unit})" if row.unit else row.label
            x = cohort.numbers(row.column)
            known = x[~np.isnan(x)]
            if known.size == 0:
                records.append((name, "median", "not recorded for any patient"))
                continue
            if masking and known.size < n_cell:
                records.append((name, "median", privacy.NOT_SHOWN_SMALL.format(n=n_cell)))
            else:
                records.append((name, *_spread(known, row.summary, masking)))
            missing = total - known.size
            if missing:
                cell = (
                    privacy.n_percent_line([known.size, missing], total, n_cell)[1]
                    if masking
                    else tables.format_n_percent(missing, total)
                )
                records.append((name, tables.MISSING_LEVEL, cell))
            continue
        codes = cohort.coded(row.column)
        if row.levels:
            values = codes.map(lambda c, lv=row.levels: None if c is None else lv.get(c, c))
            levels = list(dict.fromkeys(row.levels.values()))
        else:
            values = codes
            levels = sorted(codes.dropna().unique(), key=lambda v: (not _is_number(v), _as_sort_key(v)))
        counts = [int((values == level).sum()) for level in levels]
        labels = [str(level) for level in levels]
        missing = int(values.isna().sum())
        if missing:
            labels.append(tables.MISSING_LEVEL)
            counts.append(missing)
        cells = (
            privacy.n_percent_line(counts, total, n_cell)
            if masking
            else [tables.format_n_percent(c, total) for c in counts]
        )
        records += [(f"{row.label}, n (%)", label, cell) for label, cell in zip(labels, cells)]
    if not records:
        return Notice(table.title, "it has no rows")
    index = pd.MultiIndex.from_tuples([(a, b) for a, b, _ in records], names=["Characteristic", "Level"])
    column = f"All patients (n={privacy.count_text(total, n_cell)})"
    return pd.DataFrame({column: [c for _, _, c in records]}, index=index)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _as_sort_key(value: str):
    return float(value) if _is_number(value) else str(value)


def enrolment_table(cohort: StudyCohort, min_cell: int | None = None) -> pd.DataFrame | None:
    """The flow from screening to analysis, from the screening log beside the study's cohort file
    (:func:`hsct_analysis.cohort.enrolment.flow_beside`; checked when the study was validated); None without one."""
    flow = enrolment.flow_beside(cohort.study.cohort_file, cohort.ids)
    return None if flow is None else book_baseline.enrolment_table(flow, resolve_min_cell(cohort, min_cell))


def baseline_tables(cohort: StudyCohort, min_cell: int | None = None) -> list[tuple[str, pd.DataFrame | Notice]]:
    """(title, table) of every baseline table of the study (empty list when it declares none)."""
    return [(t.title, baseline_table(cohort, t, min_cell)) for t in cohort.study.baseline]


# --------------------------------------------------------------------------------------- endpoints


def curve(cohort: StudyCohort, name: str, keep: np.ndarray | None = None) -> pd.DataFrame:
    """The Kaplan-Meier or cumulative-incidence curve of endpoint ``name`` (rows ``keep``; days), with the
    study's confidence level and transform. Raises ValueError on no patients (callers check first)."""
    data, info, study = cohort.endpoints[name], endpoint_info(cohort, name), cohort.study
    time, status = data.time, data.status
    if keep is not None:
        time, status = time[keep], status[keep]
    if info.kind == "km":
        return survival.kaplan_meier(
            time, (status == 1).astype(int), conf_type=study.km_ci, conf_level=study.conf_level
        )
    return competing.cumulative_incidence(
        time, status, cause=info.cause, conf_type=study.cif_ci, conf_level=study.conf_level
    )


def _read(curve_frame: pd.DataFrame, t: float) -> dict[str, float]:
    """The curve at ``t`` days. After the last time it is NaN (never extrapolated), unless nobody was censored
    at the last time, which then ended every patient's risk: the estimate is final (e.g. survival 0 after
    everyone died), as R's ``summary(fit, times, extend = TRUE)`` reports it."""
    last = curve_frame.iloc[-1]
    if t > float(curve_frame.index[-1]) and last["censored"] == 0:
        at = last
    else:
        at = survival.value_at(curve_frame, t)
    se_ = at["std_err"] if "std_err" in at.index else np.sqrt(at["variance"])
    return {
        "estimate": float(at["estimate"]),
        "std_err": float(se_),
        "lower": float(at["lower"]),
        "upper": float(at["upper"]),
    }


def _counts(status: np.ndarray, cause: int) -> dict[str, int]:
    return {
        "patients": int(status.size),
        "events": int(np.sum(status == cause)),
        "competing": int(np.sum((status != 0) & (status != cause))),
        "censored": int(np.sum(status == 0)),
    }


def estimates(cohort: StudyCohort) -> pd.DataFrame:
    """Every endpoint at every time point: one row per (endpoint, time) with ``endpoint``, ``label``,
    ``time`` (study unit), ``time_days``, ``estimate``, ``std_err``, ``lower``, ``upper`` (proportions;
    NaN after the last follow-up) and the counts ``patients``, ``events``, ``competing``, ``censored``."""
    rows = []
    study = cohort.study
    for name in study.endpoint_names:
        info, data = endpoint_info(cohort, name), cohort.endpoints[name]
        counts = _counts(data.status, info.cause)
        frame = curve(cohort, name) if data.time.size else None
        for t, days in zip(study.times, study.times_days):
            values = (
                _read(frame, days)
                if frame is not None
                else dict.fromkeys(("estimate", "std_err", "lower", "upper"), np.nan)
            )
            rows.append({"endpoint": name, "label": info.label, "time": t, "time_days": days, **values, **counts})
    columns = ["endpoint", "label", "time", "time_days", "estimate", "std_err", "lower", "upper"]
    return pd.DataFrame(rows, columns=columns + ["patients", "events", "competing", "censored"])


def _estimate_text(value: dict[str, float]) -> str:
    if not np.isfinite(value["estimate"]):
        return BEYOND_FOLLOWUP
    return tables.format_estimate(value["estimate"], value["lower"], value["upper"])


def endpoint_table(cohort: StudyCohort, min_cell: int | None = None) -> pd.DataFrame | Notice:
    """One row per endpoint: estimator, patients, events, competing events, censored, and the estimate
    (95% CI) in % at each time point. Counts masked by the rules of :mod:`hsct_analysis.book.privacy`; where the
    patients are masked (a cohort of fewer than min_cell), so are the estimates."""
    study = cohort.study
    if not study.endpoint_names:
        return Notice("The table of endpoints", "the study file declares no endpoint")
    n_cell = resolve_min_cell(cohort, min_cell)
    est = estimates(cohort)
    rows = []
    for name in study.endpoint_names:
        info, part = endpoint_info(cohort, name), est[est["endpoint"] == name]
        counts = _counts(cohort.endpoints[name].status, info.cause)
        row = {
            "Endpoint": info.label,
            "Estimator": info.estimator,
            "Patients": counts["patients"],
            "Events": counts["events"],
            "Competing events": counts["competing"] if info.kind == "cif" else 0,
            "Censored": counts["censored"],
        }
        for label, (_, r) in zip(time_labels(cohort), part.iterrows()):
            row[label] = _estimate_text(r.to_dict()) if counts["patients"] else "no patients"
        rows.append(row)
    table = pd.DataFrame(rows).set_index("Endpoint")
    if privacy.masking(n_cell):
        table = privacy.suppress_table(table, n_cell, ["Events", "Competing events", "Censored"], total="Patients")
        masked = table["Patients"].map(lambda n: isinstance(n, str))  # rule 7: a masked group shows no estimate
        for label in time_labels(cohort):
            table.loc[masked, label] = [privacy.not_shown(n, n_cell) for n in table.loc[masked, "Patients"]]
    kinds = {endpoint_info(cohort, n).kind for n in study.endpoint_names}
    if kinds == {"km"}:
        table = table.drop(columns="Competing events")
    return table


def endpoint_notices(cohort: StudyCohort) -> list[Notice]:
    """A sentence for every endpoint whose curve says little: no patients, no events, everyone censored."""
    out = []
    for name in cohort.study.endpoint_names:
        info, status = endpoint_info(cohort, name), cohort.endpoints[name].status
        c = _counts(status, info.cause)
        if c["patients"] == 0:
            out.append(Notice(f"The estimate of {info.label}", "the cohort has no patients"))
        elif c["events"] == 0:
            flat = "100%" if info.kind == "km" else "0%"
            out.append(
                Notice(
                    f"A confidence interval for {info.label}",
                    f"no patient had the event ({info.event}), so the estimate stays at {flat} and has no spread",
                )
            )
        elif c["censored"] == 0:
            out.append(
                Notice(
                    f"The censoring of {info.label}",
                    "every patient had an event; the estimates are the plain proportions of patients",
                )
            )
    return out


def _month_ticks(days_max: float) -> list[float]:
    """Round ticks in months from 0 to the first tick at or after the last time (at most 9 ticks)."""
    months = max(float(days_max) / DAYS_PER_MONTH, 1.0)
    for step in (1, 2, 3, 6, 12, 24, 36, 60, 120):
        if np.ceil(months / step) <= 8:
            break
    return [float(step * k) for k in range(int(np.ceil(months / step)) + 1)]


def _incidence_label(cohort: StudyCohort, info: EndpointInfo) -> str:
    """y-axis label of a cumulative incidence: the standard event's name, or a custom endpoint's label
    (not its column and codes); a label too long for the axis gives the plain "Cumulative incidence (%)"."""
    what = info.label if info.name in cohort.study.custom_endpoints else info.event
    if what[1:2].islower():  # "Liver transplant" -> "liver transplant", "CMV ..." stays
        what = what[0].lower() + what[1:]
    text = f"Cumulative incidence of {_plain(what)} (%)"
    return text if len(text) <= 60 else "Cumulative incidence (%)"


def _plain(text: str) -> str:
    """User text for a matplotlib label: ``$`` would start mathtext."""
    return str(text).replace("$", r"\$")


def _groups(cohort: StudyCohort, factor: str) -> tuple[pd.Series, list[str], list[str]]:
    series = cohort.factors[factor]
    levels = list(series.cat.categories)
    present = [lv for lv in levels if int((series == lv).sum()) > 0]
    return series, present, [lv for lv in levels if lv not in present]


def endpoint_figure(cohort: StudyCohort, name: str, factor: str | None = None, min_cell: int | None = None) -> Any:
    """Curve of endpoint ``name`` (overall, or one curve per level of ``factor`` with the log-rank or
    Gray p), x-axis in months after time zero, numbers at risk beneath. A Figure or a Notice."""
    info, data = endpoint_info(cohort, name), cohort.endpoints[name]
    what = f"The curve of {info.label}" + (f" by {cohort.study.factors[factor].label}" if factor else "")
    if data.time.size == 0:
        return Notice(what, "the cohort has no patients")
    n_cell = resolve_min_cell(cohort, min_cell)
    if factor is None:
        curves = {info.label: curve(cohort, name)}
        p, whole = None, None
    else:
        series, present, _ = _groups(cohort, factor)
        if len(present) < 2:
            return Notice(what, f"fewer than two levels of {cohort.study.factors[factor].label} are observed")
        if len(present) > len(figures.PALETTE):
            return Notice(what, f"more than {len(figures.PALETTE)} levels cannot be told apart in one figure")
        sizes = {lv: int((series == lv).sum()) for lv in present}
        unrecorded = len(series) - sum(sizes.values())
        if privacy.curves_withheld(sizes.values(), n_cell, unrecorded):
            label = cohort.study.factors[factor].label
            return Notice(what, privacy.curves_withheld_why(sizes.values(), n_cell, unrecorded, label))
        curves = {_plain(lv): curve(cohort, name, (series == lv).to_numpy()) for lv in present}
        p = compare(cohort, name, factor).p
        whole = curve(cohort, name) if privacy.masking(n_cell) else None
    kind = "survival" if info.kind == "km" else "incidence"
    return figures.plot_curves(
        curves,
        kind=kind,
        times_months=_month_ticks(float(np.nanmax(data.time))),
        p_value=p if p is not None and np.isfinite(p) else None,
        xlabel=_plain(f"Months after {cohort.study.time_zero}"),
        ylabel="Survival (%)" if kind == "survival" else _incidence_label(cohort, info),
        min_cell=n_cell,
        cohort_curve=whole,
    )


# --------------------------------------------------------------------------------------- univariate


@dataclass(frozen=True)
class Comparison:
    """The test of an endpoint across the levels of a factor: ``p`` (NaN with ``note`` saying why)."""

    p: float
    test: str
    statistic: float = np.nan
    df: int = 0
    note: str = ""


def compare(cohort: StudyCohort, name: str, factor: str) -> Comparison:
    """Log-rank (survival endpoints) or Gray's test (competing risks) of ``name`` across the observed
    levels of ``factor``; patients without a value of the factor are left out."""
    info, data = endpoint_info(cohort, name), cohort.endpoints[name]
    series, present, _ = _groups(cohort, factor)
    if len(present) < 2:
        observed = ", ".join(present) or "none"
        return Comparison(np.nan, info.test, note=f"only one level is observed ({observed}): nothing to compare")
    keep = series.notna().to_numpy()
    time, status, group = data.time[keep], data.status[keep], series[keep].astype(str).to_numpy()
    if int(np.sum(status == info.cause)) == 0:
        return Comparison(
            np.nan, info.test, note=f"no patient with a value of this factor had the event ({info.event})"
        )
    try:
        if info.kind == "km":
            result = survival.logrank(time, (status == 1).astype(int), group)
        else:
            result = competing.gray_test(time, status, group, cause=info.cause)
    except ValueError as err:
        return Comparison(np.nan, info.test, note=f"the test cannot be computed ({err})")
    if not np.isfinite(result.p_value):
        return Comparison(np.nan, info.test, note="the test statistic is undefined on these groups")
    return Comparison(float(result.p_value), info.test, float(result.statistic), int(result.df))


def univariate(cohort: StudyCohort) -> pd.DataFrame:
    """Every factor against every factor endpoint, one row per (endpoint, factor, level) with ``n``,
    ``events``, per time point ``estimate_k``, ``lower_k``, ``upper_k`` (proportions, k = 0, 1, ...),
    and the factor's ``p``, ``test``, ``note`` (why p is missing)."""
    study = cohort.study
    rows = []
    for name in study.factor_endpoints:
        info, data = endpoint_info(cohort, name), cohort.endpoints[name]
        for factor in study.factors:
            cmp = compare(cohort, name, factor)
            series = cohort.factors[factor]
            for level in series.cat.categories:
                keep = (series == level).to_numpy()
                row = {"endpoint": name, "factor": factor, "level": level, "n": int(keep.sum()),
                       "events": int(np.sum(data.status[keep] == info.cause))}  # fmt: skip
                frame = curve(cohort, name, keep) if keep.any() else None
                for k, days in enumerate(study.times_days):
                    value = (
                        _read(frame, days)
                        if frame is not None
                        else dict.fromkeys(("estimate", "lower", "upper"), np.nan)
                    )
                    row.update(
                        {f"estimate_{k}": value["estimate"], f"lower_{k}": value["lower"], f"upper_{k}": value["upper"]}
                    )
                rows.append({**row, "p": cmp.p, "test": cmp.test, "note": cmp.note})
    return pd.DataFrame(rows)


def _suppress_with_unrecorded(
    counts: pd.DataFrame, cohort: StudyCohort, name: str, factor: str, n_cell: int
) -> pd.DataFrame:
    """The univariate table's counts of one factor (columns n, events, without; one row per level) masked by the
    privacy rules, together with the patients whose factor is not recorded: the cohort's patients and events are
    shown elsewhere (the baseline and endpoint tables), so the unrecorded are the rest of each column, and a small
    number of them must not be recoverable by subtraction. Returns the levels' rows only."""
    unrecorded = cohort.factors[factor].isna().to_numpy()
    if unrecorded.any():
        events = int(np.sum(cohort.endpoints[name].status[unrecorded] == endpoint_info(cohort, name).cause))
        rest = pd.DataFrame(
            {"n": [int(unrecorded.sum())], "events": [events], "without": [int(unrecorded.sum()) - events]}
        )
        counts = pd.concat([counts, rest], ignore_index=True)
    masked = privacy.suppress_table(counts, n_cell, ["events", "without"], total="n", column_totals=True)
    return masked.iloc[: len(counts) - int(unrecorded.any())]


def univariate_table(
    cohort: StudyCohort, name: str, min_cell: int | None = None
) -> tuple[pd.DataFrame | Notice, list[Notice]]:
    """The univariate table of endpoint ``name``: rows (factor, level) with patients, events, the estimate
    (CI) in % at each time point and the factor's p on its first level; and the sentences for factors
    whose comparison is not available (one level observed, an empty level, no events)."""
    study = cohort.study
    info = endpoint_info(cohort, name)
    if not study.factors:
        return Notice(f"The univariate analysis of {info.label}", "the study file declares no risk factor"), []
    n_cell = resolve_min_cell(cohort, min_cell)
    masking = privacy.masking(n_cell)
    long = univariate(cohort)
    long = long[long["endpoint"] == name]
    parts, notices = [], []
    for factor, f in study.factors.items():
        part = long[long["factor"] == factor].reset_index(drop=True)
        counts = pd.DataFrame({"n": part["n"], "events": part["events"], "without": part["n"] - part["events"]})
        if masking:
            counts = _suppress_with_unrecorded(counts, cohort, name, factor, n_cell)
        empty = [lv for lv, n in zip(part["level"], part["n"]) if n == 0]
        if empty:
            notices.append(
                Notice(f"{f.label}: {', '.join(empty)}", "no patient has this level; it is left out of the comparison")
            )
        note = part["note"].iloc[0]
        if note:
            notices.append(Notice(f"The {info.test} p-value for {f.label}", note))
        table = pd.DataFrame({"Patients": counts["n"], "Events": counts["events"]})
        for k, label in enumerate(time_labels(cohort)):
            texts = []
            for i, r in part.iterrows():
                if r["n"] == 0:
                    texts.append("no patients")
                elif isinstance(counts["n"].iloc[i], str):
                    texts.append(privacy.not_shown(counts["n"].iloc[i], n_cell))
                else:
                    texts.append(
                        _estimate_text(
                            {"estimate": r[f"estimate_{k}"], "lower": r[f"lower_{k}"], "upper": r[f"upper_{k}"]}
                        )
                    )
            table[label] = texts
        p_text = "NA" if not np.isfinite(part["p"].iloc[0]) else tables.format_p(part["p"].iloc[0])
        p_text = privacy.p_withheld(part["n"], n_cell) or p_text
        table[f"p ({info.test})"] = [p_text] + [""] * (len(part) - 1)
        table.index = pd.MultiIndex.from_arrays([[f.label] * len(part), list(part["level"])], names=["Factor", "Level"])
        parts.append(table)
    return pd.concat(parts), notices


# --------------------------------------------------------------------------------------- multivariable


def _unused_name(name: str, taken) -> str:
    """``name``, with underscores in front until it is none of ``taken`` (a study's factor keys, which are the
    user's words: a factor may be called "time")."""
    while name in taken:
        name = f"_{name}"
    return name


@dataclass
class MultivariableResult:
    """The multivariable step for one endpoint.

    ``screening``: one row per factor (``label``, ``p``, ``test``, ``entered``: "screened", "forced" or
    ""). ``models``: model name (:data:`MODEL_NAMES` values) -> fitted
    :class:`~hsct_analysis.stats.regression.RegressionResult`. ``factors`` entered, their ``reference``
    levels and ``labels``; ``n`` and ``events`` of the complete cases; ``notices``: what could not be done
    (a Notice per model not fitted, or for the endpoint); ``notes``: plain remarks (a reference level
    replaced, a factor left out).
    """

    endpoint: str
    label: str
    screening: pd.DataFrame
    factors: list[str] = field(default_factory=list)
    reference: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    n: int = 0
    events: int = 0
    notices: list[Notice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    min_cell: int | None = None

    def shown(self, model_name: str) -> pd.DataFrame:
        """The summary of one fitted model, the terms of small levels withheld (privacy rule 7)."""
        return privacy.withhold_terms(self.models[model_name].summary, self.sizes[model_name], self.min_cell)


def _model_kinds(cohort: StudyCohort, info: EndpointInfo) -> list[str]:
    if info.kind == "km":
        return ["cox"]
    return list(cohort.study.multivariable.models)


def multivariable(cohort: StudyCohort, name: str, min_cell: int | None = None) -> MultivariableResult:
    """Screen every factor (p <= ``screening_p``), add the forced ones, and fit the endpoint's models on
    the patients with every entered factor recorded. Never raises on data shape: see ``notices``. ``min_cell``
    (None: the study file's) withholds the hazard ratios of small levels in :func:`model_table` and
    :func:`forest_plot`."""
    study = cohort.study
    info = endpoint_info(cohort, name)
    mv = study.multivariable
    what = f"A multivariable model of {info.label}"
    rows = []
    for factor, f in study.factors.items():
        cmp = compare(cohort, name, factor)
        screened = np.isfinite(cmp.p) and mv is not None and cmp.p <= mv.screening_p
        forced = mv is not None and factor in mv.forced
        entered = "forced" if forced else ("screened" if screened else "")
        rows.append(
            {"factor": factor, "label": f.label, "p": cmp.p, "test": cmp.test, "entered": entered, "note": cmp.note}
        )
    screening = pd.DataFrame(rows, columns=["factor", "label", "p", "test", "entered", "note"]).set_index("factor")
    result = MultivariableResult(name, info.label, screening, min_cell=resolve_min_cell(cohort, min_cell))
    if mv is None:
        result.notices.append(
            Notice(what, "the study file does not request one (its risk factors have no multivariable section)")
        )
        return result
    if not study.factors:
        result.notices.append(Notice(what, "the study file declares no risk factor"))
        return result
    chosen = [f for f in screening.index if screening.loc[f, "entered"]]
    if not chosen:
        result.notices.append(
            Notice(what, f"no factor reached p <= {mv.screening_p:g} in the screening and none is forced")
        )
        return result
    data = cohort.endpoints[name]
    frame = pd.DataFrame({f: cohort.factors[f].astype(object) for f in chosen})
    time_col, status_col = (_unused_name(column, chosen) for column in ("time", "status"))  # a factor may be "time"
    frame[time_col], frame[status_col] = data.time, data.status
    frame = frame.dropna()
    kept = []
    for f in chosen:
        levels = sorted(set(frame[f]), key=list(cohort.factors[f].cat.categories).index)
        if len(levels) < 2:
            result.notes.append(
                f"{study.factors[f].label} was left out: only one level among patients with every entered factor recorded"
            )
            continue
        kept.append(f)
        ref = study.factors[f].reference
        result.reference[f] = ref if ref in levels else levels[0]
        if ref not in levels:
            result.notes.append(
                f"{study.factors[f].label}: no patient has the reference level {ref}; {levels[0]} is the reference instead"
            )
        result.labels[f] = study.factors[f].label
        result.levels[f] = levels
    result.factors = kept
    result.n = len(frame)
    result.events = int(np.sum(frame[status_col] == info.cause))
    if not kept:
        result.notices.append(
            Notice(what, "every entered factor has a single level among the patients with it recorded")
        )
        return result
    if result.events == 0:
        result.notices.append(
            Notice(what, f"no patient with every entered factor recorded had the event ({info.event})")
        )
        return result
    frame = frame[kept + [time_col, status_col]]
    for kind in _model_kinds(cohort, info):
        model_name = MODEL_NAMES[kind]
        try:
            if kind == "fine_gray":
                fit = fine_gray(frame, time_col, status_col, kept, cause=info.cause, conf_level=study.conf_level,
                                reference=result.reference)  # fmt: skip
            else:
                fit = cause_specific_cox(frame, time_col, status_col, kept, cause=info.cause,
                                         conf_level=study.conf_level, reference=result.reference)  # fmt: skip
        except Exception as err:  # noqa: BLE001 - the page says why the model is missing, the build goes on
            result.notices.append(Notice(f"The {model_name} model of {info.label}", f"it could not be fitted ({err})"))
            continue
        estimable = ~fit.summary["separation"].astype(bool)
        if not fit.converged or not np.isfinite(fit.summary.loc[estimable, "coef"]).all():
            result.notices.append(
                Notice(
                    f"The {model_name} model of {info.label}",
                    "the fit did not converge" + (f" ({'; '.join(fit.notes)})" if fit.notes else ""),
                )
            )
            continue
        if not estimable.any():
            result.notices.append(
                Notice(
                    f"The {model_name} model of {info.label}",
                    "no hazard ratio is estimable: every level compared with the reference has no event or all of them",
                )
            )
            continue
        result.models[model_name] = fit
        result.sizes[model_name] = privacy.term_sizes(fit.summary, frame)
    return result


def screening_table(result: MultivariableResult) -> pd.DataFrame:
    """The screening of one endpoint: factor, test, p, whether it entered the model (and why)."""
    s = result.screening
    entered = {"forced": "yes (forced)", "screened": "yes (screened)", "": "no"}
    return pd.DataFrame(
        {
            "Test": s["test"].to_list(),
            "p": [tables.format_p(p) if np.isfinite(p) else "NA" for p in s["p"]],
            "Entered the model": [entered[e] for e in s["entered"]],
        },
        index=pd.Index(s["label"].to_list(), name="Factor"),
    )


def _ordered(result: MultivariableResult, summary: pd.DataFrame, levels: dict[str, list[str]]) -> pd.DataFrame:
    """The summary's terms in the study file's order of factors and levels."""
    order = []
    for f in result.factors:
        order += [t for lv in levels[f] for t in summary.index if t == f"{f}[{lv}]"]
    return summary.loc[order + [t for t in summary.index if t not in order]]


def model_table(
    result: MultivariableResult, model_name: str, levels: dict[str, list[str]] | None = None
) -> pd.DataFrame:
    """HR (CI) and p of one fitted model, one row per level, the reference level stated, levels in the
    study file's order (or that of ``levels``: factor -> level labels)."""
    fit = result.models[model_name]
    summary = _ordered(result, result.shown(model_name), levels or result.levels)
    level = f"{fit.conf_level * 100:g}% CI"
    return tables.regression_table(summary, result.reference, result.labels, hr_column=f"HR ({level})")


def forest_plot(result: MultivariableResult, model_name: str):
    """Forest plot of one fitted model (hazard ratios on a log axis, reference levels at 1)."""
    fit = result.models[model_name]
    labels = {f: _plain(label) for f, label in result.labels.items()}
    summary = _ordered(result, result.shown(model_name), result.levels)
    rows = tables.regression_rows(summary, result.reference, labels)
    rows["level"] = rows["level"].map(_plain)
    return figures.plot_forest(rows, xlabel=f"Hazard ratio ({fit.conf_level * 100:g}% CI, log scale)")
