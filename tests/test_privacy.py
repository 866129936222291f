"""Privacy of a book built on a user's cohort: no patient id, no per-patient listing, small cells masked.

The cohort is ``tests/data/own/small_n30.csv`` (30 patients whose ids are the recognisable ``ZQXPATIENT0001``...),
copied under a recognisable folder name. The book is built once with ``hsct-book build --min-cell 5``; then
EVERY .html, .js, .ipynb, .txt and .json file of the output (and the executed-chapter cache) is scanned for the ids
and for the folder holding the CSV, and the count tables are checked for counts of 1-4 shown as "n (%)".
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hsct_analysis import baseline, build
from hsct_analysis.cohort import load_cohort

ROOT = build.PROJECT_ROOT
SOURCE = Path(__file__).resolve().parent / "data" / "own" / "small_n30.csv"
HSCT_BOOK = Path(sys.executable).with_name("hsct-book")
MIN_CELL = 5
SCANNED = {".html", ".js", ".ipynb", ".txt", ".json"}
SMALL_N_PERCENT = re.compile(r"^\s*[1-4] \(\d+(?:\.\d+)?%\)\s*$")  # "3 (10.0%)": a count of 1-4 shown
BELOW_MIN_CELL = re.compile(r"^\s*[0-4] \(\d+(?:\.\d+)?%\)\s*$")  # 0-4: what min_cell=5 masks


@pytest.fixture(scope="module")
def private_book(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("zqxsecretfolder")
    cohort = folder / "small_n30.csv"
    shutil.copyfile(SOURCE, cohort)
    out = tmp_path_factory.mktemp("shared") / "html"
    result = subprocess.run([str(HSCT_BOOK), "build", "--cohort", str(cohort), "--out", str(out),
                             "--min-cell", str(MIN_CELL), "--jobs", "2"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    ids = list(load_cohort(cohort)["patient_id"])
    return {"out": out, "ids": ids, "folder": str(folder), "stdout": result.stdout + result.stderr}


def scanned_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SCANNED)


def table_cells(html: str) -> list[str]:
    """Text of every table cell of an HTML page."""
    cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", html, re.S)
    return [re.sub(r"<[^>]+>", "", c).replace("&lt;", "<").strip() for c in cells]


def test_ids_are_recognisable():
    ids = list(pd.read_csv(SOURCE, dtype=str)["patient_id"])
    assert len(ids) == 30 and all(re.fullmatch(r"ZQXPATIENT\d{4}", i) for i in ids)


def test_no_patient_id_in_any_output_file(private_book):
    files = scanned_files(private_book["out"])
    assert len(files) >= 40  # pages, sources, search index, scripts
    assert {p.suffix for p in files} >= {".html", ".js", ".ipynb", ".txt"}
    leaks = {p.relative_to(private_book["out"]).as_posix() for p in files
             for text in [p.read_text(encoding="utf-8", errors="replace")] if "ZQXPATIENT" in text}
    assert leaks == set()
    for pid in private_book["ids"]:  # each full id, also in any other casing
        assert not any(pid.lower() in p.read_text(encoding="utf-8", errors="replace").lower() for p in files)
    assert "ZQXPATIENT" not in private_book["stdout"]


def test_no_id_in_the_executed_chapter_cache(private_book):
    cached = sorted((ROOT / ".cache" / "executed").glob("*.ipynb"))
    assert cached
    assert [p.name for p in cached if "ZQXPATIENT" in p.read_text(encoding="utf-8", errors="replace")] == []


def test_the_folder_of_the_csv_is_not_written(private_book):
    files = scanned_files(private_book["out"])
    assert [p.name for p in files if private_book["folder"] in p.read_text(encoding="utf-8", errors="replace")] == []
    assert [p.name for p in files if "zqxsecretfolder" in p.read_text(encoding="utf-8", errors="replace")] == []


def test_no_table_lists_patients(private_book):
    """No table of any page has one row per patient (30 body rows, with or without ids)."""
    sizes = []
    for page in (private_book["out"] / "book").rglob("*.html"):
        for table in re.findall(r"<table\b.*?</table>", page.read_text(encoding="utf-8"), re.S):
            body = re.search(r"<tbody\b.*?</tbody>", table, re.S)
            sizes.append((page.name, len(re.findall(r"<tr\b", body[0] if body else table))))
    assert len(sizes) >= 20
    assert [(name, rows) for name, rows in sizes if rows == len(private_book["ids"])] == []


def test_small_counts_are_masked_in_the_cohort_tables(private_book):
    html = (private_book["out"] / "book" / "01_cohort.html").read_text(encoding="utf-8")
    cells = table_cells(html)
    cohort = load_cohort(SOURCE)
    unmasked = [baseline.characteristics_table(cohort, rows) for rows in (baseline.TABLE1_ROWS, baseline.TABLE2_ROWS)]
    small = sum(int(t.iloc[:, 0].astype(str).str.match(BELOW_MIN_CELL).sum()) for t in unmasked)
    assert small >= 10  # 30 patients: many levels hold 0-4 of them
    assert [c for c in cells if SMALL_N_PERCENT.match(c)] == []
    assert cells.count(f"<{MIN_CELL}") == small  # every small count became the marker, nothing else did


def test_no_small_n_percent_on_any_page(private_book):
    pages = sorted((private_book["out"] / "book").rglob("*.html"))
    shown = {p.name: [c for c in table_cells(p.read_text(encoding="utf-8")) if SMALL_N_PERCENT.match(c)] for p in pages}
    assert {name: cells for name, cells in shown.items() if cells} == {}
    deaths = table_cells((private_book["out"] / "book" / "04_infections_deaths.html").read_text(encoding="utf-8"))
    causes = load_cohort(SOURCE)["cause_of_death"].dropna().astype(str).value_counts()  # causes that occur
    assert (causes < MIN_CELL).sum() >= 1 and deaths.count(f"<{MIN_CELL}") >= int((causes < MIN_CELL).sum())
