"""Publication tables: "n (%)", "median (range)", "HR (95% CI)" and paper-vs-reproduced.

Modelled on the habits of R's gtsummary: one row per level (levels with zero patients
included), the reference level of a regression stated as "1 (reference)", and the hazard
ratio with its confidence interval and the p-value in their own columns.

Conventions used by every formatter here:

- estimates of probabilities are passed as proportions (0-1) and printed as percent
  with ``digits`` decimals, e.g. ``format_estimate(0.539, 0.418, 0.658) == "53.9 (41.8-65.8)"``;
- a missing value prints as ``"NA"``;
- ranges and intervals use a hyphen, as the paper does.

All functions return plain pandas objects (which render as HTML in Jupyter Book);
``highlight_misses`` returns a pandas ``Styler`` for the scorecard view; every Styler a page shows goes through
:func:`styled` or :func:`stable_ids`, whose HTML ids and text do not change from one build to the next.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from hsct_analysis.book import privacy
from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.stats.units import DAYS_PER_MONTH

NOT_ESTIMABLE = "not estimable"
SEPARATION_TEXT = "not estimable (separation)"
REFERENCE_TEXT = "1 (reference)"
MISSING_LEVEL = "Not recorded"

# A hazard ratio outside these bounds, or a CI wider than this ratio, comes from a model
# whose likelihood has no finite maximum (complete or quasi-complete separation).
_HR_PLAUSIBLE = (1e-3, 1e3)
_CI_RATIO_MAX = 1e6


# ---------------------------------------------------------------------------------------
# number formatting
# ---------------------------------------------------------------------------------------


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def format_number(x: float | None, digits: int = 1) -> str:
    """``x`` with ``digits`` decimals ("NA" when missing)."""
    if _is_missing(x):
        return "NA"
    return f"{float(x):.{digits}f}"


def format_p(p: float | None) -> str:
    """A p-value as the paper prints it: three decimals, ``"<0.001"`` below 0.001.

    ``format_p(0.0004) == "<0.001"``, ``format_p(0.003) == "0.003"``,
    ``format_p(0.9999) == ">0.999"``; missing -> ``"NA"``.
    """
    if _is_missing(p):
        return "NA"
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a p-value lies in [0, 1], got {p}")
    if p < 0.001:
        return "<0.001"
    if p > 0.999:
        return ">0.999"
    return f"{p:.3f}"


def format_p_statement(p: float | None) -> str:
    """``"p = 0.003"`` or ``"p < 0.001"`` (for figure annotations and prose)."""
    text = format_p(p)
    if text[0] in "<>":
        return f"p {text[0]} {text[1:]}"
    return f"p = {text}"


def format_estimate(est: float | None, lo: float | None, hi: float | None, digits: int = 1) -> str:
    """A probability with its CI, in percent: ``(0.539, 0.418, 0.658) -> "53.9 (41.8-65.8)"``.

    ``est``, ``lo`` and ``hi`` are proportions (0-1). When both bounds are missing (e.g. an
    estimate of 100% whose CI is undefined) only the estimate is printed.
    """
    if _is_missing(est):
        return "NA"
    point = format_number(100.0 * float(est), digits)
    if _is_missing(lo) and _is_missing(hi):
        return point
    low = format_number(None if _is_missing(lo) else 100.0 * float(lo), digits)
    high = format_number(None if _is_missing(hi) else 100.0 * float(hi), digits)
    return f"{point} ({low}-{high})"


def is_separated(hr: float | None, lo: float | None, hi: float | None) -> bool:
    """True when a hazard ratio is not estimable: missing/infinite/zero values or absurd size.

    Separation (no events in one level) drives the Cox/Fine-Gray coefficient towards
    infinity, which shows as HR > 1000 or < 0.001, a bound of 0 or infinity, or an interval
    spanning more than six orders of magnitude.
    """
    values = [hr, lo, hi]
    if any(_is_missing(v) for v in values):
        return True
    hr, lo, hi = (float(v) for v in values)
    if not all(math.isfinite(v) for v in (hr, lo, hi)) or lo <= 0.0 or hr <= 0.0:
        return True
    if not _HR_PLAUSIBLE[0] <= hr <= _HR_PLAUSIBLE[1]:
        return True
    return hi / lo > _CI_RATIO_MAX


SUPERSCRIPT_DIGITS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def format_power_of_ten(value: float, digits: int = 3) -> str:
    """A large or tiny number as printed prose writes it: ``1.42e6 -> "1.42 × 10⁶"`` (``digits``
    significant digits); numbers between 0.001 and 10,000 keep plain ``g`` formatting."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.{digits}g}"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPT_DIGITS)}"


def format_hr(hr: float | None, lo: float | None, hi: float | None, digits: int = 2) -> str:
    """A hazard ratio with its CI: ``(4.10, 1.64, 10.24) -> "4.10 (1.64-10.24)"``.

    A separated (not estimable) hazard ratio prints as ``"not estimable"``, never as an
    absurd number.
    """
    if is_separated(hr, lo, hi):
        return NOT_ESTIMABLE
    return f"{float(hr):.{digits}f} ({float(lo):.{digits}f}-{float(hi):.{digits}f})"


def format_n_percent(count: int, total: int, digits: int = 1) -> str:
    """``"3 (60.0%)"`` for 3 of 5 (percent of ``total``)."""
    if total <= 0:
        raise ValueError("total must be positive")
    return f"{int(count)} ({100.0 * count / total:.{digits}f}%)"


def _numbers(values: Iterable[float]) -> pd.Series:
    return pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").dropna().astype(float)


def format_median_range(values: Iterable[float], digits: int = 1) -> str:
    """``"21.2 (2.7-51.7)"``: median (minimum-maximum) of the non-missing ``values``."""
    x = _numbers(values)
    if x.empty:
        return "NA"
    return f"{x.median():.{digits}f} ({x.min():.{digits}f}-{x.max():.{digits}f})"


def format_median_iqr(values: Iterable[float], digits: int = 1) -> str:
    """``"14.5 (11.8-20.2)"``: median (first-third quartile) of the non-missing ``values``.

    Quartiles are pandas' linear-interpolation quantiles (R's type 7). Unlike a range, they are
    not the values of the two most extreme patients.
    """
    x = _numbers(values)
    if x.empty:
        return "NA"
    q1, q3 = x.quantile(0.25), x.quantile(0.75)
    return f"{x.median():.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"


def spread_label(min_cell: int | None) -> str:
    """``"median (range)"``, or ``"median (IQR)"`` when small cells are masked (``min_cell`` set)."""
    return "median (IQR)" if is_masking(min_cell) else "median (range)"


def format_median_spread(values: Iterable[float], digits: int = 1, min_cell: int | None = None) -> str:
    """Median (range), or with ``min_cell`` set median (IQR), of the non-missing ``values``.

    With ``min_cell`` set and fewer than ``min_cell`` values, nothing is summarised: the text is
    ``"fewer than <min_cell> patients"`` (a median of two or three values nearly shows them).
    """
    if not is_masking(min_cell):
        return format_median_range(values, digits)
    x = _numbers(values)
    if 0 < len(x) < min_cell:
        return f"fewer than {int(min_cell)} patients"
    return format_median_iqr(x, digits)


def iqr_note(min_cell: int | None) -> str:
    """The footnote a page prints under its "median (IQR)" tables (empty without ``min_cell``)."""
    if not is_masking(min_cell):
        return ""
    return (
        "Continuous values are shown as median (IQR), the interquartile range from the 25th to the 75th "
        "percentile, instead of median (range), because the book was built with the small-cell option: a range's "
        "ends are the values of the two most extreme patients. " + privacy.note(min_cell)
    )


# ---------------------------------------------------------------------------------------
# privacy: small cells
# ---------------------------------------------------------------------------------------


def is_masking(min_cell: int | None) -> bool:
    """True when ``min_cell`` asks for masking (a number above 1); see :mod:`hsct_analysis.book.privacy`."""
    return privacy.masking(min_cell)


def min_cell_mask(table_counts: pd.DataFrame | pd.Series | int, n: int):
    """Replace every count of 1 to ``n - 1`` with the text ``"<n"`` (rule 1 of :mod:`hsct_analysis.book.privacy`).

    Works on a DataFrame, a Series or a single count. Zeros stay 0 (rule 2), missing values stay missing.
    Returns an object-typed copy; the input is not modified. ``n <= 1`` leaves the counts unchanged. This masks
    cells one by one: where counts add up to a total that is shown, use :func:`privacy.suppress_counts`,
    :func:`privacy.n_percent_line` or :func:`privacy.suppress_table` (complementary suppression) instead.
    """
    if not privacy.masking(n):
        return table_counts.copy() if hasattr(table_counts, "copy") else table_counts

    def mask(value: Any) -> Any:
        if _is_missing(value) or isinstance(value, str):
            return value
        return privacy.count_text(value, n)

    if isinstance(table_counts, (pd.DataFrame, pd.Series)):
        return table_counts.astype(object).map(mask)
    return mask(table_counts)


# ---------------------------------------------------------------------------------------
# a curve at round time points (never its per-event rows)
# ---------------------------------------------------------------------------------------

ROUND_MONTHS = (0, 6, 12, 24, 36)


def at_risk_after(curve: pd.DataFrame, day: float) -> int:
    """Patients still at risk just after ``day`` (days; an event or censoring on ``day`` itself has left), from a
    curve indexed by time in days with ``at_risk``: the ``at_risk`` at the last time <= ``day`` less those who left
    then (``events``, ``competing_events``, ``censored``) when the curve counts them, else the ``at_risk`` of the
    first later time (0 past the last); before the first time, everyone. Raises ValueError for a NaN ``day``."""
    if math.isnan(float(day)):
        raise ValueError("at_risk_after: the day is NaN")
    times = curve.index.to_numpy(dtype=float)
    at_risk = curve["at_risk"].to_numpy(dtype=float)
    upto = np.flatnonzero(times <= day)
    if upto.size == 0:
        return int(at_risk[0]) if at_risk.size else 0
    last = upto[-1]
    if {"events", "censored"} <= set(curve.columns):
        leaving = [c for c in ("events", "competing_events", "censored") if c in curve.columns]
        return int(at_risk[last] - sum(curve[c].iloc[last] for c in leaving))
    return int(at_risk[last + 1]) if last + 1 < len(times) else 0


def curve_at_times(
    curve: pd.DataFrame, months: Sequence[float] = ROUND_MONTHS, min_cell: int | None = None, digits: int = 1
) -> pd.DataFrame:
    """A Kaplan-Meier or cumulative-incidence curve read at round time points, one row per time.

    ``curve`` is indexed by time in days (``survival.kaplan_meier`` or
    ``competing.cumulative_incidence``); ``months`` are the time points (1 month = 30.4375 days).
    Columns: ``day`` (the time point in days, rounded), ``at risk after`` (patients still at risk
    just after it, when the curve has ``at_risk``), ``events so far`` (events up to and including
    it, when the curve has ``events``), then ``estimate %``, ``SE %`` (from ``std_err``, or the
    square root of ``variance``), ``lower %`` and ``upper %``, rounded to ``digits``. The values
    are those of ``survival.value_at``: NaN after the last follow-up, never extrapolated.
    ``min_cell`` masks the two counts below it as ``"<min_cell"``. Unlike the curve's own rows,
    which are the individual event and censoring days, these rows describe no single patient.
    """
    from hsct_analysis.stats.survival import value_at

    rows = []
    times = curve.index.to_numpy(dtype=float)
    for m in months:
        day = float(m) * DAYS_PER_MONTH
        value = value_at(curve, day)
        row: dict[str, Any] = {"day": int(round(day))}
        if "at_risk" in curve.columns:
            row["at risk after"] = at_risk_after(curve, day)
        if "events" in curve.columns:
            row["events so far"] = int(curve.loc[times <= day, "events"].sum())
        se = value.get("std_err", np.sqrt(value["variance"]) if "variance" in value.index else np.nan)
        for name, x in (
            ("estimate %", value["estimate"]),
            ("SE %", se),
            ("lower %", value.get("lower", np.nan)),
            ("upper %", value.get("upper", np.nan)),
        ):
            row[name] = round(100.0 * float(x), digits) if not _is_missing(x) else np.nan
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index(list(months), name="months"))
    counts = [c for c in ("at risk after", "events so far") if c in table.columns]
    for name in counts:  # running counts: no small step between two shown values either
        if is_masking(min_cell):
            table[name] = pd.Series(
                privacy.suppress_cumulative(table[name].tolist(), min_cell), index=table.index, dtype=object
            )
    return table


# ---------------------------------------------------------------------------------------
# characteristics table ("Table 1")
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One variable of a characteristics table.

    ``kind`` is ``"categorical"`` (one "n (%)" row per level, in ``levels`` order, levels
    with zero patients included; ``level_labels`` maps a value to its printed text) or
    ``"continuous"`` (one "median (range)" row, ``unit`` e.g. "years", ``digits`` decimals).
    """

    column: str
    label: str
    kind: str = "categorical"
    levels: tuple = ()
    level_labels: Mapping[Any, str] = field(default_factory=dict)
    unit: str = ""
    digits: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("categorical", "continuous"):
            raise ValueError(f"kind must be 'categorical' or 'continuous', got {self.kind!r}")


def categorical(
    column: str, label: str, levels: Sequence | None = None, level_labels: Mapping[Any, str] | None = None
) -> Row:
    """A categorical row spec (see ``Row``)."""
    return Row(column, label, "categorical", tuple(levels or ()), dict(level_labels or {}))


def continuous(column: str, label: str, unit: str = "", digits: int = 1) -> Row:
    """A continuous row spec: median (range) in ``unit`` with ``digits`` decimals."""
    return Row(column, label, "continuous", unit=unit, digits=digits)


def _as_row(spec: Row | Mapping[str, Any]) -> Row:
    if isinstance(spec, Row):
        return spec
    spec = dict(spec)
    if "levels" in spec and spec["levels"] is not None:
        spec["levels"] = tuple(spec["levels"])
    return Row(**spec)


def _observed_levels(values: pd.Series) -> list:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.cat.categories)
    return sorted(values.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))


def _categorical_rows(cohort: pd.DataFrame, row: Row, min_cell: int | None) -> list[tuple[str, str, str]]:
    values = cohort[row.column]
    total = len(values)
    levels = list(row.levels) or _observed_levels(values)
    unexpected = set(values.dropna().unique()) - set(levels)
    # numeric levels (e.g. grades 0-4 read as floats) compare by value
    unexpected = {u for u in unexpected if not any(_same_value(u, lv) for lv in levels)}
    if unexpected:
        raise ValueError(f"{row.column}: values {sorted(map(str, unexpected))} are not among levels {levels}")
    name = f"{row.label}, n (%)"
    labels = [str(row.level_labels.get(level, level)) for level in levels]
    counts = [int((values == level).sum()) for level in levels]
    n_missing = int(values.isna().sum())
    if n_missing:
        labels.append(MISSING_LEVEL)
        counts.append(n_missing)
    if total <= 0:
        raise ValueError("total must be positive")
    # the levels (and "not recorded") add up to the cohort size: one line for complementary suppression
    cells = (
        privacy.n_percent_line(counts, total, min_cell)
        if privacy.masking(min_cell)
        else [format_n_percent(c, total) for c in counts]
    )
    return [(name, label, cell) for label, cell in zip(labels, cells)]


def _same_value(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _continuous_rows(cohort: pd.DataFrame, row: Row, min_cell: int | None) -> list[tuple[str, str, str]]:
    values = pd.to_numeric(cohort[row.column], errors="coerce")
    name = f"{row.label} ({row.unit})" if row.unit else row.label
    out = [(name, spread_label(min_cell), format_median_spread(values, row.digits, min_cell))]
    n_missing = int(values.isna().sum())
    if n_missing:  # recorded + not recorded = the cohort size: both masked when either is small
        cell = (
            privacy.n_percent_line([len(values) - n_missing, n_missing], len(values), min_cell)[1]
            if (privacy.masking(min_cell))
            else format_n_percent(n_missing, len(values))
        )
        out.append((name, MISSING_LEVEL, cell))
    return out


def characteristics(
    cohort: pd.DataFrame,
    rows: Sequence[Row | Mapping[str, Any]],
    column: str | None = None,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Patient characteristics: "n (%)" per level of categorical rows, "median (range)" otherwise.

    ``rows`` are ``Row`` specs (or dicts with the same keys). Percentages use all patients
    of ``cohort`` as denominator, one decimal; missing values get a "Not recorded" row.
    ``min_cell`` masks counts below it as ``"<min_cell"`` (no percentage shown) and shows
    continuous rows as "median (IQR)" instead of "median (range)" (see ``format_median_spread``;
    ``iqr_note`` is the footnote to print with the table).

    Returns a DataFrame with a two-level row index (variable label, level) and one column,
    by default ``"Synthetic cohort (n=<len(cohort)>)"``.
    """
    records: list[tuple[str, str, str]] = []
    for spec in rows:
        row = _as_row(spec)
        if row.column not in cohort.columns:
            raise KeyError(f"column {row.column!r} is not in the cohort")
        builder = _categorical_rows if row.kind == "categorical" else _continuous_rows
        records.extend(builder(cohort, row, min_cell))
    column = column or f"Synthetic cohort (n={privacy.count_text(len(cohort), min_cell)})"
    index = pd.MultiIndex.from_tuples([(a, b) for a, b, _ in records], names=["Characteristic", "Level"])
    return pd.DataFrame({column: [c for _, _, c in records]}, index=index)


# ---------------------------------------------------------------------------------------
# regression tables (gtsummary tbl_regression-like)
# ---------------------------------------------------------------------------------------

_BRACKET = re.compile(r"^(?P<variable>.+?)\[(?:T\.)?(?P<level>.+)\]$")


def _split_covariate(name: str, known_variables: Iterable[str]) -> tuple[str, str]:
    """``"atg_type[T.ATG-T]"``, ``"atg_type=ATG-T"``, ``"atg_type_ATG-T"`` -> ("atg_type", "ATG-T")."""
    name = str(name)
    match = _BRACKET.match(name)
    if match:
        return match["variable"], match["level"]
    for variable in sorted(known_variables, key=len, reverse=True):
        for sep in ("_", "=", ":"):
            if name.startswith(variable + sep) and len(name) > len(variable) + 1:
                return variable, name[len(variable) + 1 :]
    for sep in ("=", ":"):
        if sep in name:
            variable, level = name.split(sep, 1)
            return variable, level
    return name, ""


def term_parts(term: str) -> tuple[str, str]:
    """(variable, level) of a model term: ``"atg_type[ATG-P]"`` -> ``("atg_type", "ATG-P")``."""
    return _split_covariate(term, FACTORS)


def level_text(level: Any) -> str:
    """A factor level as printed: ``"<=90"`` -> ``"≤ 90"``, ``">90"`` -> ``"> 90"``."""
    text = str(level)
    for code, sign in (("<=", "≤"), (">=", "≥"), ("<", "<"), (">", ">")):
        if text.startswith(code):
            return f"{sign} {text[len(code) :]}"
    return text


def term_label(term: str, reference_levels: Mapping[str, str] | None = None) -> str:
    """A model term in the reader's words: ``"atg_type[ATG-P]"`` -> ``"ATG type: ATG-P vs ATG-F"``.

    The variable is named by its factor label and the level is set against the reference level
    (``reference_levels[variable]``, else the factor's first level); a term that names no known factor
    keeps its variable name with underscores turned into spaces.
    """
    known = dict(reference_levels or {})
    for name, fac in FACTORS.items():
        known.setdefault(name, fac.levels[0])
    variable, level = _split_covariate(term, known)
    label = FACTORS[variable].label if variable in FACTORS else variable.replace("_", " ")
    if not level:
        return label
    reference = known.get(variable)
    versus = f" vs {level_text(reference)}" if reference is not None else ""
    return f"{label}: {level_text(level)}{versus}"


def factor_names_as_labels(text: str) -> str:
    """``text`` with every factor's code name (a whole word, e.g. ``atg_type``) replaced by its label."""
    for name, fac in FACTORS.items():
        text = re.sub(rf"\b{re.escape(name)}\b", fac.label, text)
    return text


_QUOTED_LIST = re.compile(r"\[('[^']*'(?:, '[^']*')*)\]")
_TERM = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)*\[[^\]]+\]")


def plain_note(
    text: str, reference_levels: Mapping[str, str] | None = None, causes: Mapping[int, str] | None = None
) -> str:
    """A note a model fit raised, in the reader's words: a Python list of names becomes a plain list, a term
    becomes :func:`term_label` (``"atg_type[ATG-P]"`` -> ``"Type of ATG: ATG-P vs ATG-F"``), a factor's code
    name its label, and "cause k" the name ``causes[k]`` (e.g. ``{1: "relapse"}``). Other text is kept."""
    text = _QUOTED_LIST.sub(lambda m: ", ".join(q[1:-1] for q in re.findall(r"'[^']*'", m.group(1))), str(text))
    text = factor_names_as_labels(_TERM.sub(lambda m: term_label(m.group(0), reference_levels), text))
    for code, name in (causes or {}).items():
        text = re.sub(rf"\bcause {code}\b", name, text)
    return text


def _flagged(row: pd.Series) -> bool:
    """The model's own separation flag (column ``separation`` or ``separated``), if any."""
    for key in ("separation", "separated"):
        value = row.get(key)
        if value is not None and not _is_missing(value) and bool(value):
            return True
    return False


def separated(row) -> bool:
    """Whether a model term (a row of a model summary) is not estimable: the model's own separation flag, or an
    interval that runs off to 0 or infinity (:func:`is_separated`)."""
    return _flagged(row) or is_separated(row["hr"], row["hr_lower"], row["hr_upper"])


def hr_text(row) -> str:
    """The hazard-ratio cell of a model term (a row of a model summary, or of :func:`regression_rows`, not its
    reference): the text of a term withheld for privacy (column ``withheld``), :data:`SEPARATION_TEXT` for a
    term not estimable (:func:`separated`), else "HR (lower-upper)" (:func:`format_hr`)."""
    withheld = str(row.get("withheld", "") or "")
    if withheld:
        return withheld
    if separated(row):
        return SEPARATION_TEXT
    return format_hr(row["hr"], row["hr_lower"], row["hr_upper"])


def regression_rows(
    summary: pd.DataFrame, reference_levels: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Long form of a Cox/Fine-Gray summary with the reference level of each variable inserted.

    ``summary`` has columns ``hr, hr_lower, hr_upper, p`` and either ``variable``/``level``
    columns or an index naming covariates as ``variable[level]`` (as ``fine_gray`` does),
    ``variable=level`` or ``variable_level``. The reference level of a variable is, in
    order: the summary's own ``reference`` column (a level name per term, as ``fine_gray``
    gives), ``reference_levels[variable]``, the first level of ``factors.FACTORS[variable]``.
    A ``separation`` column flags terms whose HR is not estimable. ``labels`` maps variable -> printed
    name (default: the factor's label, else the variable name).

    A ``withheld`` column (:func:`~hsct_analysis.book.privacy.withhold_terms`) gives the text that stands for a
    term not shown.

    Returns columns ``variable, label, level, hr, hr_lower, hr_upper, p, reference,
    separated, withheld``; the reference row has hr = 1 and no interval.
    """
    missing = {"hr", "hr_lower", "hr_upper", "p"} - set(summary.columns)
    if missing:
        raise KeyError(f"summary lacks columns {sorted(missing)}")
    reference_levels = dict(reference_levels or {})
    for name, fac in FACTORS.items():
        reference_levels.setdefault(name, fac.levels[0])
    labels = dict(labels or {})

    parsed = []
    for name, row in summary.iterrows():
        if "variable" in summary.columns and "level" in summary.columns:
            variable, level = str(row["variable"]), str(row["level"])
        else:
            variable, level = _split_covariate(name, reference_levels)
        given_reference = row.get("reference")  # fine_gray / cox summaries name it per term
        if isinstance(given_reference, str) and given_reference:
            reference_levels[variable] = given_reference
        parsed.append((variable, level, row))

    order: list[str] = []
    for variable, _, _ in parsed:
        if variable not in order:
            order.append(variable)

    records = []
    for variable in order:
        label = labels.get(variable) or (FACTORS[variable].label if variable in FACTORS else variable)
        levels_here = [(lv, r) for v, lv, r in parsed if v == variable]
        ref = reference_levels.get(variable)
        if ref is not None and any(lv for lv, _ in levels_here):
            records.append(
                dict(
                    variable=variable,
                    label=label,
                    level=str(ref),
                    hr=1.0,
                    hr_lower=np.nan,
                    hr_upper=np.nan,
                    p=np.nan,
                    reference=True,
                    separated=False,
                    withheld="",
                )
            )
        if variable in FACTORS:
            rank = {lv: i for i, lv in enumerate(FACTORS[variable].levels)}
            levels_here.sort(key=lambda item: rank.get(item[0], len(rank)))
        for level, r in levels_here:
            withheld = str(r.get("withheld", "") or "")  # privacy.withhold_terms
            records.append(
                dict(
                    variable=variable,
                    label=label,
                    level=level,
                    hr=float(r["hr"]),
                    hr_lower=float(r["hr_lower"]),
                    hr_upper=float(r["hr_upper"]),
                    p=float(r["p"]) if not _is_missing(r["p"]) else np.nan,
                    reference=False,
                    separated=not withheld and separated(r),
                    withheld=withheld,
                )
            )
    columns = ["variable", "label", "level", "hr", "hr_lower", "hr_upper", "p", "reference", "separated", "withheld"]
    return pd.DataFrame.from_records(records, columns=columns)


def regression_table(
    summary: pd.DataFrame,
    reference_levels: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    hr_column: str = "HR (95% CI)",
) -> pd.DataFrame:
    """gtsummary-like regression table: one row per level, reference level "1 (reference)".

    Rows are indexed by (variable label, level); columns ``hr_column`` ("4.10 (1.64-10.24)",
    or "not estimable (separation)", or the text of a term withheld for privacy) and ``"p"`` ("0.003", "<0.001";
    empty for the reference and a withheld term, "—" when the HR is not estimable). Arguments as in
    ``regression_rows``.
    """
    rows = regression_rows(summary, reference_levels, labels)
    hrs, ps = [], []
    for _, r in rows.iterrows():
        hrs.append(REFERENCE_TEXT if r["reference"] else hr_text(r))
        ps.append("" if r["reference"] or r["withheld"] else "—" if r["separated"] else format_p(r["p"]))
    levels = [level_text(level) for level in rows["level"]]
    index = pd.MultiIndex.from_arrays([rows["label"], levels], names=["Variable", "Level"])
    return pd.DataFrame({hr_column: hrs, "p": ps}, index=index)


# ---------------------------------------------------------------------------------------
# paper vs reproduced
# ---------------------------------------------------------------------------------------

SIDE_BY_SIDE_COLUMNS = ["Paper", "Reproduced (synthetic)", "Difference", "Within tolerance"]
MISS_MARK = "✗"
PASS_MARK = "✓"
_RATIO_KINDS = {"hr", "p"}
_PLAIN_UNITS = {"", "n", "ratio", "p"}


def _as_number(x: Any) -> float | None:
    if _is_missing(x) or isinstance(x, str):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _with_unit(text: str, unit: str) -> str:
    if unit in _PLAIN_UNITS or text == "NA":
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def _row_digits(r: Mapping[str, Any], kind: str, unit: str, default: int) -> int:
    if not _is_missing(r.get("digits")):
        return int(r["digits"])
    if kind == "count" or (kind in ("median", "range") and unit == "days"):
        return 0
    if kind == "hr":
        return 2
    return default


def _format_value(x: Any, digits: int, kind: str, unit: str) -> str:
    if isinstance(x, str):
        return x
    if kind == "p" or unit == "p":
        return format_p(x)
    return _with_unit(format_number(x, digits), unit)


def _difference_text(pub: float | None, rep: float | None, digits: int, ratio: bool, unit: str) -> str:
    if pub is None or rep is None or not (math.isfinite(pub) and math.isfinite(rep)):
        return "NA"
    if ratio:
        return f"×{rep / pub:.2f}" if pub > 0 else "NA"
    diff_unit = "pp" if unit == "%" else unit
    return _with_unit(f"{rep - pub:+.{digits}f}", diff_unit)


def _tolerance_phrase(tolerance: Any, digits: int, unit: str) -> str:
    """ "±1.0 pp", "exact", "within ×1.25": the tolerance as the reader should see it."""
    number = _as_number(tolerance)
    if number is not None:
        return "±" + _with_unit(format_number(number, digits), "pp" if unit == "%" else unit)
    if _is_missing(tolerance):
        return ""
    text = str(tolerance).replace("+-", "±").replace("+/-", "±")
    return re.sub(r"\bx(?=\d)", "×", text)


def _verdict(passed: bool | None, phrase: str) -> str:
    if passed is None:
        return "not compared"
    if phrase.startswith("±"):
        return f"{PASS_MARK} within {phrase}" if passed else f"{MISS_MARK} outside {phrase}"
    if not phrase:
        return PASS_MARK if passed else MISS_MARK
    return f"{PASS_MARK} met: {phrase}" if passed else f"{MISS_MARK} not met: {phrase}"


def side_by_side(rows: pd.DataFrame | Iterable[Mapping[str, Any]], digits: int = 1) -> pd.DataFrame:
    """The paper's numbers next to the reproduced ones, with misses marked in the text itself.

    ``rows`` is a DataFrame or dicts, e.g. ``scorecard.reproduce(...)``: ``published``,
    ``reproduced``, a row name in ``label`` (else ``id``, else the index) and optionally
    ``tolerance`` (a number in the row's unit, or the scorecard's rule text such as
    "+-1 pp", "exact", "within x1.25"), ``passed`` (computed as |reproduced - published|
    <= tolerance when absent and the tolerance is a number), ``kind`` (scorecard kinds:
    count, percent, km, cif, median, range, p, hr), ``unit`` ("%" -> differences in
    percentage points "pp"; "p" -> p-value formatting; "n"/"ratio" -> no unit; else e.g.
    "days"), ``digits`` and ``note`` (the reason for a miss).

    Returns a DataFrame indexed by row name with columns "Paper", "Reproduced (synthetic)",
    "Difference" ("+2.2 pp", or "×1.35" for hazard ratios and p-values) and "Within
    tolerance" ("✓ within ±1.0 pp", "✗ outside ±1.0 pp", "✗ not met: within ×1.25"), plus
    "Note" when notes were given. ``highlight_misses`` adds the colour.
    """
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    name_col = "label" if "label" in frame.columns else "id" if "id" in frame.columns else None
    if name_col is None:
        frame = frame.reset_index().rename(columns={frame.index.name or "index": "label"})
        name_col = "label"
    needed = {"published", "reproduced"} - set(frame.columns)
    if needed:
        raise KeyError(f"rows lack columns {sorted(needed)}")
    out = []
    for r in frame.to_dict("records"):
        kind = "" if _is_missing(r.get("kind")) else str(r["kind"])
        unit = "" if _is_missing(r.get("unit")) else str(r["unit"])
        d = _row_digits(r, kind, unit, digits)
        pub, rep = _as_number(r["published"]), _as_number(r["reproduced"])
        tol = _as_number(r.get("tolerance"))
        passed = r.get("passed")
        if _is_missing(passed):
            ok = pub is not None and rep is not None and tol is not None
            passed = bool(abs(rep - pub) <= tol + 1e-9) if ok else None
        else:
            passed = bool(passed)
        record = {
            "label": r[name_col],
            "Paper": _format_value(r["published"], d, kind, unit),
            "Reproduced (synthetic)": _format_value(r["reproduced"], d, kind, unit),
            "Difference": _difference_text(pub, rep, d, kind in _RATIO_KINDS or unit in ("p", "ratio"), unit),
            "Within tolerance": _verdict(passed, _tolerance_phrase(r.get("tolerance"), d, unit)),
        }
        if "note" in frame.columns:
            record["Note"] = "" if _is_missing(r.get("note")) else str(r["note"])
        out.append(record)
    table = pd.DataFrame(out, columns=["label", *SIDE_BY_SIDE_COLUMNS] + (["Note"] if "note" in frame.columns else []))
    table = table.set_index("label")
    table.index.name = None
    return table


#: How many tables with each content digest this process has styled (two equal tables on a page get two ids).
_STYLED: Counter = Counter()


def stable_ids(styler):
    """``styler`` with an HTML id taken from its content instead of pandas' random ``uuid4``, so that two
    builds of the same inputs write the same page (``T_<digest>`` ids, numbered when a table repeats)."""
    text = styler.data.to_csv() + "\x00" + str(styler.caption)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    _STYLED[digest] += 1
    return styler.set_uuid(digest if _STYLED[digest] == 1 else f"{digest}-{_STYLED[digest]}")


class StyledTable(Styler):
    """A pandas ``Styler`` whose plain-text form is its table: a notebook keeps it next to the HTML, and pandas'
    own names the object's memory address, which differs from one run to the next."""

    def __repr__(self) -> str:
        return repr(self.data)


def styled(frame: pd.DataFrame) -> StyledTable:
    """``frame.style`` with stable HTML ids (:func:`stable_ids`) and text; use it instead of ``DataFrame.style``."""
    return stable_ids(StyledTable(frame))


def two_line(frame: pd.DataFrame) -> StyledTable:
    """:func:`styled` for a table whose cells hold two lines (ours, then the paper's: Table 3 side by side): each
    line stays whole, so an interval never breaks across lines; a table wider than the page scrolls in its frame."""
    return styled(frame).set_table_attributes('class="hsct-two-line"')


MISS_STYLE = "background-color: #fbe3d6; color: #8b1a00; font-weight: bold"


def highlight_misses(table: pd.DataFrame):
    """A pandas Styler of a ``side_by_side`` table with every miss row shaded and bold.

    A row misses when its "Within tolerance" text starts with "✗". Renders as HTML in
    Jupyter Book; the "✗ outside ±…" text keeps the miss visible in plain text too.
    """
    misses = table["Within tolerance"].astype(str).str.startswith(MISS_MARK).to_numpy()

    def styles(frame: pd.DataFrame) -> pd.DataFrame:
        cells = np.where(misses[:, None], MISS_STYLE, "")
        return pd.DataFrame(np.broadcast_to(cells, frame.shape), index=frame.index, columns=frame.columns)

    return styled(table).apply(styles, axis=None)


@dataclass
class ReaderTable:
    """A reader table rendered without its index, in a frame that scrolls on its own on a phone."""

    frame: pd.DataFrame

    def _repr_html_(self) -> str:
        styler = styled(self.frame).format(escape="html").hide(axis="index").set_table_attributes('class="hsct-reader"')
        return f'<div class="hsct-table-frame">{styler.to_html()}</div>'


def reader_table(frame: pd.DataFrame) -> ReaderTable:
    """Wrap a reader table for display in a chapter."""
    return ReaderTable(frame)
