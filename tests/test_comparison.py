"""The compact paper-vs-ours table: one row per estimate, CI inline, audit reasons as plain footnotes."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from hsct_analysis.book import comparison
from hsct_analysis.book.report import Report, estimate_label


def _rows(*entries):
    columns = ["id", "kind", "stat", "unit", "published", "reproduced", "passed", "reason"]
    return pd.DataFrame([dict(zip(columns, e)) for e in entries])


def _label(row):
    return {"res.os.3y": "Overall survival at 3 years", "t1.sex.male": "Sex: male, n", "t4.lfs.x.b": "LFS: HR, b vs a"}[
        comparison.estimate_stem(row["id"])
    ]


def test_an_estimate_and_its_interval_become_one_row():
    rows = _rows(
        ("res.os.3y.est", "km", "value", "%", 55.3, 55.48, True, ""),
        ("res.os.3y.lo", "km", "lower", "%", 44.3, 44.78, True, ""),
        ("res.os.3y.up", "km", "upper", "%", 66.1, 65.92, True, ""),
    )
    table = comparison.compact(rows, _label)
    assert table.frame.values.tolist() == [
        ["Overall survival at 3 years, %", "55.3 (44.3–66.1)", "55.5 (44.8–65.9)", "+0.2", "✓"]
    ]
    assert table.misses == [False] and table.notes == []


def test_a_missed_bound_is_named_and_the_audit_reason_is_a_numbered_footnote():
    rows = _rows(
        ("res.os.3y.est", "km", "value", "%", 55.3, 55.48, True, ""),
        (
            "res.os.3y.lo",
            "km",
            "lower",
            "%",
            44.3,
            41.0,
            False,
            "CI of res.os.3y.est, which is involved in: identity: cart_interval_90 <=90, 3 y: 1-LFS = 46.1%",
        ),
        ("res.os.3y.up", "km", "upper", "%", 66.1, 65.92, True, ""),
        ("t1.sex.male.n", "count", "value", "n", 56, 56, True, ""),
        (
            "t1.sex.male.pct",
            "percent",
            "value",
            "%",
            59.0,
            58.9,
            False,
            "percent_vs_count: 56/95 (t1.sex.male.n) = 58.95%",
        ),
    )
    table = comparison.compact(rows, _label, {"t1.sex.male": "Sex: male, n"})
    assert table.frame["Within tolerance"].tolist() == ["✗ interval¹", "✗²"]
    assert table.frame.loc[1, "Paper"] == "56 (59.0%)" and table.frame.loc[1, "Δ"] == "0 (-0.1 pp)"
    assert table.notes[0].startswith("1 − LFS should equal relapse + NRM: CAR-T to second HSCT (days) ≤90, 3 years")
    assert "(Sex: male, n)" in table.notes[1] and "t1." not in table.notes[1]
    html = table._repr_html_()
    assert html.count("<tr") == 3 and '<ol class="hsct-notes">' in html and "hsct-table-frame" in html


def test_hazard_ratios_differ_by_ratio_and_reference_rows_are_left_out():
    rows = _rows(
        ("t4.lfs.x.a.ref", "hr", "value", "ratio", 1, 1, True, ""),
        ("t4.lfs.x.b.est", "hr", "value", "ratio", 4.10, 4.35, True, ""),
        ("t4.lfs.x.b.lo", "hr", "lower", "ratio", 1.64, 1.78, True, ""),
        ("t4.lfs.x.b.up", "hr", "upper", "ratio", 10.24, 10.63, True, ""),
    )
    table = comparison.compact(rows, _label)
    assert table.frame.values.tolist() == [["LFS: HR, b vs a", "4.10 (1.64–10.24)", "4.35 (1.78–10.63)", "×1.06", "✓"]]


@pytest.fixture(scope="module")
def report():
    from pathlib import Path

    return Report(str(Path(__file__).resolve().parents[1] / "data" / "cohort.csv"))


def test_chapter_tables_hold_no_code_names(report):
    code = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b|\b(?:res|t[1-4])\.\w|NaN|\[")
    for selection in [dict(prefix="t3."), dict(prefix="t4."), dict(kind=["count", "percent"]), dict(prefix="res.")]:
        table = report.paper(**selection)
        text = " ".join(table.frame.astype(str).to_numpy().ravel()) + " ".join(table.notes)
        assert code.findall(text) == [], selection


def test_the_headline_row_reads_as_in_the_issue(report):
    table = report.paper(ids=["res.os.3y.est", "res.os.3y.lo", "res.os.3y.up"])
    row = table.frame.iloc[0]
    assert row["Estimate"] == "Overall survival at 3 years, %"
    assert row["Paper"] == "55.3 (44.3–66.1)"
    reproduced = report.card.set_index("id").loc["res.os.3y.est", "reproduced"]
    assert row["Ours"].startswith(f"{reproduced:.1f} (")
    entry = report.card[report.card["id"] == "t3.lfs.cart_interval_90.<=90.est"].iloc[0]
    assert estimate_label(entry) == "Leukemia-free survival at 3 years, CAR-T to second HSCT (days) ≤ 90"


def test_scorecard_chapter_tables_are_reader_tables(report):
    from hsct_analysis.book import scorecard_view
    from hsct_analysis.paper import audit
    from hsct_analysis.paper import registry as published

    rates = scorecard_view.rates_table(report.card)
    assert rates["Rate"].str.fullmatch(r"\d{1,3}\.\d%").all()
    assert rates["Entries"].sum() == len(report.card)
    worst = scorecard_view.worst_table(report.card)
    assert len(worst) == 10 and worst["Estimate"].is_unique
    _, findings = audit.audit(published.load_registry())
    found = scorecard_view.findings_table(findings, report.card)
    code = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b|\b(?:res|t[1-4])\.\w|NaN")
    counts = scorecard_view.findings_counts(findings)
    assert counts["Findings"].sum() == len(findings)
    html = scorecard_view.reader_table(counts)._repr_html_()
    assert "hsct-table-frame" in html and '<th class="blank' not in html  # no index column
    for frame in (rates, worst, found, counts):
        text = " ".join(frame.astype(str).to_numpy().ravel()) + " ".join(frame.columns)
        assert code.findall(text) == []


def test_table3_side_by_side_puts_the_papers_value_under_ours(report):
    from hsct_analysis.book import univariate

    long = univariate.table3(univariate.plain_numbers(report.cohort))
    layout = univariate.paper_layout(long, card=report.card)
    cell = layout.loc[("CAR-T to second HSCT (days), ≤ 90 vs > 90", "≤ 90"), "3-year LFS % (95% CI)"]
    ours, paper = cell.split("\n")
    assert paper == "paper 53.9 (41.8-65.8)"
    passed = (
        report.card.set_index("id")
        .loc[[f"t3.lfs.cart_interval_90.<=90.{s}" for s in ("est", "lo", "up")], "passed"]
        .all()
    )
    assert ours.endswith(" ✗") != bool(passed)
    plain = univariate.paper_layout(long)
    assert "\n" not in " ".join(plain.astype(str).to_numpy().ravel())


def test_key_results_name_the_misses_and_a_lost_significance(report):
    from hsct_analysis.book.report import HEADLINE_IDS

    table = report.paper(ids=HEADLINE_IDS)
    box = comparison.key_results(table)
    missed = [row["Estimate"] for row, m in zip(table.frame.to_dict("records"), table.misses) if m]
    assert box.startswith("```{admonition} Key results") and all(name in box for name in missed)
    card = report.card.set_index("id")
    paper_p, ours_p = card.loc["t3.nrm.cart_interval_90.p", ["published", "reproduced"]]
    assert ("significant in the paper but not here" in box) == (paper_p < 0.05 <= ours_p)
    html = comparison.key_results_html(table)
    assert html.count("<li>") == len(table.frame) and "```" not in html


def test_identity_gap_and_estimator_tables_are_reader_tables():
    from hsct_analysis.book import scorecard_view
    from hsct_analysis.paper import audit, headline
    from hsct_analysis.paper import estimator as paper_method
    from hsct_analysis.paper import registry as published

    registry = published.load_registry()
    code = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b|\b(?:res|t[1-4])\.\w|NaN|\w\[")
    gaps = audit.identity_gaps(registry)
    pattern = scorecard_view.gap_pattern_table(audit.identity_gap_pattern(registry))
    table = scorecard_view.gaps_table(gaps, min_cell=10)
    proofs = scorecard_view.proofs_table(headline.identity_proofs(registry))
    naive = scorecard_view.naive_gap_table(paper_method.naive_identity_residuals(registry), min_cell=10)
    ci = scorecard_view.ci_check_table(paper_method.ci_check(registry), min_cell=10)
    frames = [pattern, table, proofs, naive, ci]
    for frame in frames:
        text = " ".join(frame.astype(str).to_numpy().ravel()) + " ".join(map(str, frame.columns))
        assert code.findall(text) == []
    # the gap column is RI + NRM - (1 - LFS), signed, one decimal; group sizes below 10 masked
    row = table[table["Group"] == "CAR-T to second HSCT (days) > 90"].iloc[0]
    assert (row["Patients"], row["1 − LFS, %"], row["Relapse + NRM, %"], row["Gap (pp)"]) == (
        "11",
        "81.8",
        "81.8",
        "0.0",
    )
    assert table.loc[table["Group"] == "Type of ATG ATG-P", "Patients"].iloc[0] == "<10"
    assert pattern["Groups"].sum() == len(gaps[gaps["time_days"] == 1095.75])
    assert scorecard_view.group_label("whole cohort") == "Whole cohort"


def test_model_terms_read_as_level_against_reference():
    from hsct_analysis.book import tables

    assert tables.term_label("atg_type[ATG-P]") == "Type of ATG: ATG-P vs ATG-F"
    assert tables.term_label("cart_interval_90[>90]") == "CAR-T to second HSCT (days): > 90 vs ≤ 90"
    assert tables.term_label("atg_type[ATG-P]", {"atg_type": "ATG-T"}) == "Type of ATG: ATG-P vs ATG-T"


def test_a_fit_note_reads_without_code_names():
    """The notes of a model fit go into reader prose (the regression page): no Python list, no term, no code name."""
    from hsct_analysis.book import tables

    note = (
        "separation: atg_type level(s) ['ATG-P'] have no events of cause 1; the hazard ratio(s) for "
        "['atg_type[ATG-P]'] are infinite or zero (not estimable)"
    )
    assert tables.plain_note(note, causes={1: "relapse"}) == (
        "separation: Type of ATG level(s) ATG-P have no events of relapse; the hazard ratio(s) for "
        "Type of ATG: ATG-P vs ATG-F are infinite or zero (not estimable)"
    )
    assert tables.plain_note("the estimate for atg_type[ATG-P] ran off", {"atg_type": "ATG-T"}) == (
        "the estimate for Type of ATG: ATG-P vs ATG-T ran off"
    )
    assert "_" not in tables.plain_note("possible separation: the estimate for cart_interval_90[>90] ran off")


def test_the_nrm_key_result_says_it_absorbs_the_identity_gap(report):
    from hsct_analysis.book.report import CHAPTER_KEY_IDS, HEADLINE_IDS, identity_gap_notes
    from hsct_analysis.paper import headline
    from hsct_analysis.paper import registry as published

    notes = identity_gap_notes(report.entries(ids=HEADLINE_IDS), report.card)
    assert list(notes) == ["Non-relapse mortality at 3 years, %"]
    proof = headline.identity_proofs(published.load_registry()).iloc[0]  # the whole cohort at 3 years
    assert proof["group"] == "whole cohort"
    note = notes["Non-relapse mortality at 3 years, %"]
    assert f"by {proof['gap']:+.1f} points" in note and "relapse are held (both within tolerance here)" in note
    html = report.key_results(ids=HEADLINE_IDS).data
    assert "absorbs the gap" in html
    # every report chapter's box names estimates the scorecard has, and a chapter with misses names them
    known = set(report.card["id"])
    for chapter, ids in CHAPTER_KEY_IDS.items():
        assert set(ids) <= known, chapter
    box = report.key_results(ids=CHAPTER_KEY_IDS["07_multivariate"]).data
    assert "Key results" in box and (
        "Outside the tolerance" in box or "Every estimate in this summary is within" in box
    )
    # a miss that is the paper's own slip says so beside it, from the audit's reason
    cohort_box = report.key_results(ids=CHAPTER_KEY_IDS["01_cohort"]).data
    (sex,) = [item for item in re.findall(r"<li>(.*?)</li>", cohort_box) if "Sex: male" in item]
    assert sex.startswith("✗") and "The percentage does not follow from the count" in sex and "58.95%" in sex


def test_every_audit_check_has_a_reader_name():
    """The audit's findings reach readers by CHECK_NAMES: a check missing there would print its code name."""
    import ast
    import inspect

    from hsct_analysis.paper import audit

    tree = ast.parse(inspect.getsource(audit))
    emitted = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "_finding"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(emitted) >= 10
    assert emitted <= set(comparison.CHECK_NAMES), sorted(emitted - set(comparison.CHECK_NAMES))


def test_mixture_table_weighs_the_groups_of_the_paper_and_of_the_cohort(report):
    """ATG type splits all 95 patients (52 ATG-F, 36 ATG-T, 7 ATG-P): the paper's 3-year LFS of its groups weigh to
    53.0% against the whole cohort's 49.8%; ours are weighed with the same sizes, recomputed here from the card."""
    from hsct_analysis.book import scorecard_view
    from hsct_analysis.paper import audit
    from hsct_analysis.paper import registry as published

    registry = published.load_registry()
    _, findings = audit.audit(registry)
    table = scorecard_view.mixture_table(findings, registry, report.card)
    assert len(table) == (findings["check"] == "subgroup_mixture").sum() >= 1
    row = table[(table["Factor"] == "ATG") & table["Estimate"].str.startswith("Leukemia-free")].iloc[0]
    assert (row["Paper: groups weighted"], row["Paper: whole cohort"], row["Paper: gap (pp)"]) == (
        "53.0",
        "49.8",
        "−3.2",
    )
    ours = report.card.set_index("id")["reproduced"]
    sizes = {"ATG-F": 52, "ATG-T": 36, "ATG-P": 7}
    mean = sum(n * ours[f"t3.lfs.atg_type.{level}.est"] for level, n in sizes.items()) / 95
    assert row["Ours: groups weighted"] == f"{mean:.1f}"
    assert row["Ours: whole cohort"] == f"{ours['res.lfs.3y.est']:.1f}"
    assert table.attrs["paper_gap_max"] == "3.2"
    without_cohort = scorecard_view.mixture_table(findings, registry, None)
    assert "Ours: gap (pp)" not in without_cohort and without_cohort.attrs["ours_gap_max"].startswith("(not computed")


def test_the_nrm_note_says_when_this_cohort_misses_the_lfs_it_holds(report):
    """The note beside an NRM that absorbs the gap states what the cohort holds: a card with the group's LFS
    out of tolerance makes it say so, with our value and the printed one."""
    from hsct_analysis.book.report import HEADLINE_IDS, identity_gap_notes

    card = report.card.copy()
    card.loc[card["id"] == "res.lfs.3y.est", "passed"] = False
    ours = float(card.loc[card["id"] == "res.lfs.3y.est", "reproduced"].iloc[0])
    note = identity_gap_notes(report.entries(ids=HEADLINE_IDS), card)["Non-relapse mortality at 3 years, %"]
    assert f"but here LFS is {ours:.1f} against the printed 49.8" in note
    assert "within tolerance here" not in note


def test_the_headline_claims_fold_into_one_row_per_estimate_with_their_reasons_numbered(report):
    """The headline table is the book's compact comparison: one row per estimate (its bounds beside it), ✗ where
    any of its numbers misses, and each failed number's proof or note, led by its claim and kind, in the numbered
    note the row points to; a claim or text with markup in it stays text."""
    from hsct_analysis.book import scorecard_view
    from hsct_analysis.paper import headline
    from hsct_analysis.paper import registry as published

    claims = headline.headline_table(report.card, published.load_registry())
    table = scorecard_view.headline_comparison(report.card, claims)
    stems = claims["id"].map(comparison.estimate_stem)
    assert len(table.frame) == stems.nunique() < len(claims)
    failed = claims[~claims["passed"]]
    assert sum(table.misses) == failed["id"].map(comparison.estimate_stem).nunique() > 0
    digits = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")

    def note_of(verdict: str) -> str:
        return table.notes[int(re.sub(r"\D", "", verdict.translate(digits))) - 1]

    for rid, claim, proof, note in failed[["id", "claim", "proof", "note"]].itertuples(index=False):
        verdict = table.frame["Within tolerance"].iloc[
            list(stems.drop_duplicates()).index(comparison.estimate_stem(rid))
        ]
        said = f"{claim} ({'proof' if proof else 'note'}): {proof or note}".replace("<=", "≤").replace(">=", "≥")
        assert verdict.startswith("✗") and said in note_of(verdict)
    assert all(v == "✓" for v, m in zip(table.frame["Within tolerance"], table.misses) if not m)
    # the whole-cohort 3-year NRM: the estimate's proof and its upper bound's note share one note
    nrm = note_of(table.frame["Within tolerance"].iloc[list(stems.drop_duplicates()).index("res.nrm.3y")])
    if not claims.set_index("id").loc["res.nrm.3y.up", "passed"]:
        assert nrm.startswith("3-year NRM (proof): 1 − LFS") and "\n3-year NRM upper CI (note): Not proven" in nrm
        assert "<br>3-year NRM upper CI (note): Not proven" in table._repr_html_()
    odd = claims.copy()
    odd.loc[~odd["passed"], "claim"] = "NRM* <b>bold</b> `x` [a](b)"
    html = scorecard_view.headline_comparison(report.card, odd)._repr_html_()
    assert "<b>bold" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_a_comparison_escapes_its_cells_and_notes_and_breaks_a_note_at_a_newline():
    """Cells and notes are text: markup in them is escaped; a newline in a note becomes a line break."""
    frame = pd.DataFrame([["<b>label</b>", "<0.001", "0.002", "×2.00", "✗¹"]], columns=comparison.COLUMNS)
    html = comparison.Comparison(frame, ["first <i>part</i>\nsecond part"], [True])._repr_html_()
    assert "<b>label" not in html and "&lt;b&gt;label&lt;/b&gt;" in html and "&lt;0.001" in html
    assert "<li>first &lt;i&gt;part&lt;/i&gt;<br>second part</li>" in html


def test_headline_comparison_puts_two_failed_numbers_of_one_estimate_in_one_note(report):
    """An estimate whose value and upper bound both fail: one ✗ row, one note with both reasons, a line each,
    whatever the bundled cohort passes."""
    from hsct_analysis.book import scorecard_view
    from hsct_analysis.paper import headline
    from hsct_analysis.paper import registry as published

    claims = headline.headline_table(report.card, published.load_registry())
    card = report.card.copy()
    claims = claims.copy()
    for rid, text, column in (("res.os.1y.est", "value reason", "proof"), ("res.os.1y.up", "bound reason", "note")):
        claims.loc[claims["id"] == rid, ["passed", "proof", "note"]] = [False, "", ""]
        claims.loc[claims["id"] == rid, column] = text
        card.loc[card["id"] == rid, "passed"] = False
    table = scorecard_view.headline_comparison(card, claims)
    row = list(claims["id"].map(comparison.estimate_stem).drop_duplicates()).index("res.os.1y")
    assert table.misses[row] and table.frame["Within tolerance"].iloc[row] == "✗¹"
    first, second = table.notes[0].split("\n")
    assert first.endswith("(proof): value reason") and second.endswith("(note): bound reason")
