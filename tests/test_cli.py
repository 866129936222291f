"""The ``hsct-book`` command line: exit codes, one line per problem, never a traceback."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from hsct_analysis import cohort
from hsct_analysis.book import build, cli

ROOT = build.PROJECT_ROOT
COHORT = ROOT / "data" / "cohort.csv"


def hsct_book(*args: str) -> subprocess.CompletedProcess:
    """Run the command as a user would (a fresh interpreter), capturing its output."""
    return subprocess.run([sys.executable, "-m", "hsct_analysis.book.cli", *args], capture_output=True, text=True)


def _broken_copy(path: Path) -> Path:
    """The bundled cohort with two faults: an unknown sex on the first patient, dead=2 on the second."""
    with COHORT.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rows[0]["sex"] = "unknown-sex"
    rows[1]["dead"] = "2"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_validate_good_cohort_prints_one_ok_line():
    result = hsct_book("validate", str(COHORT))
    n_patients = len(cohort.load_cohort(COHORT))
    assert result.returncode == 0
    assert result.stdout.strip().splitlines() == [f"OK: {COHORT} is a valid cohort with {n_patients} patients."]
    assert "Traceback" not in result.stderr


def test_validate_bad_cohort_lists_every_problem_and_exits_2(tmp_path):
    bad = _broken_copy(tmp_path / "bad.csv")
    result = hsct_book("validate", str(bad))
    problems = cohort.validate(bad)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert len(problems) >= 2
    assert lines[:-1] == [str(p) for p in problems]  # one line per problem, then the summary
    assert lines[-1].startswith(f"{len(problems)} problem(s) found")
    assert any("sex" in line and "unknown-sex" in line for line in lines)
    assert any("dead" in line for line in lines)
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_validate_missing_file_exits_2(tmp_path):
    result = hsct_book("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.csv'}: no such file"


@pytest.mark.slow
def test_build_with_invalid_cohort_exits_2_and_builds_nothing(tmp_path):
    bad = _broken_copy(tmp_path / "bad.csv")
    out = tmp_path / "site"
    result = hsct_book("build", "--cohort", str(bad), "--out", str(out))
    assert result.returncode == 2
    assert "nothing was built" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith(str(bad))]) >= 2
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_template_writes_the_header_and_dictionary(tmp_path, capsys):
    assert cli.main(["template", str(tmp_path / "mine")]) == 0
    header = (tmp_path / "mine" / "cohort_template.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[0] == "patient_id"
    assert len(header) == len(cohort.REQUIRED_COLUMNS) + len(cohort.OPTIONAL_COLUMNS)
    assert (tmp_path / "mine" / "dictionary.csv").exists()
    assert capsys.readouterr().out.count("wrote ") == 2


def test_failing_build_exits_1_with_the_chapter_and_no_traceback(tmp_path, monkeypatch, capsys):
    def failing_build(*args, **kwargs):
        raise build.NotebookError("05_survival", 3, "km = kaplan_meier(t, e)", "KeyError: 'os_time'", None)

    monkeypatch.setattr(build, "build_book", failing_build)
    status = cli.main(["build", "--cohort", str(COHORT), "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert status == 1
    assert "chapter 05_survival failed in cell 4" in err
    assert "    km = kaplan_meier(t, e)" in err and "KeyError: 'os_time'" in err
    assert "Traceback" not in err


def test_bad_option_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["build", "--cohort", str(COHORT), "--out", "x", "--min-cell", "0"])
    assert exit_.value.code == 2
    assert "expected a number of at least 1, got 0" in capsys.readouterr().err


def test_many_data_warnings_are_listed_up_to_a_limit_then_counted(tmp_path):
    """bmt's one record with an event after follow-up, copied 30 times: 20 warning lines and one that counts the rest,
    not a screenful per copy."""
    import pandas as pd

    bmt = pd.read_csv(ROOT / "data" / "examples" / "bmt" / "bmt.csv")
    pd.concat([bmt.assign(id=bmt["id"] + 1000 * k) for k in range(30)]).to_csv(tmp_path / "bmt.csv", index=False)
    (tmp_path / "study.yml").write_text((ROOT / "data" / "examples" / "bmt" / "study.yml").read_text())
    result = hsct_book("validate", str(tmp_path / "study.yml"))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert result.returncode == 0 and len(warnings) == cli.MAX_WARNINGS + 1
    assert warnings[-1] == f"warning: ... and 10 more (30 in all; the first {cli.MAX_WARNINGS} are listed)"
