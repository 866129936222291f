"""The fast reader of ``validate`` (pandas' C parser, cells as categories) finds exactly what the detailed
line-by-line reader finds: the same problems, in the same order, with the same file, line, patient, column,
rule and value; and it leaves every file it cannot read exactly to the detailed reader."""

from __future__ import annotations

import csv
import random
import re
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


def quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


def r_write_csv(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines R's ``write.csv(df, na = "")`` writes: a first column of quoted row names under the name ``""``,
    every name and every cell of a text column quoted (``""`` when empty), numeric columns bare."""
    numeric = [all(not r[j] or NUMBER.fullmatch(r[j]) for r in rows) for j in range(len(header))]
    lines = ['"",' + ",".join(map(quote, header))]
    for i, r in enumerate(rows, start=1):
        lines.append(quote(str(i)) + "," + ",".join(c if numeric[j] else quote(c) for j, c in enumerate(r)))
    return lines


def excel_csv(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines Excel's "CSV UTF-8" writes: only cells holding a comma, a quote or a line break are quoted."""

    def cell(c: str) -> str:
        return quote(c) if any(ch in c for ch in ',"\n') else c

    return [",".join(map(cell, r)) for r in [header, *rows]]


NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def write(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    newline: str = "\n",
    bom: bool = False,
    blank_lines: tuple[int, ...] = (),
    style: str = "plain",
) -> Path:
    """Write ``rows`` as CSV: ``plain`` (no quote), ``r`` (as R's write.csv) or ``excel`` (as Excel's CSV)."""
    lines = {"plain": lambda h, r: [",".join(x) for x in [h, *r]], "r": r_write_csv, "excel": excel_csv}[style](
        header, rows
    )
    width = len(header) + (style == "r")  # R adds a column of row names
    for at in sorted(blank_lines, reverse=True):
        lines.insert(at, "" if at % 2 else "   ")
    empty = '""' if style == "r" else ""
    lines.insert(len(lines) // 2, ",".join([empty] * width))  # a row of empty cells: skipped
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode("utf-8"))
    return path


def both_readers(path: Path, monkeypatch) -> tuple[tuple[int, list], tuple[int, list]]:
    fast = contract.check_for_book(path)
    with monkeypatch.context() as m:
        m.setattr(contract, "_plain_layout", lambda *_: None)  # the detailed reader, line by line
        detailed = contract.check_for_book(path)
    return fast, detailed


#: Values only a quoted cell can hold (a comma, a quote), each invalid where it is put, and free-text notes.
QUOTED_INJECTIONS = [
    ("sex", "male, female"),  # not a category
    ("cause_of_death", 'said "relapse"'),  # not a category
    ("fusion_gene", "BCR::ABL1, p190"),  # not a fusion gene
    ("followup_days", '"120"'),  # not a number
    ("patient_id", 'P1,"2"'),  # not a pseudonymous id
]
NOTES = ["", "moved abroad, followed by phone", 'said "fine", twice', '"', ",", "plain note"]


#: Free-text notes over several lines, as Excel writes a cell typed with Alt+Enter (a line feed, also in a CRLF
#: file), or a CRLF typed in another program; each is a control character, reported once per cell.
MULTILINE_NOTES = ["", "first line\nsecond line", "plain note", 'a,\n\n"b"\n', "x\r\ny", "", "", "", "", ""]

#: Control and invisible characters put in cells (value, column): each is reported, then removed.
CONTROL_INJECTIONS = [
    ("fusion_gene", "BCR::ABL1\u200b"),  # zero-width space: valid once removed
    ("sex", "ma\x0ble"),  # vertical tab: valid once removed
    ("patient_id", "\u202eP9"),  # bidi override in an id: shown escaped
    ("followup_days", "12\t"),  # tab
    ("age_first_hsct", "x\x7f"),  # DEL, then not a number
    ("cause_of_death", "\x85"),  # C1 control only: empty once removed
]


def with_quoted_values(
    header: list[str], rows: list[list[str]], seed: int = 7, notes: list[str] = NOTES
) -> tuple[list[str], int]:
    """Add a free-text ``notes`` column (not in the contract: ignored) and the quoted-only injections."""
    rng = random.Random(seed)
    at = {name: i for i, name in enumerate(header)}
    for k, row in enumerate(rows):
        row.append(notes[k % len(notes)])
    made = 0
    for column, value in QUOTED_INJECTIONS:
        for _ in range(3):
            rows[rng.randrange(10, len(rows))][at[column]] = value
            made += 1
    return [*header, "notes"], made


def with_control_characters(header: list[str], rows: list[list[str]], seed: int = 11) -> int:
    rng = random.Random(seed)
    at = {name: i for i, name in enumerate(header)}
    for column, value in CONTROL_INJECTIONS:
        for _ in range(3):
            rows[rng.randrange(10, len(rows))][at[column]] = value
    return 3 * len(CONTROL_INJECTIONS)


@pytest.mark.slow  # runs the whole pipeline several times (seconds each)
@pytest.mark.parametrize(
    "variant",
    [
        "lf",
        "crlf-bom-blank-lines",
        "r-write-csv",
        "excel-crlf-bom-blank-lines",
        "excel-multiline",
        "excel-crlf-bom-blank-lines-multiline",
        "r-multiline-control",
        "lf-control",
    ],
)
def test_fast_and_detailed_readers_give_the_same_messages(variant, tmp_path, monkeypatch):
    # small chunks, different in each reader, so that duplicates and rules meet chunk boundaries
    monkeypatch.setattr(contract, "FAST_CHUNK_ROWS", 3_001)
    monkeypatch.setattr(contract, "CHUNK_ROWS", 7_000)
    header, rows, made = large_cohort(20_000)
    options = {}
    if "crlf" in variant:
        options = {"newline": "\r\n", "bom": True, "blank_lines": (5, 6, 9_000, 15_001)}
    if variant.startswith(("r-", "excel-")):
        header, more = with_quoted_values(header, rows, notes=MULTILINE_NOTES if "multiline" in variant else NOTES)
        made += more
        options["style"] = variant.split("-")[0]
    if "control" in variant:
        made += with_control_characters(header, rows)
    path = write(tmp_path / "large.csv", header, rows, **options)
    if variant.startswith(("r-", "excel-")):
        assert path.read_bytes().count(b'"') > (100_000 if variant.startswith("r-") else 3_000)
    if "multiline" in variant:  # 2,000 cells over two lines or more
        assert path.read_bytes().count(b"\n") > 24_000
    assert takes_the_fast_path(path, "utf-8-sig" if "bom" in variant else "utf-8")
    (n_fast, fast), (n_detailed, detailed) = both_readers(path, monkeypatch)
    assert n_fast == n_detailed == 20_000
    assert fast == detailed
    assert len(fast) >= made  # every injected cell is reported (some break two rules)
    lines = {p.line for p in fast}
    assert len(lines) >= 40 and all(p.line and p.patient_id and p.column for p in fast)
    assert [p.line for p in fast] == sorted(p.line for p in fast)
    duplicate = [p for p in fast if "duplicate" in p.rule]
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    first = text[: text.index("P0000003")].count("\n") + 1  # 5, unless cells before it span several lines
    assert first == 5 or "multiline" in variant
    assert duplicate and all(
        p.rule == f"is a duplicate patient_id (first on line {first})" for p in duplicate if p.value == "P0000003"
    )
    if "multiline" in variant:  # a note over several lines is reported on its record's first line
        notes = [p for p in fast if p.column == "notes"]
        assert len(notes) == 3 * 2_000 and all(p.rule.startswith("contains U+000") for p in notes)
        for p in notes[:200]:  # the first line of the record: the line of its id (ids are unique but P0000003)
            assert p.patient_id == "P0000003" or p.line == text[: text.index(p.patient_id)].count("\n") + 1
        assert notes[-1].line > 20_000 + 3 * 2_000  # lines inside quotes counted
    if "control" in variant:
        controls = [p for p in fast if p.rule.endswith(CONTROL) and p.column != "notes"]
        assert len(controls) == 3 * len(CONTROL_INJECTIONS)
    if variant.startswith(("r-", "excel-")):  # a quoted value is reported unquoted, commas and quotes kept
        assert {v for _, v in QUOTED_INJECTIONS} <= {p.value for p in fast}


def r_style(text: str) -> str:
    rows = list(csv.reader(text.splitlines()))
    return "\n".join(r_write_csv(rows[0], rows[1:])) + "\n"


def quoted_header(text: str) -> str:
    first, rest = text.split("\n", 1)
    return ",".join(map(quote, first.split(","))) + "\n" + rest


def blank_quoted_line(text: str) -> str:
    return ",".join(['""'] * (text.split("\n", 1)[0].count(",") + 1)) + "\n" + text


def edited(edit, tmp_path: Path) -> tuple[Path, str]:
    """The bundled cohort edited, written to a file; and the encoding ``validate`` reads it with."""
    path = tmp_path / "edited.csv"
    path.write_bytes(edit(BUNDLED.read_text(encoding="utf-8")).encode("utf-8"))
    kind, fatal = contract._sniff(path, str(path))
    assert kind in ("utf-8", "utf-8-sig") and not fatal
    return path, kind


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("negative", '"negative"', 1), id="quoted cell"),
        pytest.param(lambda t: t.replace("negative", '"neg,ative"', 1), id="quoted comma"),
        pytest.param(lambda t: t.replace("negative", '"neg""ative"', 1), id="escaped quote"),
        pytest.param(lambda t: t.replace("negative", '""""', 1), id="only a quote"),
        pytest.param(lambda t: t.replace(",,", ',"",', 1), id="quoted empty cell"),
        pytest.param(lambda t: t.replace("negative", '" negative "', 1), id="quoted spaces"),
        pytest.param(lambda t: t.replace(",\n", ',""\n', 1), id="quoted last cell"),
        pytest.param(lambda t: t.rstrip("\n") + '""', id="quoted last cell without line break"),
        pytest.param(quoted_header, id="quoted header"),
        pytest.param(lambda t: "\ufeff" + quoted_header(t).replace("\n", "\r\n"), id="quoted header, BOM, CRLF"),
        pytest.param(r_style, id="R write.csv"),
        pytest.param(lambda t: r_style(t).replace('"SYN0002"', '"SYN""0002"', 1), id="invalid quoted id"),
        pytest.param(lambda t: t + '","' + "," * t.split("\n", 1)[0].count(",") + "\n", id="row of a quoted comma"),
    ],
)
def test_standard_quotes_take_the_fast_path(edit, tmp_path, monkeypatch):
    path, kind = edited(edit, tmp_path)
    assert contract._plain_layout(path, kind) is not None
    fast, detailed = both_readers(path, monkeypatch)
    assert fast == detailed


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("SYN0002", "SYN\x000002", 1), id="control character"),
        pytest.param(lambda t: t.replace("\n", "\r", 3), id="bare carriage return"),
        pytest.param(lambda t: t.replace("SYN0003,", "SYN0003,extra,", 1), id="row too long"),
        pytest.param(lambda t: t.replace("SYN0004,", "", 1).replace(",,,,,\n", ",,,,\n", 1), id="row too short"),
        pytest.param(lambda t: "\n" + t, id="blank first line"),
        pytest.param(lambda t: t + ", ,\n", id="short row of blanks"),
        pytest.param(lambda t: t.replace("negative", 'neg"ative', 1), id="quote mid-cell"),
        pytest.param(lambda t: t.replace("negative", '"neg"ative', 1), id="text after closing quote"),
        pytest.param(lambda t: t.replace(",negative", ', "negative"', 1), id="space before opening quote"),
        pytest.param(lambda t: t.replace("negative,", '"negative" ,', 1), id="space after closing quote"),
        pytest.param(lambda t: t.replace("negative", '"nega\rtive"', 1), id="quoted bare carriage return"),
        pytest.param(lambda t: t.replace("negative", '"nega\r\r\ntive"', 1), id="quoted CR before CRLF"),
        pytest.param(lambda t: t.replace("negative", '"neg\x00ative"', 1), id="quoted NUL"),
        pytest.param(lambda t: t.replace("patient_id", "patient\x0b_id", 1), id="control character in the header"),
        pytest.param(lambda t: t.replace("patient_id", "patient\u200b_id", 1), id="zero-width space in the header"),
        pytest.param(lambda t: t.replace("patient_id", '"patient\n_id"', 1), id="header over two lines"),
        pytest.param(lambda t: t.replace("sex", '"s\nex"', 1), id="quoted line break in the header"),
        pytest.param(lambda t: t.rstrip("\n") + '"', id="quote left open at the end"),
        pytest.param(lambda t: t.replace("negative", '"negative', 1), id="quote left open in a row"),
        pytest.param(lambda t: t.replace("patient_id", 'patient"_id', 1), id="quote mid-name in the header"),
        pytest.param(blank_quoted_line, id="quoted blank first line"),
        pytest.param(lambda t: t.replace("\n", ";" * 60 + "\n", 1), id="more semicolons than commas in the header"),
        pytest.param(
            lambda t: t.replace("gvhd_death_trigger\n", '"gvhd_death_trigger' + ";" * 60 + '"\n', 1),
            id="quoted semicolons in the header",
        ),
        pytest.param(lambda t: "\ufeff" + t.replace("negative", ' "negative"', 1), id="BOM, space before quote"),
    ],
)
def test_files_the_fast_reader_cannot_read_exactly_go_to_the_detailed_one(edit, tmp_path, monkeypatch):
    path, kind = edited(edit, tmp_path)
    assert contract._plain_layout(path, kind) is None
    fast, detailed = both_readers(path, monkeypatch)
    assert fast == detailed


#: The line of the bundled cohort's first "negative" cell (the edits below put a line break or control there).
FIRST_NEGATIVE = BUNDLED.read_text(encoding="utf-8").split("negative", 1)[0].count("\n") + 1


def in_row(text: str, patient: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` in patient ``patient``'s row replaced by ``new``: an edit that does not
    depend on which values the bundled cohort holds in which row."""
    start = text.index("\n" + patient + ",") + 1
    end = text.index("\n", start)
    return text[:start] + text[start:end].replace(old, new, 1) + text[end:]


def takes_the_fast_path(path: Path, kind: str) -> bool:
    """Whether both fast passes read the file (neither hands it to the detailed reader)."""
    layout = contract._plain_layout(path, kind)
    return layout is not None and contract._fast_scan(path, kind, str(path), *layout) is not None


CONTROL = "a control or invisible character: remove it"


@pytest.mark.parametrize(
    "edit, where",
    [
        pytest.param(
            lambda t: t.replace("negative", '"nega\ntive"', 1),
            [(FIRST_NEGATIVE, "U+000A")],
            id="quoted cell over two lines",
        ),
        pytest.param(
            lambda t: t.replace("negative", '"nega\r\ntive"', 1), [(FIRST_NEGATIVE, "U+000D")], id="quoted CRLF"
        ),
        pytest.param(
            lambda t: in_row(
                in_row(t.replace("\n", "\r\n"), "SYN0001", "SYN0001", '"SYN\r\n\r\n00\r\n01"'),
                "SYN0002",
                "SYN0002",
                '"SYN\r\n\r\n00\r\n02"',
            ),
            [(2, "U+000D"), (6, "U+000D")],
            id="CRLF file, cells over four lines",
        ),
        pytest.param(
            lambda t: t.replace("negative", '"nega\n\n  \ntive"', 1).replace("CR1", "CR9", 3),
            [(FIRST_NEGATIVE, "U+000A")],
            id="blank lines inside quotes, errors after",
        ),
        pytest.param(lambda t: t.replace("SYN0002", '"SYN\n0002"', 1), [(3, "U+000A")], id="id over two lines"),
        pytest.param(
            lambda t: t.replace("SYN0002", '"SYN0001\n"', 1), [(3, "U+000A")], id="duplicate id with line break"
        ),
        pytest.param(lambda t: t.rstrip("\n") + '"a\nb"', [(96, "U+000A")], id="last cell over two lines, no end"),
        pytest.param(lambda t: t.replace("SYN0002", "SYN\u202e0002", 1), [(3, "U+202E")], id="bidi override"),
        pytest.param(lambda t: t.replace("SYN0002", "\u200bSYN0002", 1), [(3, "U+200B")], id="zero-width space"),
        pytest.param(
            lambda t: t.replace("SYN0002,", "SYN0002,\ufeff", 1), [(3, "U+FEFF")], id="byte-order mark in a cell"
        ),
        pytest.param(
            lambda t: in_row(
                in_row(in_row(t, "SYN0001", "SYN0001", "SYN\t0001"), "SYN0002", "male,", "ma\tle,"),
                "SYN0002",
                "SYN0002",
                "SYN\t0002",
            ),
            [(2, "U+0009"), (3, "U+0009"), (3, "U+0009")],
            id="tabs",
        ),
        pytest.param(lambda t: t.replace("male", "ma\x0ble", 1), [(2, "U+000B")], id="vertical tab"),
        pytest.param(lambda t: t.replace("male", "male\x7f", 1), [(2, "U+007F")], id="delete"),
        pytest.param(lambda t: t.replace("male", "\x85male\x1f", 1), [(2, "U+0085")], id="C1 control"),
        pytest.param(
            lambda t: t.replace("SYN0003,", "SYN\x1b0003,\x01", 1), [(4, "U+001B"), (4, "U+0001")], id="two in a row"
        ),
        pytest.param(lambda t: t.replace("1.5", "\x0c1.5x", 1), [(None, "U+000C")], id="control and a bad number"),
        pytest.param(
            lambda t: t + ",".join(["\x0c"] + [" "] * (t.split("\n", 1)[0].count(",") - 1) + ['"\n"']) + "\n",
            [(97, "U+000C"), (97, "U+000A")],
            id="row of controls only",
        ),
    ],
)
def test_line_breaks_and_control_characters_in_cells_take_the_fast_path(edit, where, tmp_path, monkeypatch):
    """A cell holding a line break (inside quotes) or another control character is reported cell by cell, on the
    record's first line, then read without it: by the fast reader exactly as by the detailed one."""
    path, kind = edited(edit, tmp_path)
    assert takes_the_fast_path(path, kind)
    fast, detailed = both_readers(path, monkeypatch)
    assert fast == detailed
    control = [p for p in fast[1] if p.rule.endswith(CONTROL)]
    assert [p.rule.split(" ")[1] for p in control] == [u for _, u in where]
    assert [p.line for p in control] == [line or p.line for (line, _), p in zip(where, control)]
    assert all(p.column and not contract.CONTROL_CHARACTERS.search(p.value) for p in control)
    assert [p.line for p in fast[1]] == sorted(p.line for p in fast[1])


def test_quotes_at_block_boundaries(tmp_path, monkeypatch):
    """Quotes checked across the blocks :func:`_plain_layout` reads: an escaped quote, a closing quote and the
    comma after it, split between two blocks, wherever the split falls."""
    text = r_style(BUNDLED.read_text(encoding="utf-8"))
    for k in (1, 2, 3):  # the sex cell of the first three rows, whatever it holds
        text = re.sub(
            rf'^("\d+","SYN000{k}",)"[a-z]+",', lambda m: m.group(1) + '"neg, ""x""",', text, count=1, flags=re.M
        )
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode("utf-8"))
    header_bytes = text.index("\n") + 1
    assert text.index('"neg, ') < header_bytes + 40  # the splits fall around the first edited cell
    whole = contract._plain_layout(path, "utf-8")
    assert whole is not None
    for size in range(header_bytes, header_bytes + 60):
        monkeypatch.setattr(contract, "LAYOUT_BLOCK_BYTES", size)
        got = contract._plain_layout(path, "utf-8")
        assert got is not None and got[0] == whole[0] and got[1].tolist() == whole[1].tolist()
    bad = tmp_path / "bad.csv"
    for wrong in (',"neg, ""x""" ,', ',x"neg, ""x""",'):  # text after the closing quote, before the opening one
        assert text.count(',"neg, ""x""",') == 3
        bad.write_bytes(text.replace(',"neg, ""x""",', wrong, 1).encode("utf-8"))
        for size in range(header_bytes, header_bytes + 60):
            monkeypatch.setattr(contract, "LAYOUT_BLOCK_BYTES", size)
            assert contract._plain_layout(bad, "utf-8") is None


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
