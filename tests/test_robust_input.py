"""Bad input to ``hsct-book validate``: every case answered by one precise line, never a traceback.

Hostile and odd files (encodings, a workbook, binary data, control characters, absurd numbers, free text the
book could not print), the small-cell rules of ``book/privacy.py`` and the escaping of user text.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from book_runs import build_args, hsct_book, hsct_book_here
from hsct_analysis.book import build, privacy
from hsct_analysis.cohort import contract

ROOT = build.PROJECT_ROOT
BUNDLED = ROOT / "data" / "cohort.csv"


def rows() -> tuple[list[str], list[dict[str, str]]]:
    with BUNDLED.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def text(header, body) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(body)
    return out.getvalue()


def validate(path: Path) -> subprocess.CompletedProcess:
    """``hsct-book validate path``, in this process (:func:`book_runs.hsct_book_here`)."""
    return hsct_book_here("validate", str(path))


def problem_lines(result, path) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith(str(path))]


def edited(**cells) -> str:
    """The bundled cohort with cells of its first row (index 0, file line 2) replaced."""
    header, body = rows()
    body[0].update(cells)
    return text(header, body)


CASES = {  # name: (file bytes, expected line, expected column, fragment of the rule)
    "days_1e20": (edited(followup_days="1e20").encode(), 2, "followup_days", "is outside 0-36525 (days"),
    "days_200_years": (
        edited(days_first_to_second_hsct="73050").encode(),
        2,
        "days_first_to_second_hsct",
        "is outside 0-36525",
    ),
    "infinite": (edited(followup_days="inf").encode(), 2, "followup_days", "is not a number"),
    "nul_in_id": (edited(patient_id="SYN\x000001").encode(), 2, "patient_id", "U+0000"),
    "bidi_override": (edited(patient_id="SYN\u202e0001").encode(), 2, "patient_id", "U+202E"),
    "html_fusion": (edited(fusion_gene="<b>BCR</b>").encode(), 2, "fusion_gene", "is not a fusion gene"),
    "unknown_fusion": (edited(fusion_gene="unknown").encode(), 2, "fusion_gene", 'or "negative" when none'),
    "html_id": (
        edited(patient_id="<img src=x onerror=alert(1)>").encode(),
        2,
        "patient_id",
        "is not a pseudonymous id",
    ),
    "utf16_bom": (text(*rows()).encode("utf-16"), None, None, "file is UTF-16 text"),
    "utf16_no_bom": (text(*rows()).encode("utf-16-le"), None, None, "UTF-16 text without a byte-order mark"),
    "utf32": (text(*rows()).encode("utf-32"), None, None, "file is UTF-32 text"),
    "pdf": (b"%PDF-1.7\n" + bytes(range(256)) * 20, None, None, "it is a PDF document"),
    "binary": (bytes(range(256)) * 40, None, None, "not a text file (binary data)"),
    "old_excel": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, None, None, "Excel 97-2003 workbook"),
    "zip_not_workbook": (b"PK\x03\x04" + b"\0" * 100, None, None, "it is a ZIP archive"),
    "parquet": (b"PAR1" + bytes(range(256)) * 4 + b"PAR1", None, None, "it is a Parquet file"),
    "jsonc": (
        b'// exported 2026-11-30\n/* cohort */\n[{"patient_id": "SYN0001"}]',
        None,
        None,
        "file is JSON with comments",
    ),
    "xml_without_prolog": (
        b'<cohort xmlns="urn:x">\n  <patient id="SYN0001"/>\n</cohort>',
        None,
        None,
        "file is XML or HTML, not a cohort table",
    ),
    "json_records": (
        b'[{"patient_id": "SYN0001", "sex": "female"},\n {"patient_id": "SYN0002", "sex": "male"}]',
        None,
        None,
        "file is JSON, not a cohort table",
    ),
    "json_lines_with_bom": (
        b'\xef\xbb\xbf  {"patient_id": "SYN0001"}\n{"patient_id": "SYN0002"}\n',
        None,
        None,
        "file is JSON, not a cohort table",
    ),
    "json_columns": (b'{\n  "patient_id": ["SYN0001", "SYN0002"]\n}', None, None, "file is JSON"),
    "python_repr": (b"[{'patient_id': 'SYN0001'}]", None, None, "file is JSON"),
    "html_comment_first": (b"<!-- export -->\n<table><tr><td>x</td></tr></table>", None, None, "XML or HTML"),
    "html_table": (
        b"<!DOCTYPE html><html><table><tr><td>patient_id</td></tr></table></html>",
        None,
        None,
        "file is XML or HTML, not a cohort table",
    ),
}


@pytest.mark.parametrize("name", ["html_table", "python_repr", "valid"])
def test_the_console_script_prints_what_main_does(name, tmp_path):
    """The tests here call ``hsct-book validate`` in this process (:func:`validate`); the installed console script,
    run as a user runs it, gives the same exit status and prints the same lines."""
    path = tmp_path / f"{name}.csv"
    if name == "valid":
        path.write_bytes((build.PROJECT_ROOT / "data" / "cohort.csv").read_bytes())
    else:
        path.write_bytes(CASES[name][0])
    here, script = validate(path), hsct_book("validate", str(path), timeout=300)
    assert (here.returncode, here.stdout, here.stderr) == (script.returncode, script.stdout, script.stderr)
    assert here.returncode == (0 if name == "valid" else 2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_bad_file_gets_one_precise_line(name, tmp_path):
    data, line, column, rule = CASES[name]
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    result = validate(path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = problem_lines(result, path)
    assert len(lines) == 1, lines
    assert rule in lines[0]
    if line is not None:
        assert f", line {line}" in lines[0] and f", column {column}" in lines[0]
    if "UTF" in rule:
        assert "CSV UTF-8" in lines[0]  # says how to save the file
    if "not a cohort table" in rule or "Parquet" in rule:
        assert "write.csv(" in lines[0] and ".to_csv(" in lines[0]  # says how to write a CSV
    assert "\x00" not in result.stderr and "\u202e" not in result.stderr  # shown escaped, not raw


def test_latin1_is_named_with_how_to_save(tmp_path):
    header, body = rows()
    body[3]["cause_of_death"] = body[3]["cause_of_death"] or ""
    data = text(header, body).replace(body[3]["patient_id"] + ",", body[3]["patient_id"] + ",", 1)
    data = data.replace("male", "m\u00e2le", 1).encode("cp1252")
    path = tmp_path / "latin1.csv"
    path.write_bytes(data)
    lines = problem_lines(validate(path), path)
    assert any("Windows-1252/Latin-1" in ln and "'â'" in ln and "CSV UTF-8" in ln for ln in lines), lines


def test_utf8_with_and_without_bom_are_the_same_cohort(tmp_path):
    plain, bom = tmp_path / "plain.csv", tmp_path / "bom.csv"
    plain.write_bytes(BUNDLED.read_bytes())
    bom.write_bytes(b"\xef\xbb\xbf" + BUNDLED.read_bytes())
    assert contract.validate(plain) == [] and contract.validate(bom) == []
    pd.testing.assert_frame_equal(contract.load_cohort(plain), contract.load_cohort(bom), check_like=True)


@pytest.mark.parametrize("first", ["[1]", "[2nd review]", "<html_note>", "<tablet_count>", "{site}"])
def test_a_csv_whose_first_column_name_starts_like_json_or_html_is_read_as_csv(first, tmp_path):
    """Only the start of a JSON value or of a markup element is taken for one; an odd first column name is not."""
    header, body = rows()
    path = tmp_path / "cohort.csv"
    path.write_text(text([first, *header], [{first: "1", **row} for row in body]))
    assert contract.validate(path) == []


def test_a_write_only_workbook_without_trailing_empty_cells_is_read_as_a_grid(tmp_path):
    """openpyxl's write-only mode stores no empty cell and no sheet dimension, so rows whose last cells are empty
    come back shorter than the header: they are the same cohort, not ragged rows. A value beyond the header is
    still reported."""
    openpyxl = pytest.importorskip("openpyxl")
    header, body = rows()
    last = header[-1]
    assert any(not row[last] for row in body)  # rows whose last cell is empty: shorter in the workbook
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(header + [None, None])  # empty cells after the header too
    for row in body:
        sheet.append([_number_or_text(row[h]) if row[h] else None for h in header])
    path = tmp_path / "write_only.xlsx"
    book.save(path)
    result = validate(path)
    assert result.returncode == 0 and f"valid cohort with {len(body)} patients" in result.stdout, result.stderr
    pd.testing.assert_frame_equal(contract.load_cohort(path), contract.load_cohort(BUNDLED), check_like=True)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(header)
    for k, row in enumerate(body):
        sheet.append([_number_or_text(row[h]) if row[h] else None for h in header] + (["extra"] if k == 2 else []))
    wide = tmp_path / "wide.xlsx"
    book.save(wide)
    lines = problem_lines(validate(wide), wide)
    assert len(lines) == 1 and ", line 4" in lines[0] and f"has {len(header) + 1} values but the header has" in lines[0]


def test_an_excel_workbook_is_read_as_one(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    header, body = rows()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in body:
        sheet.append([_number_or_text(row[h]) for h in header])
    good = tmp_path / "cohort.xlsx"
    book.save(good)
    result = validate(good)
    assert result.returncode == 0 and f"valid cohort with {len(body)} patients" in result.stdout, result.stderr
    pd.testing.assert_frame_equal(
        contract.load_cohort(good).drop(columns=[]), contract.load_cohort(BUNDLED), check_like=True, check_dtype=False
    )
    sheet.cell(row=5, column=header.index("sex") + 1, value="Female")
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    lines = problem_lines(validate(bad), bad)
    assert (
        len(lines) == 1 and ", line 5" in lines[0] and "column sex" in lines[0] and 'did you mean "female"' in lines[0]
    )


def _workbook_with_formula(
    path: Path,
    formula: str,
    stored: str | None,
    column: str = "age_first_hsct",
    kind: str = "",
    recalculate: bool = False,
) -> tuple[int, str]:
    """The bundled-shaped cohort as a workbook whose sheet row 4, ``column`` (a contract column, or a new last one),
    holds ``formula``; with ``stored``, its result is written into the sheet as a spreadsheet program saves it
    (openpyxl writes none), with cell type ``kind`` (``str`` for a text result), and the workbook no longer asks to
    be recalculated when opened, as after such a save; unless ``recalculate``: then ``stored`` is a placeholder
    beside a request to recalculate, as some programs write it."""
    import zipfile

    openpyxl = pytest.importorskip("openpyxl")
    header, body = rows()
    header = header if column in header else [*header, column]
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in body:
        book.active.append([_number_or_text(row.get(h, "1")) for h in header])
    book.active.cell(row=4, column=header.index(column) + 1, value=formula)
    book.save(path)
    if stored is not None:
        with zipfile.ZipFile(path) as archive:
            parts = {name: archive.read(name) for name in archive.namelist()}
        sheet = parts["xl/worksheets/sheet1.xml"].decode()
        old = f"<f>{formula[1:]}</f><v />"
        assert old in sheet
        sheet = sheet.replace(old, f"<f>{formula[1:]}</f><v>{stored}</v>")
        if kind:
            sheet = re.sub(rf'(<c r="[A-Z]+4")(>{re.escape(f"<f>{formula[1:]}</f>")})', rf'\1 t="{kind}"\2', sheet)
        parts["xl/worksheets/sheet1.xml"] = sheet.encode()
        assert b'fullCalcOnLoad="1"' in parts["xl/workbook.xml"]  # what openpyxl writes
        if not recalculate:
            parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b' fullCalcOnLoad="1"', b"")
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in parts.items():
                archive.writestr(name, data)
    return 4, column


def test_a_formula_whose_stored_result_is_empty_text_is_read_as_empty(tmp_path):
    """=IF(x="","",...) as LibreOffice and Excel store it (t="str", an empty value): a result, not a missing one."""
    path = tmp_path / "cohort.xlsx"
    assert rows()[1][2]["dead"] == "0"  # sheet row 4 is a living patient, whose cause of death is empty
    _workbook_with_formula(path, '=IF(1=1,"","x")', "", column="cause_of_death", kind="str")
    assert 't="str"' in __import__("zipfile").ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert contract.validate(path) == []


def test_a_formula_outside_the_contract_columns_is_left_alone(tmp_path):
    path = tmp_path / "cohort.xlsx"
    _workbook_with_formula(path, "=1+1", None, column="site_notes")
    assert contract.validate(path) == []
    assert contract.formula_without_result(path, contract.COLUMNS) is None
    assert contract.formula_without_result(path)[1:] == ("site_notes", "=1+1", None)  # the drafter reads every column


def test_a_formula_without_a_stored_result_is_named_with_how_to_fix_it(tmp_path):
    """A workbook written by a program keeps formulas without their results: read for values they are empty.
    One line names the first such cell and says to save the workbook from a spreadsheet program."""
    path = tmp_path / "cohort.xlsx"
    line, column = _workbook_with_formula(path, "=20+7.8", None)
    lines = problem_lines(validate(path), path)
    assert len(lines) == 1, lines
    assert f", line {line}, column {column}" in lines[0] and "holds a formula (=20+7.8)" in lines[0]
    assert "save it" in lines[0]


def test_a_formula_stored_with_a_placeholder_in_a_workbook_to_recalculate_is_named(tmp_path):
    """Some programs write each formula with 0 beside it and ask the workbook to be recalculated when opened: read
    for values the cell would be 0, a number no one computed. One line names it and says how to fix it."""
    path = tmp_path / "cohort.xlsx"
    line, column = _workbook_with_formula(path, "=20+7.8", "0", recalculate=True)
    lines = problem_lines(validate(path), path)
    assert len(lines) == 1, lines
    assert f", line {line}, column {column}" in lines[0]
    assert "holds a formula (=20+7.8) whose stored value (0) is a placeholder" in lines[0] and "save it" in lines[0]
    assert contract.formula_without_result(path)[1:] == (column, "=20+7.8", "0")


def test_a_formula_with_its_stored_result_is_read_as_that_result(tmp_path):
    path = tmp_path / "cohort.xlsx"
    age = rows()[1][2]["age_first_hsct"]  # sheet row 4 is the third patient
    line, _ = _workbook_with_formula(path, f"={age}*1", age)
    assert contract.validate(path) == []
    assert contract.load_cohort(path)["age_first_hsct"].iloc[line - 2] == pytest.approx(float(age))


def test_a_workbook_named_csv_is_read_as_a_workbook(tmp_path):
    """An .xlsx renamed .csv: known by its bytes, read as a workbook (openpyxl alone refuses the name)."""
    openpyxl = pytest.importorskip("openpyxl")
    header, body = rows()
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in body:
        book.active.append([_number_or_text(row[h]) for h in header])
    renamed = tmp_path / "cohort.csv"
    book.save(renamed)
    result = validate(renamed)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == f"OK: {renamed} is a valid cohort with {len(body)} patients.\n"
    book.active.cell(row=5, column=header.index("sex") + 1, value="x")
    book.save(renamed)
    result = validate(renamed)
    lines = problem_lines(result, renamed)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "openpyxl" not in result.stderr
    assert len(lines) == 1 and ", line 5" in lines[0] and "column sex: x is not one of" in lines[0], lines


def _number_or_text(cell: str):
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell or None


def test_a_fusion_gene_that_validates_is_printed_by_table_1(tmp_path):
    """One rule for validate and build: a new fusion gene is accepted by both, and listed in Table 1."""
    from hsct_analysis.book import baseline

    path = tmp_path / "etv6.csv"
    path.write_text(edited(fusion_gene="ETV6::RUNX1"), encoding="utf-8")
    assert contract.validate(path) == []
    table = baseline.characteristics_table(contract.load_cohort(path), baseline.TABLE1_ROWS)
    assert ("Fusion gene at diagnosis, n (%)", "ETV6::RUNX1") in table.index
    assert table.loc[("Fusion gene at diagnosis, n (%)", "ETV6::RUNX1")].iloc[0] == "1 (1.1%)"


@pytest.mark.slow  # runs the whole pipeline several times (seconds each)
@pytest.mark.parametrize("shape", ["one_patient", "two_patients", "all_censored", "all_dead_day_0"])
def test_degenerate_cohorts_are_refused_under_the_stated_minimum(shape, tmp_path):
    header, body = rows()
    if shape == "one_patient":
        body = body[:1]
    elif shape == "two_patients":
        body = body[:2]
    elif shape == "all_censored":
        for row in body:
            row.update(dead="0", cause_of_death="")
    else:
        for row in body:
            row.update(dead="1", followup_days="0", cause_of_death=row["cause_of_death"] or "other")
            for column in contract.OUTCOME_DAY_COLUMNS:
                if column in row and row[column]:
                    row[column] = "0"
            if row["cause_of_death"] == "relapse" and not row["relapse_days"]:
                row["relapse_days"] = "0"
    path = tmp_path / f"{shape}.csv"
    path.write_text(text(header, body), encoding="utf-8")
    assert contract.validate(path) == []  # a valid file under the contract ...
    result = validate(path)  # ... that the book refuses, saying which minimum it misses
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = problem_lines(result, path)
    assert lines and all("the book needs at least" in ln for ln in lines), result.stderr
    built = hsct_book(*build_args(path, tmp_path / "site"), timeout=300)
    assert built.returncode == 2 and problem_lines(built, path)[1:] == lines  # build refuses it the same way


def test_validate_never_lists_more_than_max_listed(tmp_path, monkeypatch):
    header, body = rows()
    for row in body:
        row["sex"] = "x"
    path = tmp_path / "all_bad.csv"
    path.write_text(text(header, body), encoding="utf-8")
    monkeypatch.setattr(contract, "MAX_LISTED", 10)
    problems = contract.validate(path)
    assert len(problems) == 11 and problems[-1].rule.startswith(f"... and {len(body) - 10} more problem(s)")
    # every count the user reads is of all the problems, not of the lines listed
    assert contract.problem_count(problems) == len(body)
    assert str(contract.CohortError(problems)).startswith(f"{len(body)} problem(s) in cohort ")
    result = validate(path)
    assert result.stderr.splitlines()[-1].startswith(f"{len(body)} problem(s) found;"), result.stderr


def test_duplicates_are_found_across_chunks(tmp_path, monkeypatch):
    header, body = rows()
    body[-1]["patient_id"] = body[0]["patient_id"]
    path = tmp_path / "dup.csv"
    path.write_text(text(header, body), encoding="utf-8")
    monkeypatch.setattr(contract, "CHUNK_ROWS", 7)  # the duplicate falls in another chunk than the first
    problems = contract.validate(path)
    assert [(p.line, p.column) for p in problems] == [(len(body) + 1, "patient_id")]
    assert "(first on line 2)" in problems[0].rule


# ------------------------------------------------------------------------------------ privacy rules


def test_zero_is_shown_and_small_counts_masked():
    assert privacy.count_text(0, 5) == 0 and privacy.count_text(4, 5) == "<5" and privacy.count_text(5, 5) == 5
    assert privacy.count_text(3, None) == 3 and privacy.count_text(3, 1) == 3


def test_a_single_masked_count_gets_a_complementary_one():
    cells = privacy.n_percent_line([3, 40, 0, 52], 95, 5)
    assert cells == ["<5", "*", "0 (0.0%)", "52 (54.7%)"]
    assert privacy.n_percent_line([3, 2, 90], 95, 5) == ["<5", "<5", "90 (94.7%)"]  # two masked, sum 5: enough


def test_no_masked_count_is_recoverable_from_a_line_total():
    import itertools

    for counts in itertools.product([0, 1, 2, 4, 5, 7, 30], repeat=4):
        total = sum(counts)
        if total == 0:
            continue
        primary, extra, hide_total = privacy.suppress_line(list(counts), 5)
        masked = [i for i in range(4) if primary[i] or extra[i]]
        assert all(primary[i] == (0 < counts[i] < 5) for i in range(4))
        if masked and not hide_total:
            assert len(masked) >= 2 and sum(counts[i] for i in masked) >= 5, counts


def test_a_table_is_safe_by_rows_and_columns():
    table = pd.DataFrame(
        {"patients": [30, 20, 3], "relapse": [3, 6, 1], "death": [10, 4, 1], "censored": [17, 10, 1]}, index=list("abc")
    )
    shown = privacy.suppress_table(table, 5, ["relapse", "death", "censored"], "patients", column_totals=True)
    parts = ["relapse", "death", "censored"]
    for name, row in shown.iterrows():  # by row: patients - the shown parts never pins one masked part
        hidden = [p for p in parts if isinstance(row[p], str)]
        if isinstance(row["patients"], str):  # the total is masked too: nothing to subtract from
            continue
        assert len(hidden) != 1 and (not hidden or sum(table.loc[name, hidden]) >= 5)
    for column in parts + ["patients"]:  # by column: the same against the column total
        hidden = [i for i in table.index if isinstance(shown.loc[i, column], str)]
        assert len(hidden) != 1 and (not hidden or table.loc[hidden, column].sum() >= 5)
    assert shown.loc["c"].tolist() == ["<5"] * 4


def test_running_counts_have_no_small_step():
    assert privacy.suppress_cumulative([0, 3, 7, 12, 13, 30], 5) == [0, "<5", 7, 12, "*", 30]
    assert privacy.suppress_cumulative([95, 90, 88, 80, 40], 5) == [95, 90, "*", 80, 40]


def test_part_of_a_total_hides_a_small_rest():
    assert privacy.part_of(28, 30, 5) == "*"  # 30 - 28 = 2 patients without the event
    assert privacy.part_of(3, 30, 5) == "<5" and privacy.part_of(20, 30, 5) == 20


# ----------------------------------------------------------------------------------------- escaping


HOSTILE = "<img src=x onerror=alert(1)>.csv"


def test_user_text_is_escaped_for_html_and_markdown():
    from markdown_it import MarkdownIt

    assert build.escape_html(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;.csv"
    rendered = MarkdownIt("commonmark").render(build.escape_markdown(HOSTILE + " `x` {glue}`y` [a](b) *c*"))
    assert "<img" not in rendered and "<code>" not in rendered and "<a " not in rendered and "<em>" not in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in rendered
    assert build.escape_html("a\x00b") == "a\\x00b"


@pytest.mark.slow
def test_a_hostile_file_name_never_becomes_markup(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    cohort = folder / HOSTILE
    cohort.write_bytes((ROOT / "tests" / "data" / "own" / "small_n30.csv").read_bytes())
    out = tmp_path / "site"
    extra = ("--chapter", "03_gvhd", "--chapter", "00_about", "--title", "<script>alert(2)</script> *our* `centre`")
    result = hsct_book(*build_args(cohort, out, None, *extra, "--min-cell", "5"), timeout=1800)
    assert result.returncode == 0, result.stdout + result.stderr
    pages = {p: p.read_text(encoding="utf-8") for p in out.rglob("*.html")}
    assert pages
    assert [
        str(p) for p, html in pages.items() if "<img src=x" in html or "onerror=alert" in html and "&lt;img" not in html
    ] == []
    assert [str(p) for p, html in pages.items() if "<script>alert(2)" in html] == []
    gvhd = pages[out / "book" / "03_gvhd.html"]
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in gvhd  # the name is shown, as text
    about = pages[out / "book" / "00_about.html"]
    assert "&lt;script&gt;alert(2)&lt;/script&gt; *our* `centre`" in about  # the title too, markup and all


def test_the_use_your_own_data_page_states_the_rules_the_code_applies():
    """The small-cell rule and the book's minimum cohort, as "Use your own data" states them, are the ones
    book/privacy.py and cohort/contract.py apply (numbers read from the code, not copied)."""
    page = (ROOT / "book" / "own_data.md").read_text(encoding="utf-8")
    rules = page.split("## Small-cell suppression", 1)[1].split("\n## ", 1)[0]
    assert "`<N`" in rules and privacy.primary_text(5) == "<5"
    assert "A zero is shown as `0`" in rules and privacy.count_text(0, 5) == 0
    assert f"masked as `{privacy.COMPLEMENTARY}`" in rules and "at least two are masked" in rules
    assert "hatched outline of height N" in rules and "merged" in rules
    minimum = contract.BOOK_MINIMUM
    for phrase in (
        f"at least **{minimum['patients']} patients**",
        f"**{minimum['followed']} followed beyond day 0**",
        f"**{minimum['deaths']} deaths**",
        f"**{minimum['alive']} patients alive**",
    ):
        assert phrase in " ".join(page.split()), phrase


# ------------------------------------------------------------------------------- long values, odd paths


@pytest.mark.parametrize("column", ["fusion_gene", "patient_id"])
def test_a_very_long_cell_is_shown_shortened(column, tmp_path):
    path = tmp_path / f"long_{column}.csv"
    path.write_text(edited(**{column: "A" * 1_000_000}), encoding="utf-8")
    result = validate(path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = problem_lines(result, path)
    assert len(lines) == 1 and f"column {column}" in lines[0], lines
    shown = "A" * contract.MAX_SHOWN_CHARACTERS + "\u2026 (1,000,000 characters)"
    assert shown in lines[0] and "A" * (contract.MAX_SHOWN_CHARACTERS + 1) not in lines[0]
    assert len(result.stderr) < 1000


def test_shorten_keeps_short_text_and_counts_long_text():
    limit = contract.MAX_SHOWN_CHARACTERS
    assert contract.shorten("x" * limit) == "x" * limit
    assert contract.shorten("x" * (limit + 1)) == "x" * limit + f"\u2026 ({limit + 1} characters)"


CONTROL_NAME = "a\x1b[31mb\nc.csv"  # an escape sequence and a line break in the file name


def test_a_file_name_is_printed_escaped(tmp_path):
    good = tmp_path / CONTROL_NAME
    good.write_bytes(BUNDLED.read_bytes())
    result = validate(good)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"OK: {tmp_path}/a\\x1b[31mb\\nc.csv is a valid cohort with 95 patients.\n"
    bad = tmp_path / ("bad" + CONTROL_NAME)
    bad.write_text(edited(sex="x"), encoding="utf-8")
    result = validate(bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr and f"{tmp_path}/bada\\x1b[31mb\\nc.csv, line 2" in result.stderr


def test_a_directory_is_named_as_one(tmp_path):
    folder = tmp_path / "cohort.csv"
    folder.mkdir()
    result = validate(folder)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"{folder}: is a directory, not a file"


@pytest.mark.parametrize("where", [1, 2, 4, 96])
def test_a_quote_never_closed_is_one_line(where, tmp_path):
    """A quote left open reads the rest of the file as one cell: one line names where it opened, no cell shown."""
    lines = edited().split("\n")
    lines[where - 1] = '"' + lines[where - 1] if where < 4 else lines[where - 1].replace(",", ',"', 1)
    path = tmp_path / "open_quote.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = validate(path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert problem_lines(result, path) == [
        f"{path}, line {where}: a quote opened on line {where} is never closed, so the rest of the file reads as "
        'one cell: close it with a second " or remove it'
    ]
    assert len(result.stderr) < 400


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ('a,b\n"x\ny","z\nw', 3),  # a quoted cell over two lines, then one never closed
        ('a,b\n"x\ny",z\n', None),
        ('a,b\nx,"y""', 2),  # "" inside quotes is a quote, not the end
        ('a,b\nx,"y"""\n', None),
        ('a,b\nx,ab"c\n', None),  # a quote inside a cell is text
        ('a,b\r\nx,"y\r\n', 2),
    ],
)
def test_unclosed_quote_follows_the_csv_module(data, line, tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(data.encode())
    assert contract._unclosed_quote(path, "utf-8", "strict", 2) == line  # the last record starts on line 2
    problems = contract.validate(path)
    assert (line is not None) == any("is never closed" in p.rule for p in problems), problems


def test_masked_counts_are_not_pinned_by_their_bounds():
    """Seven causes of death with 1 death each beside 15, 13 and 5 of 40: the seven "<5" add up to 7, and as each
    is at least 1 they would all be 1 (found by an adversarial pass). More counts are masked until none is
    pinned down by the total, the shown counts and what the masks say."""
    counts = [15, 13, 5, 1, 1, 1, 1, 1, 1, 1]
    primary, extra, hide_total = privacy.suppress_line(counts, 5)
    assert primary == [False] * 3 + [True] * 7
    assert any(extra) and not hide_total
    masked = [c for c, p, e in zip(counts, primary, extra) if p or e]
    total_masked = sum(masked)  # what a reader gets from 40 less the shown counts
    n_small, n_star = sum(primary), sum(extra)
    for i, (p, e) in enumerate(zip(primary, extra)):
        if not (p or e):
            continue
        low, high = (1, 4) if p else (5, float("inf"))
        others_low = n_small * 1 + n_star * 5 - low
        others_high = (n_small * 4 if n_star == 0 else float("inf")) - (high if p else 0)
        assert min(high, total_masked - others_low) > max(low, total_masked - others_high), i
    # a line that holds only small counts whose sum pins them all: even masking all cannot help, so the total goes
    assert privacy.suppress_line([1, 1], 5)[2] is True


def _any_pinned(counts, small: dict[int, bool], n: int) -> bool:
    """Whether a reader pins down a masked count of a line: ``small`` maps each masked position to True for a "<N"
    (1 to N-1) and False for a "*" (at least N); together they add up to the total less the shown counts."""
    low = {i: 1 if is_small else n for i, is_small in small.items()}
    high = {i: n - 1 if is_small else float("inf") for i, is_small in small.items()}
    total = sum(counts[i] for i in small)
    for i in small:
        lowest = max(low[i], total - sum(high[k] for k in small if k != i))
        highest = min(high[i], total - sum(low[k] for k in small if k != i))
        if highest <= lowest:
            return True
    return False


def _suppress_line_by_definition(counts, n):
    """Rule 3 as first written (quadratic and more in the line's length): mask the smallest shown non-zero count
    until at least two are masked, they add up to ``n`` or more, and none is pinned down by its bounds."""
    primary = [1 <= c < n for c in counts]
    extra = [False] * len(counts)

    def pinned():
        masked = [i for i in range(len(counts)) if primary[i] or extra[i]]
        return _any_pinned(counts, {i: primary[i] for i in masked}, n)

    if not any(primary):
        return primary, extra, False
    while sum(p or e for p, e in zip(primary, extra)) < 2 or (
        sum(c for c, p, e in zip(counts, primary, extra) if p or e) < n or pinned()
    ):
        left = [i for i in range(len(counts)) if not (primary[i] or extra[i]) and counts[i] > 0]
        if not left:
            return primary, extra, True
        extra[min(left, key=lambda i: (counts[i], i))] = True
    return primary, extra, False


def test_rule_3_masks_what_its_definition_masks():
    """privacy.suppress_line (linear per step: the others' bounds from the line's sums, the candidates sorted once)
    masks exactly what the rule's direct definition masks, on 400 random lines of 1 to 12 counts (many small)."""
    rng = np.random.default_rng(11)
    for _ in range(400):
        counts = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40], size=int(rng.integers(1, 13))).tolist()
        n = int(rng.choice([3, 5, 11]))
        assert privacy.suppress_line(counts, n) == _suppress_line_by_definition(counts, n), (counts, n)


def test_a_header_that_starts_with_par1_is_read_as_csv(tmp_path):
    """Only a file that also ends with Parquet's footer magic is named Parquet: a CSV whose first column is called
    PAR1 is read as a table (an extra column, like any other, is allowed)."""
    lines = BUNDLED.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "par1.csv"
    path.write_text("\n".join(["PAR1," + lines[0]] + ["1," + line for line in lines[1:]]) + "\n", encoding="utf-8")
    result = validate(path)
    assert "Parquet" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert result.returncode == 0 and "valid cohort with 95 patients" in result.stdout


@pytest.mark.parametrize(
    "first", ["<age>", "<age group", "<age>,x</b>", "<a/b"], ids=["tag", "open", "later_close", "slash"]
)
def test_a_header_that_opens_with_an_angle_bracket_is_not_taken_for_xml(tmp_path, first):
    """Only a root element followed by a child tag, its own closing tag, or an empty tag is XML: a first column
    named <age>, even with a closing tag of another name or a '>' in a later value, is a CSV header."""
    lines = BUNDLED.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "angle.csv"
    body = ["1," + line for line in lines[1:]]
    body[3] = ">14," + lines[4]  # a '>' further down, as in a value like '>14'
    path.write_text("\n".join([f"{first}," + lines[0]] + body) + "\n", encoding="utf-8")
    from hsct_analysis.cohort.contract import file_kind

    assert file_kind(path) == "utf-8"


@pytest.mark.parametrize(
    "data",
    [b"<cohort/>", b"<cohort>SYN0001</cohort>", b'<ns:cohort a="1"\n  b="2">\n  <patient/>\n</ns:cohort>'],
    ids=["empty", "text", "child"],
)
def test_xml_without_a_prolog_is_named(tmp_path, data):
    from hsct_analysis.cohort.contract import NotATable, file_kind

    path = tmp_path / "cohort.csv"
    path.write_bytes(data)
    with pytest.raises(NotATable, match="XML or HTML"):
        file_kind(path)


def _line_is_safe(values: list[float], texts: list, n: int) -> bool:
    """What a reader knows of one line whose total is shown: each "<N" is 1 to N-1, each "*" at least N, and the
    masked ones add up to the total less the shown. Safe when no masked count is pinned to one value, and a lone
    masked count does not occur."""
    masked = [i for i, t in enumerate(texts) if isinstance(t, str)]
    if not masked:
        return True
    return len(masked) > 1 and not _any_pinned(values, {i: texts[i] == f"<{n}" for i in masked}, n)


def test_a_table_revisited_reads_a_star_as_at_least_n():
    """A row masked for its "<5" and then revisited read its "*" as another "<5": the shipped bmt example's platelet
    engraftment (120 engrafted, 16 died first, 1 censored, of 137) lost every count and its estimates, although
    "*" >= 5 leaves 1-4 censored and 13-16 deaths: nothing is pinned."""
    table = pd.DataFrame({"patients": [137], "events": [120], "competing": [16], "censored": [1]})
    shown = privacy.suppress_table(table, 5, ["events", "competing", "censored"], "patients")
    assert shown.iloc[0].tolist() == [137, 120, "*", "<5"]


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_are_safe_by_rows_and_columns(seed):
    rng = np.random.default_rng(seed)
    parts = ["a", "b", "c"]
    for _ in range(60):
        counts = rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 15, 40], size=(int(rng.integers(2, 6)), 3))
        table = pd.DataFrame(counts, columns=parts)
        table.insert(0, "n", table.sum(axis=1))
        columns = bool(rng.integers(0, 2))
        shown = privacy.suppress_table(table, 5, parts, "n", column_totals=columns)
        for r in range(len(table)):
            if not isinstance(shown["n"].iloc[r], str):
                assert _line_is_safe(table.loc[r, parts].tolist(), shown.loc[r, parts].tolist(), 5), (table, shown)
        for column in parts + ["n"] if columns else []:
            values, texts = table[column].tolist(), shown[column].tolist()
            if all(isinstance(t, str) for v, t in zip(values, texts) if v):  # nothing left to mask in this table:
                continue  # the column's total, shown elsewhere, is what must be masked there
            if 0 < table[column].sum() < 5:  # the column's total is itself small: masked wherever it is shown
                continue
            assert _line_is_safe(values, texts, 5), (column, table, shown)
