"""The screening log (``hsct_analysis.cohort.enrolment``): the flow from screened to analysed, its rules, the paper's
two screening counts computed from it, and its table in chapter 1 under the small-cell rules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from book_runs import hsct_book_here
from hsct_analysis.book import baseline, build
from hsct_analysis.cohort import load_cohort
from hsct_analysis.cohort.enrolment import (
    EnrolmentError,
    EnrolmentFlow,
    beside,
    flow_beside,
    flow_table,
    problems_beside,
    read_enrolment,
)
from hsct_analysis.paper import registry as published
from hsct_analysis.paper import scorecard, synth

ROOT = build.PROJECT_ROOT
COHORT = ROOT / "data" / "cohort.csv"
LOG = ROOT / "data" / "screening.csv"
IDS = [f"P{i}" for i in range(1, 6)]


def log(tmp_path: Path, text: str, name: str = "screening.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def problems(path: Path, ids=IDS) -> list[str]:
    with pytest.raises(EnrolmentError) as info:
        read_enrolment(path, ids, "cohort.csv")
    return [str(p) for p in info.value.problems]


GOOD = (
    "patient_id,exclusion_reason\nP1,\nP2,\nP3,\nP4,\nP5,\nX1,no remission\nX2, no  remission \nX3,died before HSCT\n"
)


def test_the_bundled_log_gives_the_papers_flow():
    flow = read_enrolment(LOG, load_cohort(COHORT)["patient_id"], "cohort.csv")
    assert (flow.screened, flow.enrolled, flow.excluded) == (99, 95, {"no remission after CAR-T": 4})
    assert beside(COHORT) == LOG


def test_the_bundled_log_is_what_the_generator_writes():
    cohort = pd.read_csv(COHORT, dtype=str, keep_default_na=False)
    assert synth.screening_log(cohort).encode("utf-8") == LOG.read_bytes()


def test_a_flow_counts_reasons_in_their_order_with_spaces_normalised(tmp_path):
    flow = read_enrolment(log(tmp_path, GOOD), IDS)
    assert flow == EnrolmentFlow(str(tmp_path / "screening.csv"), 8, 5, {"no remission": 2, "died before HSCT": 1})
    assert flow.n_excluded == 3
    assert flow_table(flow)["patients"].tolist() == [8, 2, 1, 5]


@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD + "P2,\n", "screening.csv, line 10 (patient P2), column patient_id: repeats the identifier of line 3"),
        (
            GOOD + ",no remission\n",
            "screening.csv, line 10, column patient_id: is empty; every screened patient needs an id",
        ),
        (
            GOOD + "P9,\n",
            "line 10 (patient P9), column exclusion_reason: is empty (enrolled), but the patient is not in",
        ),
        (
            GOOD.replace("P5,\n", "P5,consent withdrawn\n"),
            "line 6 (patient P5), column exclusion_reason: consent withdrawn gives a reason for excluding a patient "
            "who is in cohort.csv",
        ),
        (GOOD.replace("P3,\n", ""), "screening.csv (patient P3), column patient_id: is a patient of cohort.csv but"),
        (GOOD.replace("P3,\n", "P3,,extra\n"), "line 4 (patient P3): row has 3 values but the header has 2 columns"),
        (GOOD.replace("X3,died", "X3,di\x07ed"), "line 9 (patient X3), column exclusion_reason"),
        ("patient_id,reason\nP1,\n", "screening.csv, line 1, column exclusion_reason: is not a column of the header"),
        ("", "screening.csv: is empty; it needs a header and one row per patient"),
        ("\ufeff\n", "screening.csv: is empty"),
        ("patient_id;exclusion_reason\nP1;\n", "screening.csv, line 1: is separated by semicolons"),
        ("patient_id,exclusion_reason,patient_id\n", "line 1, column patient_id: is named twice in the header"),
        ("patient\u200b_id,exclusion_reason\n", "line 1: patient\\u200b_id the header holds a control or invisible"),
        (GOOD.replace("P2,\n", 'P2,"oops\n'), "screening.csv, line 3: opens a quote that is never closed"),
    ],
)
def test_each_broken_rule_names_file_line_patient_column_and_rule(tmp_path, text, expected):
    found = problems(log(tmp_path, text))
    assert any(expected in p for p in found), found


def test_a_broken_row_is_one_problem_not_also_a_missing_patient(tmp_path):
    assert problems(log(tmp_path, GOOD.replace("P3,\n", "P3\n"))) == [
        "screening.csv, line 4 (patient P3): row has 1 values but the header has 2 columns"
    ]


def test_a_row_over_several_lines_is_named_by_its_first(tmp_path):
    found = problems(log(tmp_path, GOOD + 'P2,"one\ntwo"\n'))
    assert found == ["screening.csv, line 10 (patient P2), column patient_id: repeats the identifier of line 3"]


@pytest.mark.parametrize("make", ["folder", "dangling link", "loop"])
def test_a_screening_log_that_is_no_file_is_named_not_passed_over(tmp_path, make):
    cohort = tmp_path / "cohort.csv"
    shutil.copyfile(COHORT, cohort)
    target = tmp_path / "screening.csv"
    if make == "folder":
        target.mkdir()
    else:
        target.symlink_to(tmp_path / "nowhere.csv" if make == "dangling link" else target)
    [problem] = problems_beside(cohort)
    expected = {"folder": "cannot be read as a file", "dangling link": "is a link to a file that does not exist"}
    assert str(problem).startswith("screening.csv: " + expected.get(make, "cannot be read as a file"))


def test_a_log_that_is_not_utf8_or_not_there_is_one_sentence(tmp_path):
    assert problems(log(tmp_path, "patient_id,exclusion_reason\nP1,r\xe9cidive\n".encode("latin-1"))) == [
        "screening.csv, line 2: is not UTF-8 text (invalid continuation byte at byte 32): save it as CSV UTF-8"
    ]
    assert problems(tmp_path / "nope.csv") == ["nope.csv: does not exist"]


def test_the_scorecard_command_names_a_bad_log_without_a_traceback(tmp_path, capsys):
    cohort = tmp_path / "cohort.csv"
    shutil.copyfile(COHORT, cohort)
    (tmp_path / "screening.csv").write_text("patient_id,exclusion_reason\nSYN0001,\n", encoding="utf-8")
    assert scorecard.main(["--cohort", str(cohort), "--out", str(tmp_path / "card.csv")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("error: 94 problem(s) in screening log screening.csv:") and not (tmp_path / "card.csv").exists()
    )


def test_the_scorecard_command_names_a_bad_cohort_or_output_without_a_traceback(tmp_path, capsys):
    cohort = tmp_path / "cohort.csv"
    text = COHORT.read_text(encoding="utf-8").splitlines()
    text[1] = text[1].replace(",male,", ",mail,", 1)
    cohort.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert scorecard.main(["--cohort", str(cohort), "--out", str(tmp_path / "card.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 problem(s) in cohort") and "line 2 (patient SYN0001), column sex" in err
    assert "Traceback" not in err and not (tmp_path / "card.csv").exists()
    assert scorecard.main(["--cohort", str(COHORT), "--out", str(tmp_path / "no" / "card.csv")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: cannot write the scorecard to {tmp_path / 'no' / 'card.csv'}")
        and "Traceback" not in err
    )


def test_the_error_counts_its_problems(tmp_path):
    with pytest.raises(EnrolmentError, match=r"^2 problem\(s\) in screening log screening.csv:"):
        read_enrolment(log(tmp_path, "patient_id,exclusion_reason\nP1,\nP1,\n"), ["P1", "P2"])


def test_the_scorecard_computes_the_screening_counts_from_the_log_and_only_from_it():
    registry = scorecard.audited(published.load_registry())
    patients = registry[registry["variable"] == "patients"]  # the rows the log answers, and the enrolled count
    cohort = load_cohort(COHORT)
    with_log = scorecard.reproduce(cohort, patients, flow_beside(COHORT, cohort["patient_id"])).set_index("id")
    assert with_log.loc["res.patients.screened.n", ["reproduced", "passed"]].tolist() == [99, True]
    assert with_log.loc["res.patients.excluded.n", ["reproduced", "passed"]].tolist() == [4, True]
    assert with_log["passed"].all() and len(with_log) == 6
    assert "screening.csv" in with_log.loc["res.patients.excluded.n", "method"]
    without = scorecard.reproduce(cohort, patients).set_index("id")
    assert pd.isna(without.loc["res.patients.screened.n", "reproduced"])
    assert "no screening log (screening.csv) was given" in without.loc["res.patients.screened.n", "method"]


def test_the_committed_scorecard_holds_every_count():
    card = pd.read_csv(ROOT / "data" / "scorecard.csv")
    counts = card[card["kind"].isin(["count", "percent"]) & ~card["conflict"].astype(bool)]
    assert counts["passed"].all(), counts.loc[~counts["passed"], "id"].tolist()


def test_the_flow_table_hides_a_small_exclusion_and_what_gives_it_back():
    flow = EnrolmentFlow("x", 99, 95, {"no remission after CAR-T": 4})
    shown = baseline.enrolment_table(flow)
    assert shown.iloc[:, 0].tolist() == ["99", "4 (4.0%)", "95 (96.0%)"]
    masked = baseline.enrolment_table(flow, min_cell=5)
    # 4 = 99 - 95, and 95 is the cohort's size shown on every page: the screened count and the percentages go
    assert masked.columns.tolist() == ["Patients"]
    assert masked.iloc[:, 0].tolist() == ["*", "<5", "95"]
    two = baseline.enrolment_table(EnrolmentFlow("x", 130, 95, {"a": 20, "b": 12, "c": 3}), min_cell=5)
    assert two.iloc[:, 0].tolist() == ["130", "20 (15.4%)", "*", "<5", "95 (73.1%)"]
    # a cohort smaller than min_cell is masked like any small count (rule 5), and the line hides what gives it back
    small = baseline.enrolment_table(EnrolmentFlow("x", 43, 3, {"a": 40}), min_cell=5)
    assert small.iloc[:, 0].tolist() == ["43", "*", "<5"]


def test_validate_reads_the_log_beside_the_cohort(tmp_path):
    cohort = tmp_path / "cohort.csv"
    shutil.copyfile(COHORT, cohort)
    assert problems_beside(cohort) == []
    result = hsct_book_here("validate", str(cohort))
    assert result.returncode == 0, result.stderr
    lines = LOG.read_text(encoding="utf-8").splitlines()
    (tmp_path / "screening.csv").write_text("\n".join(lines[:-1] + ["SYN0005,no remission after CAR-T"]) + "\n")
    result = hsct_book_here("validate", str(cohort))
    assert result.returncode == 2
    assert "screening.csv, line 100 (patient SYN0005), column patient_id: repeats the identifier of line 6" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    built = hsct_book_here("build", "--cohort", str(cohort), "--out", str(tmp_path / "site"))
    assert built.returncode == 2 and not (tmp_path / "site").exists()
    assert built.stderr.startswith(f"the screening log beside {cohort} is not valid; nothing was built.")


def test_a_study_book_checks_and_shows_the_log_beside_its_cohort(tmp_path):
    from hsct_analysis.book import study_report
    from hsct_analysis.cohort.study import read_cohort

    folder = tmp_path / "bmt"
    shutil.copytree(ROOT / "data" / "examples" / "bmt", folder)
    study_file = folder / "study.yml"
    assert build.study_problems(study_file) == []
    assert study_report.enrolment_table(read_cohort(study_file)) is None  # no log: no table
    ids = pd.read_csv(folder / "bmt.csv", dtype=str)["id"].tolist()
    rows = [f"{i}," for i in ids] + ["X1,active infection", "X2,active infection", "X3,no donor"]
    (folder / "screening.csv").write_text("patient_id,exclusion_reason\n" + "\n".join(rows) + "\n")
    assert build.study_problems(study_file) == []
    table = study_report.enrolment_table(read_cohort(study_file), min_cell=1)
    assert table.iloc[:, 0].tolist() == ["140", "2 (1.4%)", "1 (0.7%)", "137 (97.9%)"]
    (folder / "screening.csv").write_text("patient_id,exclusion_reason\n" + "\n".join(rows[1:]) + "\n")
    found = [str(p) for p in build.study_problems(study_file)]
    assert found == ["screening.csv (patient 1), column patient_id: is a patient of bmt.csv but has no row in the log"]


def test_a_reason_is_shown_as_text_never_as_markup():
    flow = EnrolmentFlow("x", 120, 95, {"<script>alert(1)</script> & *no*": 25})
    html = baseline.enrolment_table(flow)._repr_html_()
    assert "<script>" not in html and "Excluded: &lt;script&gt;alert(1)&lt;/script&gt; &amp; *no*" in html
