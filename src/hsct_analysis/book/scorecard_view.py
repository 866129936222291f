"""The scorecard, the paper audit and the estimator question as tables a reader can use (chapters 8 and 9).

The scorecard and audit modules return analysis frames: column names like ``rate_non_conflicting``, rates as
proportions, registry ids. These functions turn them into reader tables: plain headers, percentages, labels
instead of ids, no index, no missing-value markers.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from hsct_analysis.book import comparison, privacy, tables
from hsct_analysis.book.report import estimate_label, variable_label
from hsct_analysis.book.tables import ReaderTable, reader_table  # noqa: F401 - re-exported for chapter 8
from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.paper import scorecard

TABLE_NAMES = {"table1": "Table 1", "table2": "Table 2", "table3": "Table 3", "table4": "Table 4", "text": "Text"}
KIND_NAMES = {
    "count": "counts",
    "percent": "percentages",
    "median": "medians",
    "range": "ranges",
    "km": "Kaplan-Meier",
    "cif": "cumulative incidence",
    "p": "p-values",
    "hr": "hazard ratios",
}


def _percent(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):.1f}%"


def rates_table(card: pd.DataFrame) -> pd.DataFrame:
    """Entries and pass rates by table of the paper and kind of number, rates as percentages."""
    summary = scorecard.summary(card).reset_index()
    return pd.DataFrame(
        {
            "Where in the paper": summary["table"].map(lambda t: TABLE_NAMES.get(t, str(t))),
            "Numbers": summary["kind"].map(lambda k: KIND_NAMES.get(k, str(k))),
            "Entries": summary["entries"].astype(int),
            "Within tolerance": summary["passed"].astype(int),
            "In conflict": summary["conflicts"].astype(int),
            "Rate": summary["rate"].map(_percent),
            "Rate without conflicts": summary["rate_non_conflicting"].map(_percent),
        }
    )


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
        rows.append(
            {
                "Estimate": label,
                "Paper": comparison.number_text(w["published"], digits),
                "Ours": comparison.number_text(w["reproduced"], digits)
                if np.isfinite(float(w["reproduced"]))
                else "not computable from the cohort",
                "Tolerance": str(w["tolerance"]).replace("+-", "±"),
                "Off by": "–" if not np.isfinite(float(miss)) else f"{float(miss):.1f} tolerances",
                "In conflict": "yes" if bool(w["conflict"]) else "no",
            }
        )
    return pd.DataFrame(rows)


def findings_table(findings: pd.DataFrame, card: pd.DataFrame | None) -> pd.DataFrame:
    """The audit's findings: the check in words and the reason with labels instead of ids."""
    labels = comparison.entry_labels(card, estimate_label) if card is not None else {}
    return pd.DataFrame(
        {
            "Check": findings["check"].map(lambda c: comparison.CHECK_NAMES.get(c, str(c).replace("_", " "))),
            "Finding": [
                comparison.plain_reason(f"{c}: {r}", labels, variable_label).split(": ", 1)[-1]
                for c, r in zip(findings["check"], findings["reason"])
            ],
            "Numbers marked": findings["marks"].map(lambda m: "inconsistent" if m == "inconsistent" else str(m)),
        }
    )


def findings_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """How many findings each audit check made, and what they mark."""
    counts = findings.groupby(["check", "marks"]).size().reset_index(name="n")
    return pd.DataFrame(
        {
            "Check": counts["check"].map(lambda c: comparison.CHECK_NAMES.get(c, str(c).replace("_", " "))),
            "Numbers marked": counts["marks"].astype(str),
            "Findings": counts["n"].astype(int),
        }
    )


def mixture_table(findings: pd.DataFrame, registry: pd.DataFrame, card: pd.DataFrame | None) -> pd.DataFrame:
    """The audit's ``subgroup_mixture`` findings side by side with the same arithmetic on the cohort.

    Per finding: the factor, the estimate, the paper's groups weighted by size, the paper's whole cohort and the
    gap (pp); then the same three on the cohort (the groups' recomputed estimates weighted by the same sizes), which
    shows how far this cohort's censoring moves the whole cohort away from its groups. ``attrs`` holds the
    largest gap of each, as text for the page (``paper_gap_max``, ``ours_gap_max``; pp).
    """
    from hsct_analysis.paper.registry import group_size

    rows, paper_gaps, our_gaps = [], [0.0], [0.0]
    values = registry.set_index("id")
    ours = card.set_index("id")["reproduced"] if card is not None else None
    for ids in findings.loc[findings["check"] == "subgroup_mixture", "ids"]:
        *groups, whole = ids.split(";")
        sizes = np.array([group_size(registry, values.loc[i, "factor"], values.loc[i, "level"]) for i in groups])
        paper_mean = float(np.dot(sizes, values.loc[groups, "value"].astype(float))) / sizes.sum()
        paper_whole = float(values.loc[whole, "value"])
        paper_gaps.append(abs(paper_whole - paper_mean))
        row = {
            "Factor": variable_label(values.loc[groups[0], "factor"]),
            "Estimate": estimate_label(values.loc[whole]),
            "Paper: groups weighted": _pp(paper_mean),
            "Paper: whole cohort": _pp(paper_whole),
            "Paper: gap (pp)": _pp(paper_whole - paper_mean, signed=True),
        }
        if ours is not None:
            our_mean = float(np.dot(sizes, ours.loc[groups].astype(float))) / sizes.sum()
            row["Ours: groups weighted"] = _pp(our_mean)
            row["Ours: whole cohort"] = _pp(ours.loc[whole])
            row["Ours: gap (pp)"] = _pp(float(ours.loc[whole]) - our_mean, signed=True)
            our_gaps.append(abs(float(ours.loc[whole]) - our_mean))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["paper_gap_max"] = _pp(max(paper_gaps))
    table.attrs["ours_gap_max"] = _pp(max(our_gaps)) if ours is not None else "(not computed on this cohort)"
    return table


# --- the identity gap and the estimator question (chapters 8 and 9) ------------------------------------------

_FRACTION_CLASS = {
    "all k/n": "All three printed as simple fractions k/n (nobody censored)",
    "not k/n": "At least one not a simple fraction (some patients censored)",
}


def group_label(group: str) -> str:
    """A registry group in words: ``"cart_interval_90 >90"`` -> ``"CAR-T to second HSCT (days) > 90"``."""
    text = str(group)
    for name in sorted(FACTORS, key=len, reverse=True):
        if text.startswith(name + " "):
            return f"{FACTORS[name].label} {tables.level_text(text[len(name) + 1 :])}"
    return text.capitalize() if text == "whole cohort" else text


def _pp(x, signed: bool = False) -> str:
    if x is None or pd.isna(x):
        return "–"
    text = f"{float(x):+.1f}" if signed else f"{float(x):.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "−")


def _time_text(days) -> str:
    return estimate_label(pd.Series({"kind": "km", "endpoint": "os", "time_days": days})).split(" at ", 1)[1]


def gap_pattern_table(pattern: pd.DataFrame) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.audit.identity_gap_pattern` for reading: the gap by kind of group, in pp."""
    return pd.DataFrame(
        {
            "Groups of Table 3": [_FRACTION_CLASS.get(str(k), str(k)) for k in pattern.index],
            "Groups": pattern["groups"].astype(int).to_list(),
            "Patients per group": [f"{int(a)}–{int(b)}" for a, b in zip(pattern["n_min"], pattern["n_max"])],
            "Mean gap (pp)": [_pp(x, True) for x in pattern["gap_mean"]],
            "Smallest to largest gap (pp)": [
                f"{_pp(a, True)} to {_pp(b, True)}" for a, b in zip(pattern["gap_min"], pattern["gap_max"])
            ],
        }
    )


def gaps_table(gaps: pd.DataFrame, min_cell: int | None = None) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.audit.identity_gaps` for reading: one row per group and time, percentages."""
    return pd.DataFrame(
        {
            "Group": [group_label(g) for g in gaps["group"]],
            "Time": [_time_text(t) for t in gaps["time_days"]],
            "Patients": [str(privacy.count_text(int(n), min_cell)) for n in gaps["n"]],
            "LFS, %": [_pp(x) for x in gaps["lfs"]],
            "Relapse, %": [_pp(x) for x in gaps["relapse"]],
            "NRM, %": [_pp(x) for x in gaps["nrm"]],
            "1 − LFS, %": [_pp(100 - x) for x in gaps["lfs"]],
            "Relapse + NRM, %": [_pp(a + b) for a, b in zip(gaps["relapse"], gaps["nrm"])],
            "Gap (pp)": [_pp(x, True) for x in gaps["gap"]],
            **({"All k/n": ["yes" if b else "no" for b in gaps["all_simple"]]} if "all_simple" in gaps else {}),
        }
    )


def proofs_table(proofs: pd.DataFrame) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.headline.identity_proofs` for reading: where the printed NRM cannot hold."""
    return pd.DataFrame(
        {
            "Group": [group_label(g) for g in proofs["group"]],
            "Time": [_time_text(t) for t in proofs["time_days"]],
            "LFS, %": [_pp(x) for x in proofs["lfs"]],
            "Relapse, %": [_pp(x) for x in proofs["relapse"]],
            "NRM printed, %": [_pp(x) for x in proofs["nrm"]],
            "Gap (pp)": [_pp(x, True) for x in proofs["gap"]],
            "NRM any cohort allows, %": [
                f"{_pp(a)}–{_pp(b)}" for a, b in zip(proofs["nrm_reachable_low"], proofs["nrm_reachable_high"])
            ],
            "Printed NRM outside by (pp)": [_pp(x) for x in proofs["min_nrm_miss"]],
        }
    )


def held_table(held: pd.DataFrame) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.headline.identity_held` for reading, one row per group and time with a proven
    gap: the LFS and relapse estimates the calibration holds, paper against ours (%), and which miss."""
    rows = []
    for (group, days), g in held.groupby(["group", "time_days"], sort=False):
        by = g.set_index("endpoint")
        row = {"Group": group_label(group), "Time": _time_text(days)}
        for endpoint, name in (("lfs", "LFS"), ("relapse", "Relapse")):
            found = endpoint in by.index
            row[f"{name} paper, %"] = _pp(by.loc[endpoint, "paper"]) if found else "–"
            row[f"{name} ours, %"] = _pp(by.loc[endpoint, "ours"]) if found else "–"
        missed = [
            name for endpoint, name in (("lfs", "LFS"), ("relapse", "relapse")) if not by["passed"].get(endpoint, True)
        ]
        row["Outside tolerance"] = " and ".join(missed) if missed else "neither"
        rows.append(row)
    return pd.DataFrame(rows)


def naive_gap_table(residuals: pd.DataFrame, min_cell: int | None = None) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.estimator.naive_identity_residuals` for reading: printed gap against the
    gap 1 − Kaplan-Meier would give (relapse × NRM / 100)."""
    return pd.DataFrame(
        {
            "Group": [group_label(g) for g in residuals["group"]],
            "Patients": [str(privacy.count_text(int(n), min_cell)) for n in residuals["n"]],
            "Nobody censored": ["yes" if b else "no" for b in residuals["uncensored"]],
            "Printed gap (pp)": [_pp(x, True) for x in residuals["gap"]],
            "Gap 1 − KM predicts (pp)": [_pp(x, True) for x in residuals["predicted_gap"]],
            "Printed minus predicted (pp)": [_pp(x, True) for x in residuals["residual"]],
        }
    )


def ci_check_table(check: pd.DataFrame, min_cell: int | None = None) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.estimator.ci_check` for reading: the printed 95% CI next to the one each
    variance gives for the same counts (percent)."""
    endpoint = {"relapse": "Relapse", "nrm": "NRM"}
    return pd.DataFrame(
        {
            "Group": [group_label(g) for g in check["group"]],
            "Endpoint": [endpoint.get(e, e) for e in check["endpoint"]],
            "Events of patients": [
                f"{privacy.part_of(int(e), int(n), min_cell)} of {privacy.count_text(int(n), min_cell)}"
                for e, n in zip(check["events"], check["n"])
            ],
            "Printed, % (95% CI)": [
                f"{_pp(v)} ({_pp(lo)}–{_pp(up)})"
                for v, lo, up in zip(check["estimate"], check["lower"], check["upper"])
            ],
            "Variance p(1−p)/n": [
                f"{_pp(lo)}–{_pp(up)}" for lo, up in zip(check["binomial_lower"], check["binomial_upper"])
            ],
            "Gray's variance (cmprsk)": [
                f"{_pp(lo)}–{_pp(up)}" for lo, up in zip(check["cmprsk_lower_min"], check["cmprsk_upper_max"])
            ],
        }
    )


def candidate_name(name: str) -> str:
    """A candidate estimator of :data:`hsct_analysis.paper.estimator.CANDIDATES` in words."""
    from hsct_analysis.paper.estimator import CANDIDATES

    text = CANDIDATES.get(name, name.replace("_", " "))
    text = re.sub(r"\b3 y\b", "3 years", re.sub(r"^\([a-c]\) ", "", text))
    return text[:1].upper() + text[1:]


def verdict_table(verdict: pd.DataFrame) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.estimator.summary` for reading: each candidate's predicted gaps against
    the printed ones (pp), the share of censored groups it covers and whether it fits both features."""
    unc, cens = "Gap where nobody was censored (pp)", "Gap in the censored groups (pp)"
    frame = pd.DataFrame(
        {
            ("Candidate estimator", ""): [candidate_name(c) for c in verdict["candidate"]],
            (unc, "predicted"): [_pp(x, True) for x in verdict["gap_uncensored_predicted"]],
            (unc, "printed"): [_pp(x, True) for x in verdict["gap_uncensored_printed"]],
            (cens, "predicted"): [_pp(x, True) for x in verdict["gap_censored_predicted"]],
            (cens, "printed"): [_pp(x, True) for x in verdict["gap_censored_printed"]],
            (cens, "in the simulated range"): [f"{100 * x:.0f}%" for x in verdict["censored_covered"]],
            ("Fits both", ""): ["yes" if b else "no" for b in verdict["matches_pattern"]],
        }
    )
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    return frame


def candidates_table(values: pd.DataFrame) -> pd.DataFrame:
    """:func:`hsct_analysis.paper.estimator.candidate_values` for reading: one row per group, one column per
    candidate estimator (percent at 3 years)."""
    wide = values.pivot_table(index="group", columns="candidate", values="estimate", sort=False)
    out = pd.DataFrame({"Group": [group_label(g) for g in wide.index]})
    for name in wide.columns:
        out[candidate_name(name)] = [_pp(x) for x in wide[name]]
    return out


#: Chapter 8's glue keys for :func:`~hsct_analysis.paper.synth.targets.relapse_bound`, each with its text: counts as
#: integers, percentages with the decimals the argument needs (the floor and ceiling to 2, so 9.62 and 9.47 differ).
RELAPSE_BOUND_GLUE = {
    "rb_n": lambda rb: f"{rb.patients}",
    "rb_printed_ri": lambda rb: f"{rb.printed_ri:.1f}",
    "rb_printed_count": lambda rb: f"{rb.printed_count}",
    "rb_count": lambda rb: f"{rb.count}",
    "rb_nrm_lower": lambda rb: f"{rb.nrm_lower:.1f}",
    "rb_nrm_upper": lambda rb: f"{rb.nrm_upper:.1f}",
    "rb_nrm_floor": lambda rb: f"{rb.nrm_floor:.2f}",
    "rb_lfs_floor": lambda rb: f"{rb.lfs_floor:.1f}",
    "rb_ri_ceiling": lambda rb: f"{rb.ri_ceiling:.2f}",
    "rb_printed_floor": lambda rb: f"{100 * rb.printed_count / rb.patients:.2f}",
    "rb_count_floor": lambda rb: f"{100 * rb.count / rb.patients:.2f}",
}
#: What those keys read on a cohort other than the bundled one, where the argument is not shown.
RELAPSE_BOUND_ELSEWHERE = "(the bundled synthetic cohort only)"


def relapse_bound_text(registry: pd.DataFrame | None) -> dict[str, str]:
    """{glue key: text} for chapter 8's section on why the synthetic cohort has fewer relapses than the printed
    incidence suggests, from :func:`~hsct_analysis.paper.synth.targets.relapse_bound` on ``registry`` (counts of
    patients and relapses; percentages); with ``registry=None`` (not the bundled cohort) every key reads
    :data:`RELAPSE_BOUND_ELSEWHERE`."""
    from hsct_analysis.paper.synth.targets import relapse_bound

    bound = None if registry is None else relapse_bound(registry)
    return {key: RELAPSE_BOUND_ELSEWHERE if bound is None else text(bound) for key, text in RELAPSE_BOUND_GLUE.items()}


def headline_comparison(card: pd.DataFrame, claims: pd.DataFrame) -> comparison.Comparison:
    """The headline claims (``claims``: :func:`hsct_analysis.paper.headline.headline_table` of the scorecard
    ``card``, with the registry's columns) as the book's compact comparison: one row per estimate, its confidence
    interval beside it, ✓ or ✗; a failed number's proof or note is a numbered note under the table, led by the
    claim and its kind ("proof": no cohort can meet it; "note": not proven, what is known). An estimate with two
    failed numbers (an NRM and its upper bound) has both reasons in one note, a line each. Notes are escaped
    when rendered."""
    parts: dict[str, list[str]] = {}
    for rid, claim, proof, note in zip(
        claims["id"], claims["claim"], claims["proof"].fillna(""), claims["note"].fillna("")
    ):
        if proof or note:
            kind = "proof" if proof else "note"
            parts.setdefault(comparison.estimate_stem(rid), []).append(f"{claim} ({kind}): {proof or note}")
    rows = card.set_index("id").loc[list(claims["id"])].reset_index()
    stems = rows["id"].map(comparison.estimate_stem)
    first = ~stems.duplicated()
    rows["reason"] = ["\n".join(parts.get(stem, [])) if lead else "" for stem, lead in zip(stems, first)]
    return comparison.compact(rows, estimate_label, comparison.entry_labels(card, estimate_label), variable_label)
