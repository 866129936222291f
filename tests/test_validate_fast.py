"""The fast reader of ``validate`` (pandas' C parser, cells as categories) finds exactly what the detailed
line-by-line reader finds: the same problems, in the same order, with the same file, line, patient, column,
rule and value; and it leaves every file it cannot read exactly to the detailed reader."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

from hsct_analysis.cohort import contract

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "cohort.csv"


def bundled_rows() -> tuple[list[str], list[list[str]]]:
    with BUNDLED.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def large_cohort(n_rows: int, seed: int = 13) -> tuple[list[str], list[list[str]], int]:
    """``n_rows`` patients (the bundled ones repeated, ids made unique) with errors injected in a few rows;
    returns the header, the rows and how many cells were made wrong."""
    header, body = bundled_rows()
    at = {name: i for i, name in enumerate(header)}
    rows = []
    for k in range(n_rows):
        row = list(body[k % len(body)])
        row[at["patient_id"]] = f"P{k:07d}"
        rows.append(row)
    rng = random.Random(seed)
    injections = [
        ("followup_days", "12x"),  # not a number
        ("followup_days", "40000"),  # above the range
        ("followup_days", "1e20"),  # far above it
        ("followup_days", "-3"),  # negative
        ("followup_days", "inf"),  # not finite
        ("followup_days", " 120.5 "),  # not whole days, padded
        ("age_first_hsct", ""),  # required, empty
        ("sex", "Female"),  # wrong case: a hint
        ("sex", "other"),  # not a category
        ("dead", "2"),  # not one of 0|1
        ("fusion_gene", "unknown"),  # not a fusion gene
        ("patient_id", "has space"),  # not a pseudonymous id
        ("patient_id", "P0000003"),  # a duplicate of an early row
        ("relapse_days", "99999"),  # out of range and after follow-up
        ("cause_of_death", "relapse"),  # given while alive, or without a relapse day
        ("crs_grade", "0"),  # against crs_after_cart
        ("agvhd_3_4_days", "1"),  # before or without grade 2-4
        ("age_second_hsct", "0.5"),  # before the first transplant
    ]
    made = 0
    for column, value in injections:
        for _ in range(3):
            rows[rng.randrange(10, n_rows)][at[column]] = value
            made += 1
    return header, rows, made


def write(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    newline: str = "\n",
    bom: bool = False,
    blank_lines: tuple[int, ...] = (),
) -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    for at in sorted(blank_lines, reverse=True):
        lines.insert(at, "" if at % 2 else "   ")
    lines.insert(len(lines) // 2, "," * (len(header) - 1))  # a row of empty cells: skipped
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode("utf-8"))
    return path


def both_readers(path: Path, monkeypatch) -> tuple[tuple[int, list], tuple[int, list]]:
    fast = contract.check_for_book(path)
    with monkeypatch.context() as m:
        m.setattr(contract, "_plain_layout", lambda *_: None)  # the detailed reader, line by line
        detailed = contract.check_for_book(path)
    return fast, detailed


@pytest.mark.slow  # runs the whole pipeline several times (seconds each)
@pytest.mark.parametrize("variant", ["lf", "crlf-bom-blank-lines"])
def test_fast_and_detailed_readers_give_the_same_messages(variant, tmp_path, monkeypatch):
    # small chunks, different in each reader, so that duplicates and rules meet chunk boundaries
    monkeypatch.setattr(contract, "FAST_CHUNK_ROWS", 3_001)
    monkeypatch.setattr(contract, "CHUNK_ROWS", 7_000)
    header, rows, made = large_cohort(20_000)
    options = {} if variant == "lf" else {"newline": "\r\n", "bom": True, "blank_lines": (5, 6, 9_000, 15_001)}
    path = write(tmp_path / "large.csv", header, rows, **options)
    assert contract._plain_layout(path, "utf-8-sig" if options else "utf-8") is not None  # the fast path is taken
    (n_fast, fast), (n_detailed, detailed) = both_readers(path, monkeypatch)
    assert n_fast == n_detailed == 20_000
    assert fast == detailed
    assert len(fast) >= made  # every injected cell is reported (some break two rules)
    lines = {p.line for p in fast}
    assert len(lines) >= 40 and all(p.line and p.patient_id and p.column for p in fast)
    assert [p.line for p in fast] == sorted(p.line for p in fast)
    duplicate = [p for p in fast if "duplicate" in p.rule]
    assert duplicate and all(
        p.rule == "is a duplicate patient_id (first on line 5)" for p in duplicate if p.value == "P0000003"
    )


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("negative", '"negative"', 1), id="quoted cell"),
        pytest.param(lambda t: t.replace("SYN0002", "SYN\x000002", 1), id="control character"),
        pytest.param(lambda t: t.replace("SYN0002", "SYN\u202e0002", 1), id="bidi override"),
        pytest.param(lambda t: t.replace("\n", "\r", 3), id="bare carriage return"),
        pytest.param(lambda t: t.replace("SYN0003,", "SYN0003,extra,", 1), id="row too long"),
        pytest.param(lambda t: t.replace("SYN0004,", "", 1).replace(",,,,,\n", ",,,,\n", 1), id="row too short"),
        pytest.param(lambda t: "\n" + t, id="blank first line"),
        pytest.param(lambda t: t + ", ,\n", id="short row of blanks"),
    ],
)
def test_files_the_fast_reader_cannot_read_exactly_go_to_the_detailed_one(edit, tmp_path, monkeypatch):
    path = tmp_path / "odd.csv"
    path.write_bytes(edit(BUNDLED.read_text(encoding="utf-8")).encode("utf-8"))
    assert contract._plain_layout(path, "utf-8") is None
    fast, detailed = both_readers(path, monkeypatch)
    assert fast == detailed


def test_the_bundled_cohort_takes_the_fast_path_and_is_valid():
    assert contract._plain_layout(BUNDLED, "utf-8") is not None
    assert contract.check_for_book(BUNDLED) == (95, [])


def test_a_plain_file_is_parsed_once(monkeypatch):
    """One pass of pandas' C parser over the file, and no second reading by the csv module."""
    calls = {"read_csv": 0, "csv.reader": 0}
    read_csv, reader = contract.pd.read_csv, contract.csv.reader

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(contract.pd, "read_csv", counted("read_csv", read_csv))
    monkeypatch.setattr(contract.csv, "reader", counted("csv.reader", reader))
    assert contract.check_for_book(BUNDLED) == (95, [])
    assert calls == {"read_csv": 1, "csv.reader": 0}
