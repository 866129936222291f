"""The scorecard and the paper audit as tables a reader can use (chapter 8).

The scorecard and audit modules return analysis frames: column names like ``rate_non_conflicting``, rates as
proportions, registry ids. These functions turn them into reader tables: plain headers, percentages, labels
instead of ids, no index, no missing-value markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hsct_analysis.book import comparison, tables
from hsct_analysis.book.report import estimate_label, variable_label
from hsct_analysis.paper import scorecard

TABLE_NAMES = {"table1": "Table 1", "table2": "Table 2", "table3": "Table 3", "table4": "Table 4", "text": "Text"}
KIND_NAMES = {
    "count": "counts", "percent": "percentages", "median": "medians", "range": "ranges", "km": "Kaplan-Meier",
    "cif": "cumulative incidence", "p": "p-values", "hr": "hazard ratios",
}


def _percent(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):.1f}%"


def rates_table(card: pd.DataFrame) -> pd.DataFrame:
    """Entries and pass rates by table of the paper and kind of number, rates as percentages."""
    summary = scorecard.summary(card).reset_index()
    return pd.DataFrame({
        "Where in the paper": summary["table"].map(lambda t: TABLE_NAMES.get(t, str(t))),
        "Numbers": summary["kind"].map(lambda k: KIND_NAMES.get(k, str(k))),
        "Entries": summary["entries"].astype(int),
        "Within tolerance": summary["passed"].astype(int),
        "In conflict": summary["conflicts"].astype(int),
        "Rate": summary["rate"].map(_percent),
        "Rate without conflicts": summary["rate_non_conflicting"].map(_percent),
    })


def worst_table(card: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The ``k`` entries furthest outside their tolerance, named and with both values (each number once)."""
    if "duplicate_of" in card:
        card = card[card["duplicate_of"].fillna("").eq("")]
    worst = scorecard.worst(card, k)
    by_id = card.set_index("id")
    rows = []
    for _, w in worst.iterrows():
        entry = by_id.loc[w["id"]].copy()
        entry["id"] = w["id"]
        stat = {"lower": ", lower bound", "upper": ", upper bound", "min": ", minimum", "max": ", maximum"}
        label = estimate_label(entry) + stat.get(str(entry["stat"]), "")
        digits = comparison.digits_for(str(entry["kind"]), str(entry.get("unit") or ""))
        miss = w["miss"]
        rows.append({
            "Estimate": label,
            "Paper": comparison.number_text(w["published"], digits),
            "Ours": comparison.number_text(w["reproduced"], digits) if np.isfinite(float(w["reproduced"]))
            else "not computable from the cohort",
            "Tolerance": str(w["tolerance"]).replace("+-", "±"),
            "Off by": "–" if not np.isfinite(float(miss)) else f"{float(miss):.1f} tolerances",
            "In conflict": "yes" if bool(w["conflict"]) else "no",
        })
    return pd.DataFrame(rows)


def findings_table(findings: pd.DataFrame, card: pd.DataFrame | None) -> pd.DataFrame:
    """The audit's findings: the check in words and the reason with labels instead of ids."""
    labels = comparison.entry_labels(card, estimate_label) if card is not None else {}
    return pd.DataFrame({
        "Check": findings["check"].map(lambda c: comparison.CHECK_NAMES.get(c, str(c).replace("_", " "))),
        "Finding": [comparison.plain_reason(f"{c}: {r}", labels, variable_label).split(": ", 1)[-1]
                    for c, r in zip(findings["check"], findings["reason"])],
        "Numbers marked": findings["marks"].map(lambda m: "inconsistent" if m == "inconsistent" else str(m)),
    })


def findings_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """How many findings each audit check made, and what they mark."""
    counts = findings.groupby(["check", "marks"]).size().reset_index(name="n")
    return pd.DataFrame({
        "Check": counts["check"].map(lambda c: comparison.CHECK_NAMES.get(c, str(c).replace("_", " "))),
        "Numbers marked": counts["marks"].astype(str),
        "Findings": counts["n"].astype(int),
    })


@dataclass
class ReaderTable:
    """A reader table rendered without its index, in a frame that scrolls on its own on a phone."""

    frame: pd.DataFrame

    def _repr_html_(self) -> str:
        styler = tables.styled(self.frame).hide(axis="index").set_table_attributes('class="hsct-reader"')
        return f'<div class="hsct-table-frame">{styler.to_html()}</div>'


def reader_table(frame: pd.DataFrame) -> ReaderTable:
    """Wrap a reader table for display in a chapter."""
    return ReaderTable(frame)
