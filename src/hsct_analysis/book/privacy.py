"""Small-cell suppression: the one rule every table and figure of the book applies with ``--min-cell N``.

The rule (also on the "Use your own data" page):

1. **Primary suppression.** A count of 1 to N-1 patients (or events) is shown as ``"<N"``.
2. **Zeros are shown as 0.** "No patient" describes nobody, so it cannot identify anyone, and writing ``"<N"``
   for it would claim that patients exist. A zero is still a known value when checking rule 3.
3. **Complementary suppression.** Counts that add up to a total that is shown (the levels of one variable, the
   outcomes of one group, the causes of death) form a *line*. In a line with a masked count, further counts are
   masked (the smallest first, shown as ``"*"``) until at least two are masked, the masked counts add up to at
   least N, and no masked count is pinned down by the total less the shown counts together with what the masks
   say (a ``"<N"`` count is 1 to N-1, a ``"*"`` one at least N: seven ``"<5"`` adding up to 7 would all be 1). So
   no masked count can be recovered from the total, and their sum is not itself a small cell. If that is
   impossible, the total is masked too.
4. **Percentages** are shown only next to a count that is shown.
5. **The cohort size** is a count like any other: below N it is shown as ``"<N"``.
6. **Curves.** A figure of curves is not drawn when a curve describes fewer than N patients (the steps of a survival
   curve of 3 patients tell when each of them died), nor when the patients in none of its curves (their factor not
   recorded) are 1 to N - 1: the whole cohort's curve and numbers at risk, less the groups', give theirs back. The
   figure's sentence says why (:func:`curves_withheld`, :func:`curves_withheld_why`). Where a figure by a factor
   is drawn, its numbers at risk are shown only at the first times where every one of them, and the whole
   cohort's less theirs, is 0 or at least N and moved by 0 or at least N (:func:`suppress_at_risk`): masked
   numbers of groups whose total is shown elsewhere could be recovered by subtraction.
7. **Hazard ratios.** A model's hazard ratio compares a level with its factor's reference level; where either holds
   fewer than N of the model's patients, its estimate, interval and p are not shown (:func:`withhold_terms`): a
   hazard ratio of 2 patients against 90, or "not estimable", tells whether those 2 had the event. So does the p of
   a log-rank or Gray test across groups one of which holds fewer than N patients (:func:`p_withheld`).

``N <= 1`` (or None) turns suppression off. Functions here never modify their input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: The text of a count hidden only so that a small count cannot be recovered by subtraction (rule 3).
COMPLEMENTARY = "*"
#: What stands for a group's estimate when the group's size is masked: a survival or incidence of a few patients
#: gives back how many of them had the event (:func:`not_shown`).
NOT_SHOWN_SMALL = "not shown (fewer than {n} patients)"
#: ... and when its size is masked only so that a small one beside it cannot be recovered (the group is not small).
NOT_SHOWN_MASKED = "not shown (its size is masked)"
#: What stands for a hazard ratio against a reference level of fewer than N patients (rule 7).
NOT_SHOWN_SMALL_REFERENCE = "not shown (the reference has fewer than {n} patients)"
#: What stands for a test's p across groups one of which holds fewer than N patients (rule 7).
NOT_SHOWN_SMALL_GROUP = "not shown (a group has fewer than {n} patients)"


def p_withheld(sizes: Iterable[int], min_cell: int | None) -> str:
    """Rule 7 for a test across groups of ``sizes`` patients (a log-rank or Gray p): the text that stands for its
    p where a group holds 1 to ``min_cell`` - 1 patients (as for a hazard ratio, a p of 2 patients against 90 tells
    whether those 2 had the event), or ``""`` where it is shown. An empty group is left out of the test."""
    if masking(min_cell) and any(0 < int(size) < int(min_cell) for size in sizes):
        return NOT_SHOWN_SMALL_GROUP.format(n=int(min_cell))
    return ""


def not_shown(size_text: str, min_cell: int) -> str:
    """What stands for the estimate of a group whose size reads ``size_text`` (``"<min_cell"`` or ``"*"``)."""
    return NOT_SHOWN_MASKED if size_text == COMPLEMENTARY else NOT_SHOWN_SMALL.format(n=int(min_cell))


#: Why a figure of curves is not drawn under ``--min-cell`` (:func:`curves_withheld`).
CURVES_WITHHELD = "a curve would describe fewer than {n} patients, and each of its steps is one patient's event"


#: Why a figure of curves by a factor is not drawn under ``--min-cell`` when few patients lack the factor.
CURVES_UNRECORDED_WITHHELD = (
    "fewer than {n} patients have no recorded {factor}, and the whole cohort's curve and numbers at risk less these "
    "curves would give theirs back"
)


def curves_withheld(sizes: Iterable[int], min_cell: int | None, unrecorded: int = 0) -> bool:
    """True when a figure of curves whose groups hold ``sizes`` patients must not be drawn: a group has fewer than
    ``min_cell`` patients. Its steps show its events one by one, and with the other curves (or the whole cohort's)
    a small group's curve is given back by difference, so the whole figure is left out. ``unrecorded``: the
    cohort's patients in none of the groups (their factor not recorded); the whole cohort's curve less the
    groups' is theirs, so 1 to ``min_cell`` - 1 of them withhold the figure too."""
    sizes = [int(size) for size in sizes] + ([int(unrecorded)] if unrecorded else [])
    return masking(min_cell) and any(size < int(min_cell) for size in sizes)


def curves_withheld_why(sizes: Iterable[int], min_cell: int, unrecorded: int, factor_label: str) -> str:
    """The sentence of a figure :func:`curves_withheld` leaves out: a small group, or few patients without
    ``factor_label`` recorded."""
    if curves_withheld(sizes, min_cell):
        return CURVES_WITHHELD.format(n=int(min_cell))
    return CURVES_UNRECORDED_WITHHELD.format(n=int(min_cell), factor=factor_label)


def masking(min_cell: int | None) -> bool:
    """True when ``min_cell`` asks for suppression (a number above 1)."""
    return min_cell is not None and int(min_cell) > 1


def primary_text(min_cell: int) -> str:
    """``"<N"``: how a count of 1 to N-1 is shown."""
    return f"<{int(min_cell)}"


def is_small(count: Any, min_cell: int | None) -> bool:
    """True for a count of 1 to ``min_cell - 1`` (rule 1); False for 0, missing values and text."""
    if not masking(min_cell) or isinstance(count, str) or count is None:
        return False
    try:
        value = float(count)
    except (TypeError, ValueError):
        return False
    return not np.isnan(value) and 0 < value < int(min_cell)


def count_text(count: Any, min_cell: int | None) -> Any:
    """One count alone: ``"<N"`` when it is 1 to N-1, otherwise the count unchanged (zeros included)."""
    return primary_text(min_cell) if is_small(count, min_cell) else count


def part_of(part: Any, total: Any, min_cell: int | None) -> Any:
    """A count shown next to its total (e.g. "n = 40, 12 events"): ``"<N"`` when small, ``"*"`` when the rest
    (total - part, e.g. the patients without an event) is small and would be revealed by subtraction."""
    if is_small(part, min_cell):
        return primary_text(min_cell)
    if is_small(float(total) - float(part), min_cell):
        return COMPLEMENTARY
    return part


def model_counts(n: int, events: int, total: int, total_events: int, min_cell: int | None) -> tuple[Any, Any]:
    """A model's patients and events for its caption ("n = 41, 24 events"), where the cohort's ``total`` patients
    and ``total_events`` events are shown elsewhere: each reads ``"<N"`` when small, and ``"*"`` when what it leaves
    out would be small and so revealed by subtraction (patients with a factor not recorded: total - n; their events:
    total_events - events; patients of the model without the event: n - events)."""
    n_text = part_of(n, total, min_cell)
    events_text = part_of(events, n, min_cell)
    if events_text == events and is_small(total_events - events, min_cell):
        events_text = COMPLEMENTARY
    return n_text, events_text


def suppress_line(
    counts: Sequence[float], min_cell: int | None, total_shown: bool = True
) -> tuple[list[bool], list[bool], bool]:
    """Which counts of one line to mask: (primary, complementary, mask the total too).

    ``counts`` are the parts of one total (which is shown when ``total_shown``). Rule 3: with any masked
    count, at least two are masked and the masked ones add up to at least ``min_cell``; complementary cells
    are chosen among the shown non-zero counts, smallest first.
    """
    values = np.array([0.0 if c is None or (isinstance(c, float) and np.isnan(c)) else float(c) for c in counts])
    primary = [is_small(v, min_cell) for v in values]
    if not masking(min_cell) or not any(primary) or not total_shown:
        return primary, [False] * len(primary), False
    extra, hide_total = _complementary(values, np.array(primary, dtype=bool), int(min_cell))
    return primary, extra.tolist(), hide_total


def suppress_counts(counts: pd.Series, min_cell: int | None, total_shown: bool = True) -> tuple[pd.Series, bool]:
    """A line of counts with rules 1-3 applied (object dtype) and whether its total must be masked too."""
    primary, secondary, hide_total = suppress_line(list(counts), min_cell, total_shown)
    out = counts.astype(object).copy()
    for i, (p, s) in enumerate(zip(primary, secondary)):
        if p:
            out.iloc[i] = primary_text(min_cell)
        elif s:
            out.iloc[i] = COMPLEMENTARY
    return out, hide_total


def n_percent_line(counts: Sequence[int], total: int, min_cell: int | None, digits: int = 1) -> list[str]:
    """ "n (p%)" texts of one line whose total ``total`` is shown, rules 1-4 applied."""
    primary, secondary, hide_total = suppress_line(list(counts), min_cell, True)
    out = []
    for count, p, s in zip(counts, primary, secondary):
        if p:
            out.append(primary_text(min_cell))
        elif s or hide_total:
            out.append(COMPLEMENTARY)
        else:
            pct = 100.0 * count / total if total else float("nan")
            out.append(f"{int(count)} ({pct:.{digits}f}%)" if total else f"{int(count)}")
    return out


def suppress_table(
    table: pd.DataFrame,
    min_cell: int | None,
    parts: Iterable[str],
    total: str | None = None,
    column_totals: bool = False,
) -> pd.DataFrame:
    """A table of counts with rules 1-3 applied to each row (and to each column with ``column_totals``).

    ``parts`` are the count columns that add up to the row's ``total`` column (e.g. relapse, death without
    relapse, censored, adding up to patients). The ``total`` column is itself a count: with
    ``column_totals`` it is a line across the rows (the groups add up to the cohort), and a row whose total is
    masked has every part masked. With ``column_totals`` (the column sums, e.g. all relapses, are shown
    elsewhere) each part column is a line as well; rows and columns are revisited until no masked count can be
    recovered from either. Without ``total`` the parts are masked one by one (rule 1).
    """
    parts = list(parts)
    if not masking(min_cell) or table.empty:
        return table.copy()
    n = int(min_cell)
    names = parts + ([total] if total is not None else [])
    values = table[names].astype(float).fillna(0.0).to_numpy()
    primary = (values > 0) & (values < n)
    hide = primary.copy()
    k = len(parts)  # column index of the total, when there is one
    changed = True
    while changed:
        changed = False
        lines = []
        if total is not None:
            lines += [(r, slice(0, k)) for r in range(values.shape[0])]
        if column_totals:
            lines += [(slice(None), c) for c in range(len(names))]
        for r, cols in lines:
            line_hide, line_values = hide[r, cols], values[r, cols]
            if total is not None and isinstance(r, int) and hide[r, k] and not line_hide[line_values > 0].all():
                new = line_hide | (line_values > 0)  # a masked total: its parts would add up to it
            elif line_hide.any():
                extra, whole = _complementary(line_values, line_hide, n, primary[r, cols])
                new = line_hide | extra
                if whole and isinstance(r, int) and total is not None and not hide[r, k]:
                    hide[r, k] = True
                    changed = True
            else:
                continue
            if (new != line_hide).any():
                hide[r, cols] = new
                changed = True
    out = table.copy()
    for j, name in enumerate(names):
        column = out[name].astype(object)
        for i in np.flatnonzero(hide[:, j]):
            column.iloc[i] = primary_text(n) if primary[i, j] else COMPLEMENTARY
        out[name] = column
    return out


def suppress_cumulative(values: Sequence[float], min_cell: int | None) -> list:
    """A running count (events so far, patients still at risk) with no small step between shown values.

    Two shown values of a running count differ by the events (or exits) between them, so a value is shown
    only when it differs from the previous shown one by 0 or by at least N (and is itself 0 or at least N);
    the others read ``"<N"`` when below N, otherwise ``"*"``.
    """
    if not masking(min_cell):
        return list(values)
    n, out, last = int(min_cell), [], None
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(v)
            continue
        step_ok = last is None or v == last or abs(v - last) >= n
        if is_small(v, n):
            out.append(primary_text(n))
        elif not step_ok:
            out.append(COMPLEMENTARY)
        else:
            out.append(v)
            last = v
    return out


#: What a number at risk withheld by :func:`suppress_at_risk` reads (nothing: the time is not shown).
AT_RISK_HIDDEN = ""


def suppress_at_risk(table: pd.DataFrame, min_cell: int | None, cohort: Sequence[float] | None = None) -> pd.DataFrame:
    """The numbers at risk of a figure (rows: its curves; columns: times), as shown under ``min_cell``.

    Alone, each row is a running count (:func:`suppress_cumulative`). With ``cohort``, the whole cohort's numbers
    at risk at the same times (shown under another figure): the curves are groups of the cohort, so the cohort's
    number less the curves' is that of the patients in none of them (factor not recorded; 0 when every patient has
    it), and a masked number of one curve is the cohort's less the others'. Masking cell by cell cannot stop such
    sums: two ``<5`` under a shown 8 are both 4. So the figure shows its numbers only at the first times where
    every number, the rest's included, is 0 or at least N and moved by 0 or at least N since the time before; from
    the first time that breaks this, no number is shown (:data:`AT_RISK_HIDDEN`). Nothing shown is masked, so
    nothing can be recovered; and the cohort's numbers at those times, sums of such counts, are 0 or at least N and
    move by 0 or at least N too, so the cohort's figure masks none of them (a masked one cannot be recovered
    here). Returns an object-dtype frame; the input is not modified."""
    if not masking(min_cell) or cohort is None or table.empty:
        return (
            table.astype(object)
            .apply(
                lambda row: pd.Series(suppress_cumulative(row.tolist(), min_cell), index=row.index, dtype=object),
                axis=1,
            )
            .astype(object)
        )
    n = int(min_cell)
    values = table.to_numpy(dtype=float)
    parts = np.vstack([values, np.asarray(cohort, dtype=float) - values.sum(axis=0)])  # the curves, then the rest
    small = (parts > 0) & (parts < n)
    step = np.abs(np.diff(parts, axis=1, prepend=parts[:, :1]))
    breaks = (small | ((step > 0) & (step < n))).any(axis=0)
    shown = np.cumsum(breaks) == 0  # every time before the first that breaks the rule
    out = table.astype(object).copy()
    out.iloc[:, ~shown] = AT_RISK_HIDDEN
    return out


def _pinned(values: np.ndarray, primary: np.ndarray, extra: np.ndarray, n: int) -> bool:
    """Whether a reader who knows the line's total can still pin down a masked count: a ``"<N"`` count lies in
    1 to N-1, a ``"*"`` count is at least N, and together they add up to the total less the counts shown. A
    masked count is pinned when those bounds leave it a single value (e.g. seven ``"<5"`` adding up to 7: all 1)."""
    masked = primary | extra
    low = np.where(primary, 1.0, float(n))[masked]
    high = np.where(primary, float(n - 1), np.inf)[masked]
    total = float(values[masked].sum())
    # the others' bounds of each masked count, from the line's sums (linear in its length; counts are whole, so the
    # sums are exact); the others' highs are unbounded as soon as one of them is a "*"
    unbounded = np.isinf(high)
    others_unbounded = unbounded.sum() - unbounded > 0
    others_high = np.where(others_unbounded, np.inf, high[~unbounded].sum() - np.where(unbounded, 0.0, high))
    lowest = np.maximum(low, total - others_high)
    highest = np.minimum(high, total - (low.sum() - low))
    return bool((highest <= lowest).any())


def _complementary(
    values: np.ndarray, hidden: np.ndarray, n: int, primary: np.ndarray | None = None
) -> tuple[np.ndarray, bool]:
    """Rule 3 for one line whose ``hidden`` counts are masked: the extra counts to mask, and whether even
    masking every non-zero count is not enough (then the line's total is masked too). ``primary`` marks the hidden
    counts that read ``"<N"`` (default: all of them); the others read ``"*"`` (masked for another line already), and a
    reader knows only that they are at least N."""
    primary = hidden if primary is None else primary & hidden
    extra = hidden & ~primary
    index = np.arange(len(values))
    shown = index[~hidden & (values > 0)]
    candidates = iter(shown[np.lexsort((shown, values[shown]))])  # the shown non-zero counts, smallest first
    while (hidden | extra).sum() < 2 or values[hidden | extra].sum() < n or _pinned(values, primary, extra, n):
        chosen = next(candidates, None)
        if chosen is None:
            return extra, True
        extra[chosen] = True
    return extra, False


def note(min_cell: int | None) -> str:
    """The sentence a page prints under a table with masked counts (empty without suppression)."""
    if not masking(min_cell):
        return ""
    n = int(min_cell)
    return (
        f'Counts of 1 to {n - 1} are shown as "<{n}" (`--min-cell {n}`); a "{COMPLEMENTARY}" hides a larger '
        f"count so that a small one cannot be recovered from the total; zeros are shown as 0."
    )


def term_sizes(summary: pd.DataFrame, data: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Patients of each term of a regression ``summary`` (index ``factor[level]``, a ``reference`` column naming
    the term's reference level) in ``data``, the model's patients with one column per factor:
    term -> (patients at the level, patients at the reference level)."""
    sizes = {}
    for term, row in summary.iterrows():
        factor = max((c for c in data.columns if str(term).startswith(f"{c}[")), key=len)
        level = str(term)[len(factor) + 1 : -1]
        values = data[factor].astype(str)
        sizes[str(term)] = (int((values == level).sum()), int((values == str(row["reference"])).sum()))
    return sizes


def term_withheld(size: tuple[int, int], min_cell: int | None) -> str:
    """Rule 7 for one model term of ``size`` (patients at its level, at its reference level): the text that stands
    for its hazard ratio, or ``""`` where it is shown."""
    if not masking(min_cell):
        return ""
    level, reference = size
    if level < min_cell:
        return NOT_SHOWN_SMALL.format(n=min_cell)
    return NOT_SHOWN_SMALL_REFERENCE.format(n=min_cell) if reference < min_cell else ""


def withhold_terms(summary: pd.DataFrame, sizes: dict[str, tuple[int, int]], min_cell: int | None) -> pd.DataFrame:
    """Rule 7: a copy of a regression ``summary`` with a ``withheld`` column, the text that stands for the term
    (``""`` where it is shown), and no estimate (coef, standard error, HR, interval, p set to NaN) where the level or
    its reference holds fewer than ``min_cell`` patients (``sizes``: :func:`term_sizes`)."""
    out = summary.copy()
    out["withheld"] = ""
    if not masking(min_cell):
        return out
    out["withheld"] = [term_withheld(sizes[str(term)], min_cell) for term in out.index]
    small = out.index[out["withheld"] != ""]
    estimates = [c for c in ("coef", "std_err", "hr", "hr_lower", "hr_upper", "p", "z") if c in out.columns]
    out.loc[small, estimates] = np.nan
    if "separation" in out.columns:
        out.loc[small, "separation"] = False
    return out
