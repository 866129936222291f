"""``hsct-book validate`` and ``hsct-book build`` on malformed cohort files, run as a user would.

Each case is the bundled cohort (``data/cohort.csv``) broken in exactly ONE way, written to ``tmp_path``.
The installed console script (``.venv/bin/hsct-book``) must exit with status 2, print one line per problem
that names where (line and/or patient) and what (column and rule), never print a Python traceback, and
``build`` must leave the output folder alone (not created; an existing one byte-for-byte untouched).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from book_runs import hsct_book, hsct_book_here
from hsct_analysis.book import build

ROOT = build.PROJECT_ROOT
BUNDLED = ROOT / "data" / "cohort.csv"

# ------------------------------------------------------------------------------------------ the cohort


def bundled_rows() -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows (as text cells) of the bundled synthetic cohort."""
    with BUNDLED.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def csv_text(header: list[str], rows: list[dict[str, str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def first(rows: list[dict[str, str]], **where: str) -> int:
    """Index of the first row whose cells equal ``where`` (``"<filled>"`` = any non-empty cell)."""
    for i, row in enumerate(rows):
        if all((row[k] != "") if v == "<filled>" else row[k] == v for k, v in where.items()):
            return i
    raise LookupError(f"no row of the bundled cohort has {where}")


@dataclass(frozen=True)
class Defect:
    """A file with one defect; ``where`` = (file line, patient_id) expected on the problem line."""

    data: bytes
    line: int | None
    patient_id: str | None
    column: str | None
    rule: str  # a fragment of the rule text the problem line must contain


def cell_defect(
    column: str, value: str | Callable[[dict], str], rule: str, report_column: str | None = None, **where: str
) -> Callable[[], Defect]:
    """Set ``column`` of the first row matching ``where`` to ``value`` (or ``value(row)``)."""

    def make() -> Defect:
        header, rows = bundled_rows()
        i = first(rows, **where)
        rows[i][column] = value(rows[i]) if callable(value) else value
        return Defect(csv_text(header, rows).encode(), i + 2, rows[i]["patient_id"], report_column or column, rule)

    return make


def missing_column() -> Defect:
    header, rows = bundled_rows()
    header.remove("donor_second")
    for row in rows:
        del row["donor_second"]
    return Defect(csv_text(header, rows).encode(), 1, None, "donor_second", "required column is missing")


def duplicate_id() -> Defect:
    header, rows = bundled_rows()
    rows[5]["patient_id"] = rows[2]["patient_id"]
    return Defect(
        csv_text(header, rows).encode(),
        7,
        rows[2]["patient_id"],
        "patient_id",
        "is a duplicate patient_id (first on line 4)",
    )


def empty_file() -> Defect:
    return Defect(b"", None, None, None, "file is empty (0 bytes)")


def header_only() -> Defect:
    header, _ = bundled_rows()
    return Defect((",".join(header) + "\n").encode(), None, None, None, "file has a header but no patient rows")


def semicolons() -> Defect:
    header, rows = bundled_rows()
    return Defect(csv_text(header, rows, delimiter=";").encode(), 1, None, None, "separated by semicolons (;)")


def latin1_bytes() -> Defect:
    header, rows = bundled_rows()
    i = first(rows, dead="1")
    rows[i]["cause_of_death"] = "other"
    text = csv_text(header, rows).replace(f"{rows[i]['patient_id']},", f"{rows[i]['patient_id']}\u00e9,", 1)
    return Defect(text.encode("latin-1"), i + 2, None, None, "is not valid UTF-8")


def ragged_row() -> Defect:
    header, rows = bundled_rows()
    lines = csv_text(header, rows).split("\n")
    lines[3] = lines[3].rsplit(",", 2)[0]  # line 4 loses its last two values
    return Defect(
        "\n".join(lines).encode(),
        4,
        rows[2]["patient_id"],
        None,
        f"row has {len(header) - 2} values but the header has {len(header)} columns",
    )


def _after(column: str, extra: int) -> Callable[[dict], str]:
    return lambda row: str(int(row[column]) + extra)


CASES: dict[str, Callable[[], Defect]] = {
    "missing_column": missing_column,
    "unknown_category": cell_defect("donor_second", "sibling", "is not one of MSD|MUD|haplo"),
    "category_case": cell_defect("sex", "Female", 'did you mean "female"?', sex="female"),
    "negative_day": cell_defect("cmv_days", "-4", "is negative (cmv_days must be >= 0)", cmv_days="<filled>"),
    "fractional_day": cell_defect("followup_days", lambda r: r["followup_days"] + ".5", "is not days: use whole days"),
    "text_in_day": cell_defect("neutrophil_engraftment_days", "two weeks", "is not a number (whole days expected"),
    "event_after_followup": cell_defect(
        "cmv_days", _after("followup_days", 10), "is after last follow-up (followup_days", dead="0", cmv_days="<filled>"
    ),
    "relapse_after_death": cell_defect(
        "relapse_days", _after("followup_days", 30), "is after death (followup_days", dead="1", relapse_days=""
    ),
    "dead_without_followup": cell_defect(
        "followup_days", "", "is empty, but dead is 1: give the day of death", dead="1"
    ),
    "duplicate_id": duplicate_id,
    "empty_file": empty_file,
    "header_only": header_only,
    "semicolon_delimiter": semicolons,
    "latin1_bytes": latin1_bytes,
    "ragged_row": ragged_row,
    "age_out_of_range": cell_defect("age_second_hsct", "120.0", "is outside 0-100"),
    "crs_inconsistent": cell_defect("crs_grade", "2", "must be 0 when crs_after_cart is no", crs_after_cart="no"),
    "hct_ci_7": cell_defect("hct_ci", "7", "is outside 0-4"),
    "cause_given_alive": cell_defect("cause_of_death", "infection", "is given, but dead is 0", dead="0"),
    # a day inside the patient's follow-up, so the missing grade 2-4 day is the only defect
    "grade_3_4_without_2_4": cell_defect(
        "agvhd_3_4_days",
        lambda row: str(min(40, int(row["followup_days"]) - 1)),
        "is given without agvhd_2_4_days",
        agvhd_2_4_days="",
    ),
}


@pytest.fixture(params=sorted(CASES))
def defect(request, tmp_path) -> tuple[Path, Defect]:
    made = CASES[request.param]()
    path = tmp_path / f"{request.param}.csv"
    path.write_bytes(made.data)
    return path, made


def problem_lines(stderr: str, path: Path) -> list[str]:
    """Lines of stderr that report one problem (they start with the file's path)."""
    return [line for line in stderr.splitlines() if line.startswith(str(path))]


def test_there_are_at_least_15_cases():
    assert len(CASES) >= 15


def test_validate_names_the_one_problem_and_exits_2(defect):
    path, made = defect
    result = hsct_book_here("validate", str(path))  # as the console script does (test_robust_input checks)
    lines = problem_lines(result.stderr, path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == ""
    assert len(lines) == 1, lines  # one defect -> exactly one problem line
    line = lines[0]
    assert made.rule in line
    if made.line is not None:
        assert f", line {made.line}" in line
    if made.patient_id is not None:
        assert f"(patient {made.patient_id})" in line
    if made.column is not None:
        assert f", column {made.column}" in line
    assert made.line is not None or made.patient_id is not None or made.rule.startswith("file")
    assert result.stderr.strip().splitlines()[-1] == "1 problem(s) found; fix them and run `hsct-book validate` again."


def test_validate_lists_every_problem_of_a_file_with_several(tmp_path):
    """Three independent defects -> three lines, in file order, each naming its patient and column."""
    header, rows = bundled_rows()
    rows[0]["hct_ci"] = "7"
    rows[3]["sex"] = "M"
    rows[9]["age_first_hsct"] = "-1.0"
    path = tmp_path / "three.csv"
    path.write_text(csv_text(header, rows), encoding="utf-8")
    result = hsct_book_here("validate", str(path))
    lines = problem_lines(result.stderr, path)
    assert result.returncode == 2
    assert [ln.split(": ", 1)[0] for ln in lines] == [
        f"{path}, line 2 (patient {rows[0]['patient_id']}), column hct_ci",
        f"{path}, line 5 (patient {rows[3]['patient_id']}), column sex",
        f"{path}, line 11 (patient {rows[9]['patient_id']}), column age_first_hsct",
    ]
    assert "Traceback" not in result.stderr


BUILD_CASES = ["missing_column", "relapse_after_death", "empty_file", "latin1_bytes", "duplicate_id"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILD_CASES)
def test_build_refuses_and_does_not_create_the_output(name, tmp_path):
    made = CASES[name]()
    path = tmp_path / f"{name}.csv"
    path.write_bytes(made.data)
    out = tmp_path / "site"
    result = hsct_book("build", "--cohort", str(path), "--out", str(out), "--jobs", "1")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{path} is not a valid cohort; nothing was built." in result.stderr
    lines = problem_lines(result.stderr, path)
    assert len(lines) == 2 and made.rule in lines[1]  # the header line names the file too
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no stage folder left next to --out


@pytest.mark.slow
def test_build_leaves_an_existing_output_untouched(tmp_path):
    made = CASES["crs_inconsistent"]()
    path = tmp_path / "crs.csv"
    path.write_bytes(made.data)
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("<p>the previous book</p>", encoding="utf-8")
    (out / build.STAMP_NAME).write_text('{"key": "old"}', encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = hsct_book("build", "--cohort", str(path), "--out", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crs.csv", "site"]


@pytest.mark.slow
def test_build_of_a_missing_file_exits_2_without_traceback(tmp_path):
    result = hsct_book("build", "--cohort", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "site"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope.csv'}: no such file; nothing was built."
    assert not (tmp_path / "site").exists()
