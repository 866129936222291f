"""Paper vs ours, one compact row per published estimate, in the reader's words.

The scorecard keeps every printed number as its own entry: an estimate, its lower and its upper confidence bound
are three entries. A reader wants one row::

    Overall survival at 3 years, %   Paper 55.3 (44.3–66.1)   Ours 55.5 (44.8–65.9)   Δ +0.2   ✓

:func:`compact` folds the entries of each estimate into such a row; when the paper's own audit found a problem
with the number, the reason becomes a numbered footnote under the table, written with the book's labels rather
than registry ids or column names. :class:`Comparison` renders as a static HTML table (pandas ``Styler``) in a
frame that scrolls on its own on a phone, with the label column kept in view.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.book import tables

PASS, MISS = "✓", "✗"
COLUMNS = ["Estimate", "Paper", "Ours", "Δ", "Within tolerance"]
_ID = re.compile(r"\b(?:res|t1|t2|t3|t4|text|abs)\.[^\s,;:)]+(?<![.,])")
CHECK_NAMES = {
    "identity": "1 − LFS should equal relapse + NRM",
    "percent_vs_count": "the percentage does not follow from the count",
    "ci_order": "the interval does not contain the estimate",
    "hr_separation": "a hazard ratio that only a separated model gives",
    "nrm_le_mortality": "NRM above all-cause mortality",
    "lfs_equals_os": "LFS equal to OS despite relapses",
    "lfs_le_os": "LFS above OS",
    "category_sum": "the categories do not add up",
    "median_in_range": "the median lies outside the range",
    "p_vs_ci": "the p-value contradicts the interval",
    "duplicate": "printed twice",
    "unreachable_bound": "a bound no cohort can meet (proof)",
    "subgroup_mixture": "the groups do not average to the whole cohort",
}


def estimate_stem(row_id: str) -> str:
    """The estimate an entry belongs to: ``res.os.3y.lo`` -> ``res.os.3y``; a count and its percentage share one."""
    head, _, tail = row_id.rpartition(".")
    return head if tail in ("est", "lo", "up", "min", "max", "ref", "n", "pct") and head else row_id


def number_text(x, digits: int) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)) or pd.isna(x):
        return "not computed"
    x = float(x)
    if abs(x) >= 1000 and digits > 0:  # e.g. the hazard ratio of a separated model: 1,420,000
        return f"{x:,.0f}"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def digits_for(kind: str, unit: str) -> int:
    if kind == "p":
        return 3
    if kind == "hr":
        return 2
    return 0 if kind == "count" or unit in ("days", "n") else 1


def _value_text(values: dict[str, float], kind: str, digits: int) -> str:
    """'55.3 (44.3–66.1)', '33–1901', '7 (7.4%)', '0.004' or '<0.001' from one side's numbers of an estimate."""
    if kind == "count_percent":
        return f"{number_text(values.get('count'), 0)} ({number_text(values.get('percent'), 1)}%)"
    if kind == "range":
        return f"{number_text(values.get('min'), digits)}–{number_text(values.get('max'), digits)}"
    point = values.get("value")
    if kind == "p" and point is not None and not pd.isna(point) and float(point) < 0.001:
        text = "<0.001"
    else:
        text = number_text(point, digits)
    if "lower" in values and "upper" in values:
        text += f" ({number_text(values['lower'], digits)}–{number_text(values['upper'], digits)})"
    return text


def _signed(d: float, digits: int) -> str:
    text = f"{d:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def _delta_text(pub: dict, rep: dict, kind: str, digits: int) -> str:
    if kind == "count_percent":
        parts = [rep.get(k, np.nan) - pub.get(k, np.nan) for k in ("count", "percent")]
        if any(pd.isna(d) for d in parts):
            return "–"
        return f"{_signed(parts[0], 0)} ({_signed(parts[1], 1)} pp)"
    if kind == "range":
        parts = [rep.get(k, np.nan) - pub.get(k, np.nan) for k in ("min", "max")]
        return " / ".join("–" if pd.isna(d) else _signed(d, digits) for d in parts)
    p, r = pub.get("value"), rep.get("value")
    if p is None or r is None or pd.isna(p) or pd.isna(r):
        return "–"
    if kind in ("hr", "p"):
        return "–" if p <= 0 or r <= 0 else f"×{r / p:.2f}"
    return _signed(r - p, digits)


def plain_reason(text: str, labels: dict[str, str], name_label=None) -> str:
    """An audit reason in the reader's words: registry ids become labels, check and column names become prose."""
    if not isinstance(text, str) or not text.strip():
        return ""
    parts = []
    for part in text.split(" | "):
        part = re.sub(r"^CI of [^,]+, which is involved in: ", "", part.strip())
        part = re.sub(r"^same number as [^:]+: ", "", part)
        check, sep, rest = part.partition(": ")
        if sep and check in CHECK_NAMES:
            part = f"{CHECK_NAMES[check][0].upper()}{CHECK_NAMES[check][1:]}: {rest}"
        part = _ID.sub(
            lambda m: labels.get(estimate_stem(m.group(0)), labels.get(m.group(0), "another estimate")), part
        )
        part = tables.factor_names_as_labels(part)
        if name_label is not None:
            part = re.sub(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", lambda m: name_label(m.group(0)), part)
        part = re.sub(r"\b(\d+) y\b", lambda m: f"{m.group(1)} year" + ("s" if m.group(1) != "1" else ""), part)
        part = part.replace("<=", "≤").replace(">=", "≥")
        parts.append(part)
    return "; ".join(dict.fromkeys(p for p in parts if p))


@dataclass
class Comparison:
    """A compact paper-vs-ours table: ``frame`` (one row per estimate) and its numbered ``notes`` (plain text, escaped
    when rendered; a line break in a note starts a new line)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    misses: list[bool] = field(default_factory=list)
    caption: str = ""
    points: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, paper, ours) of each row

    def styler(self):
        miss = np.asarray(self.misses, dtype=bool)

        def shade(frame: pd.DataFrame) -> pd.DataFrame:
            cells = np.where(miss[:, None], "background-color: #fbe3d6; color: #8b1a00; font-weight: bold", "")
            return pd.DataFrame(np.broadcast_to(cells, frame.shape), index=frame.index, columns=frame.columns)

        styler = self.frame.style.format(escape="html").hide(axis="index").apply(shade, axis=None)
        styler = styler.set_table_attributes('class="hsct-comparison"')
        if self.caption:
            styler = styler.set_caption(html.escape(self.caption))
        return tables.stable_ids(styler)

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(n).replace(chr(10), '<br>')}</li>" for n in self.notes)  # a line per part
        notes_html = f'<ol class="hsct-notes">{notes}</ol>' if notes else ""
        return f'<div class="hsct-table-frame">{self.styler().to_html()}</div>{notes_html}'


def entry_labels(card: pd.DataFrame, label_of) -> dict[str, str]:
    """Estimate stem -> reader's label, for every entry of the scorecard (``label_of`` labels one row)."""
    labels = {}
    for _, row in card.iterrows():
        stem = estimate_stem(row["id"])
        if stem not in labels:
            labels[stem] = label_of(row)
    return labels


def compact(rows: pd.DataFrame, label_of, all_labels: dict[str, str] | None = None, name_label=None) -> Comparison:
    """Fold scorecard ``rows`` (with ``reason``) into one row per estimate.

    ``label_of(row)`` names an estimate, ``all_labels`` maps other estimates' stems to their names (for reasons
    that mention them) and ``name_label(column)`` names a cohort column.
    """
    groups: dict[str, list] = {}
    for _, row in rows.iterrows():
        if str(row["id"]).endswith(".ref"):  # a reference level's HR of 1 is stated in the other rows' labels
            continue
        groups.setdefault(estimate_stem(row["id"]), []).append(row)
    labels = dict(all_labels or {})
    records, notes, misses, points = [], [], [], []
    for members in groups.values():
        first = next((m for m in members if m["stat"] in ("value", "min")), members[0])
        kind, unit = str(first["kind"]), str(first.get("unit") or "")
        kinds = {str(m["kind"]) for m in members}
        if kinds == {"count", "percent"}:
            kind, unit = "count_percent", ""
            first = next(m for m in members if m["kind"] == "count")
            pub = {m["kind"]: m["published"] for m in members}
            rep = {m["kind"]: m["reproduced"] for m in members}
        else:
            pub = {m["stat"]: m["published"] for m in members}
            rep = {m["stat"]: m["reproduced"] for m in members}
        digits = digits_for(kind, unit)
        passed = [bool(m["passed"]) for m in members]
        point_ok = all(bool(m["passed"]) for m in members if m["stat"] in ("value", "min", "max"))
        if all(passed):
            verdict = PASS
        elif point_ok:
            verdict = f"{MISS} interval"
        else:
            verdict = MISS
        reason = ""
        for m in sorted(members, key=lambda m: m["stat"] != "value"):
            reason = plain_reason(m.get("reason", ""), labels, name_label)
            if reason:
                break
        if reason:
            if reason not in notes:
                notes.append(reason)
            verdict += str(notes.index(reason) + 1).translate(tables.SUPERSCRIPT_DIGITS)
        label = label_of(first)
        if kind == "count_percent":
            label = label.removesuffix(", n") + ", n (%)"
        elif unit == "%" and kind in ("km", "cif", "percent"):
            label += ", %"
        records.append(
            [
                label,
                _value_text(pub, kind, digits),
                _value_text(rep, kind, digits),
                _delta_text(pub, rep, kind, digits),
                verdict,
            ]
        )
        misses.append(not all(passed))
        points.append((kind, pub.get("value", np.nan), rep.get("value", np.nan)))
    return Comparison(pd.DataFrame(records, columns=COLUMNS), notes, misses, points=points)


def _own_note(table: Comparison, row: dict) -> str | None:
    """The numbered note a row of ``table`` points to ("✗¹": e.g. why the paper's own numbers disagree), as a
    sentence; None when it points to none."""
    digits = str(row["Within tolerance"]).translate(_FROM_SUPERSCRIPT)
    number = "".join(ch for ch in digits if ch.isdigit())
    if not number or not 0 < int(number) <= len(table.notes):
        return None
    return table.notes[int(number) - 1].rstrip(".") + "."


_FROM_SUPERSCRIPT = {ord(sup): normal for normal, sup in zip("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")}


def key_results(
    table: Comparison, title: str = "Key results: the paper and this book", notes: dict[str, str] | None = None
) -> str:
    """A MyST admonition opening a page: each headline estimate, paper vs ours, and the misses by name.

    Everything in it comes from ``table`` (a :func:`compact` comparison computed when the page runs); ``notes``
    maps an estimate's label to a sentence set beside it (e.g. why no cohort can meet the printed value).
    """
    lines = []
    for row, missed in zip(table.frame.to_dict("records"), table.misses):
        mark = MISS if missed else PASS
        note = (notes or {}).get(row["Estimate"]) or (_own_note(table, row) if missed else None)
        lines.append(
            f"- {mark} **{row['Estimate']}**: paper {row['Paper']}, ours {row['Ours']}" + (f". {note}" if note else "")
        )
    records = table.frame.to_dict("records")
    missed = [row["Estimate"] for row, m in zip(records, table.misses) if m]
    if missed:
        summary = f"Outside the tolerance: {_join(missed)}."
    else:
        summary = "Every estimate in this summary is within the tolerance."
    for row, (kind, paper, ours) in zip(records, table.points or []):
        if kind == "p" and not (pd.isna(paper) or pd.isna(ours)) and (paper < 0.05) != (ours < 0.05):
            verdict = (
                "significant in the paper but not here" if paper < 0.05 else "significant here but not in the paper"
            )
            summary += f" {row['Estimate']}: {verdict} (p = {row['Paper']} vs {row['Ours']})."
    body = "\n".join(lines)
    return f"```{{admonition}} {title}\n:class: tip\n{body}\n\n{summary}\n```"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def key_results_html(
    table: Comparison, title: str = "Key results: the paper and this book", notes: dict[str, str] | None = None
) -> str:
    """:func:`key_results` as the theme's HTML admonition, for a chapter's output (outputs are not MyST)."""
    text = key_results(table, title, notes)
    lines = text.splitlines()[2:-1]  # drop the fence, the class line and the closing fence
    items = [line[2:] for line in lines if line.startswith("- ")]
    summary = " ".join(line for line in lines if line and not line.startswith("- "))

    def inline(s: str) -> str:
        return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(s))

    body = "".join(f"<li>{inline(i)}</li>" for i in items)
    return (
        f'<div class="admonition tip"><p class="admonition-title">{html.escape(title)}</p>'
        f"<ul>{body}</ul><p>{inline(summary)}</p></div>"
    )
