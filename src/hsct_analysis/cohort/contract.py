"""The cohort data contract: read, validate and type one CSV row per patient, add endpoints.

The contract lives in one file, ``dictionary.csv``, shipped inside this package (read with
:func:`read_dictionary`; it is the only copy, and the book renders it). Each row names a
column, whether it is required, its type (string, category, integer, number), its unit,
its allowed values (``a|b|c``, ``lo-hi``, ``>=0``, ``unique``), what an empty cell means
(``if_empty``; ``error`` when a value is required), a one-sentence meaning and the endpoint
or table that uses it. The validator reads its per-column rules from that file; the rules
that tie two columns together are small functions below (``_CROSS_RULES``).

All times are whole days. Outcome days count from the second transplant (day 0 = stem-cell
infusion); an outcome cell is empty when the event did not happen.

Public API: :func:`load_cohort`, :func:`load_cohort_frame`, :func:`validate`,
:func:`validate_frame`, :func:`write_template`, :class:`Problem`, :class:`CohortError`,
``REQUIRED_COLUMNS``, ``OPTIONAL_COLUMNS``, ``DERIVED_COLUMNS``, ``ENDPOINT_DAY_COLUMNS``.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import functools
import itertools
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from hsct_analysis.cohort import standard_endpoints

# --------------------------------------------------------------------------------------
# The dictionary (single source of truth)
# --------------------------------------------------------------------------------------

DICTIONARY_FILE = "dictionary.csv"


def dictionary_path() -> Path:
    """Path of the packaged ``dictionary.csv`` (importlib.resources)."""
    return Path(str(resources.files("hsct_analysis.cohort").joinpath(DICTIONARY_FILE)))


def read_dictionary() -> pd.DataFrame:
    """The data dictionary, one row per column (contract and derived), all fields as text."""
    with resources.files("hsct_analysis.cohort").joinpath(DICTIONARY_FILE).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


@dataclass(frozen=True)
class Column:
    """One dictionary row: how a column is checked and typed."""

    name: str
    required: str  # "yes", "no" or "derived"
    type: str  # "string", "category", "integer" or "number"
    unit: str
    allowed: str
    if_empty: str

    @property
    def empty_allowed(self) -> bool:
        return self.if_empty != "error"

    @property
    def choices(self) -> list[str]:
        """Allowed values of a category column, in dictionary order."""
        return self.allowed.split("|") if self.type == "category" else []

    @property
    def is_days(self) -> bool:
        return self.unit == "days"


def _columns_from(dictionary: pd.DataFrame) -> dict[str, Column]:
    fields = ["name", "required", "type", "unit", "allowed", "if_empty"]
    return {row["name"]: Column(*(row[f] for f in fields)) for _, row in dictionary.iterrows()}


COLUMNS: dict[str, Column] = _columns_from(read_dictionary())
REQUIRED_COLUMNS: tuple[str, ...] = tuple(n for n, c in COLUMNS.items() if c.required == "yes")
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(n for n, c in COLUMNS.items() if c.required == "no")
DERIVED_COLUMNS: tuple[str, ...] = tuple(n for n, c in COLUMNS.items() if c.required == "derived")
CONTRACT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Competing-risk endpoints derived from one ``*_days`` event column (name -> days column).
#: These columns may be absent or entirely empty: the endpoint is then "not recorded".
ENDPOINT_DAY_COLUMNS: dict[str, str] = {
    name: f"{name}_days"
    for name in (
        "neutrophil_engraftment",
        "platelet_engraftment",
        "agvhd_2_4",
        "agvhd_3_4",
        "cgvhd",
        "cgvhd_extensive",
        "cmv",
        "ebv",
        "ptld",
        "tma",
    )
}

#: Outcome columns that must not fall after death or last follow-up.
OUTCOME_DAY_COLUMNS: tuple[str, ...] = (
    ("relapse_days",)
    + tuple(ENDPOINT_DAY_COLUMNS.values())
    + ("days_second_hsct_to_dli", "days_second_hsct_to_mrd_positive")
)


# --------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as possible.

    ``line`` is the line of the CSV file (header = line 1); for a DataFrame it is the line the
    row would have in ``df.to_csv(index=False)``. ``rule`` is the broken rule as a phrase that
    reads after ``value`` (e.g. value ``"2100"``, rule ``"is after death (followup_days 1500)"``).
    ``not_listed``: on the last line of a list cut at :data:`MAX_LISTED`, the number of problems it stands for
    (those not listed); 0 on every problem itself (:func:`problem_count` counts both).
    """

    file: str
    line: int | None
    patient_id: str | None
    column: str | None
    rule: str
    value: str | None = None
    not_listed: int = 0

    def __str__(self) -> str:
        where = printable(self.file)
        if self.line is not None:
            where += f", line {self.line}"
        if self.patient_id:
            where += f" (patient {shorten(self.patient_id)})"
        if self.column:
            where += f", column {shorten(self.column)}"
        return f"{where}: {self.what()}"

    def what(self) -> str:
        """The value (shortened to :data:`MAX_SHOWN_CHARACTERS`) and the rule it breaks."""
        return self.rule if self.value is None else f"{shorten(self.value)} {self.rule}"


def problem_count(problems) -> int:
    """How many problems a list reports: each listed one (a :class:`Problem`, or a study file's problem), and those a
    last line says were not listed (:data:`MAX_LISTED`)."""
    return sum(getattr(p, "not_listed", 0) or 1 for p in problems)


class CohortError(ValueError):
    """Raised by :func:`load_cohort` with every problem found; ``.problems`` holds them."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        source = self.problems[0].file if self.problems else "cohort"
        head = f"{problem_count(self.problems)} problem(s) in cohort {source}:"
        super().__init__("\n".join([head] + [f"  {p}" for p in self.problems]))


# --------------------------------------------------------------------------------------
# Reading a file into a table of text cells
# --------------------------------------------------------------------------------------


@dataclass
class _Table:
    """Text cells (stripped; '' = empty) with the file line of each row."""

    source: str
    header: list[str]
    cells: pd.DataFrame
    lines: np.ndarray
    seen: dict = field(default_factory=dict)  # patient_id -> first line, over every chunk read so far

    @classmethod
    def concat(cls, tables: list[_Table]) -> _Table:
        cells = pd.concat([t.cells for t in tables], ignore_index=True)
        return cls(tables[0].source, tables[0].header, cells, np.concatenate([t.lines for t in tables]))

    def __post_init__(self) -> None:
        self.cells = self.cells.reset_index(drop=True)
        self.empty = self.cells.eq("")
        self.numbers = self._parse_numbers()
        ids = self.cells["patient_id"] if "patient_id" in self.cells else pd.Series("", index=self.cells.index)
        self.ids = ids.where(ids != "", None)

    def _parse_numbers(self) -> pd.DataFrame:
        numeric = [c for c in self.cells if c in COLUMNS and COLUMNS[c].type in ("integer", "number")]
        parsed = {c: _to_numbers(self.cells[c], self.empty[c]) for c in numeric}
        frame = pd.DataFrame(parsed, index=self.cells.index, dtype=float)
        return frame.where(np.isfinite(frame))

    def has(self, *columns: str) -> bool:
        return all(c in self.cells for c in columns)

    def problems(
        self, mask: pd.Series, column: str, rule: str, value: pd.Series | None = None, **fill: pd.Series
    ) -> list[Problem]:
        """One Problem per row where ``mask`` is true.

        ``rule`` may hold ``{name}`` fields, filled with that row's value of ``fill[name]``.
        """
        out = []
        for i in np.flatnonzero(mask.fillna(False).to_numpy(bool)):
            text = rule.format(**{k: _show(v.iloc[i]) for k, v in fill.items()}) if fill else rule
            val = None if value is None else _show(value.iloc[i])
            pid = self.ids.iloc[i]
            out.append(
                Problem(self.source, int(self.lines[i]), None if pid is None else printable(pid), column, text, val)
            )
        return out


def _to_numbers(cells: pd.Series, empty: pd.Series) -> pd.Series:
    """The numbers of a column of text cells (NaN where empty or not a number).

    A categorical column (the fast reader's) is parsed once per distinct text, then spread to its rows.
    """
    if isinstance(cells.dtype, pd.CategoricalDtype):
        texts = pd.Series(cells.cat.categories, dtype=object)
        values = np.asarray(pd.to_numeric(texts.where(texts != ""), errors="coerce"), dtype=float)
        return pd.Series(values[cells.cat.codes.to_numpy()], index=cells.index)
    return pd.to_numeric(cells.where(~empty), errors="coerce")


def _show(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return printable(str(value))


#: Characters no cell may hold: C0 controls (NUL, TAB, line breaks inside a quoted cell ...), DEL, C1 controls,
#: zero-width and bidirectional-override characters (which make a value read differently than it is).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")

#: How to save a cohort file in the one encoding the contract accepts.
SAVE_AS_UTF8 = (
    'save it as UTF-8: in Excel, Save As "CSV UTF-8 (Comma delimited)"; in LibreOffice, Save As '
    '"Text CSV" with character set "Unicode (UTF-8)"; or save it as an Excel workbook (.xlsx)'
)

#: Rows validated at a time (memory stays flat however long the file is) and problems listed per file.
CHUNK_ROWS = 20_000
MAX_LISTED = 10_000

_MAGIC = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3", "an SQLite database"),
    (
        b"\xd0\xcf\x11\xe0",
        "an Excel 97-2003 workbook (.xls) or another old Office file: save it as .xlsx or as CSV UTF-8",
    ),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PAR1", "a Parquet file"),
)

#: Text formats that are not a table of rows, told apart by how their text starts (after a byte-order mark and
#: white space): a CSV header starts with a column name, never with these.
_TEXT_KINDS = (
    (re.compile(rb"(?:\[\s*)?\{\s*[\"'}]"), "JSON"),  # an object, or a list of objects (also as Python prints them)
    (re.compile(rb"\[\s*[\[\"']"), "JSON"),  # a list of lists or of strings
    # JSON with comments (JSONC, as editors write settings): // or /* lines, then an object or a list
    (re.compile(rb"(?:(?://[^\n]*|/\*.*?\*/)\s*)+[\[{]", re.DOTALL), "JSON with comments"),
    (re.compile(rb"<\?xml|<!DOCTYPE|<!--|<(?:html|head|body|table|meta|svg)[\s>/]", re.IGNORECASE), "XML or HTML"),
    # a root element without a prolog: <cohort/>, <cohort ...> then (after white space) a child tag, or
    # <cohort>text</cohort>; a CSV header does not open like that
    (re.compile(rb"<([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(?:/>|>\s*<[A-Za-z_/!?]|>[^<]*</\1\s*>)"), "XML or HTML"),
)
#: How to write a CSV from the tools a registry extract usually comes from.
WRITE_CSV_HINT = (
    'from R: write.csv(data, "cohort.csv", row.names = FALSE); from pandas: data.to_csv("cohort.csv", index=False)'
)


#: Characters of a value (a cell, a patient id, a column name) shown in a problem line; a longer one is cut there.
MAX_SHOWN_CHARACTERS = 60


def shorten(text: str) -> str:
    """``text`` cut to :data:`MAX_SHOWN_CHARACTERS`, saying how long it was (a 1 MB cell is not echoed whole)."""
    if len(text) <= MAX_SHOWN_CHARACTERS:
        return text
    return f"{text[:MAX_SHOWN_CHARACTERS]}\u2026 ({len(text):,} characters)"


def repeated_names(names: list[str]) -> dict[str, list[int]]:
    """Column names given to more than one column (spaces around a name do not tell it apart): name -> the
    columns' positions, 1 for the first. A role that names such a column could read either."""
    stripped = [str(n).strip() for n in names]
    return {
        name: [i + 1 for i, n in enumerate(stripped) if n == name]
        for name in dict.fromkeys(n for n in stripped if n and stripped.count(n) > 1)
    }


def repeated_names_rule(name: str, positions: list[int]) -> str:
    """The rule a repeated column name breaks, as a phrase (its column is the name)."""
    return f"column name appears {len(positions)} times in the header (positions {', '.join(map(str, positions))}): keep one"


def printable(text: str) -> str:
    """``text`` with every control or invisible character written as an escape (``\\x00``, ``\\u202e``)."""
    if not CONTROL_CHARACTERS.search(text):
        return text
    return CONTROL_CHARACTERS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def _character_name(ch: str) -> str:
    import unicodedata

    name = unicodedata.name(ch, "") or {"\x00": "NUL", "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN"}.get(
        ch, "control character"
    )
    return f"U+{ord(ch):04X} {name}"


class NotATable(ValueError):
    """The file is not a cohort table (a JSON or PDF file, UTF-16 text, a folder...); the message says what it is."""


def file_kind(path: Path | str) -> str:
    """How to read ``path``: ``"utf-8"``, ``"utf-8-sig"`` (CSV) or ``"xlsx"`` (a workbook, whatever its name), from
    its first bytes. Raises :class:`NotATable` with the same rule ``validate`` prints for any other file."""
    kind, problems = _sniff(Path(path), str(path))
    if kind is None:
        raise NotATable(problems[0].rule)
    return kind


def _parquet(path: Path) -> bool:
    """Whether ``path`` ends as a Parquet file does: the 4-byte footer magic ``PAR1`` (it also starts with it)."""
    try:
        with path.open("rb") as fh:
            fh.seek(-4, 2)
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def _sniff(path: Path, source: str) -> tuple[str | None, list[Problem]]:
    """The file's kind from its first bytes: ``"utf-8"``, ``"utf-8-sig"``, ``"xlsx"``, or None and the problem."""

    def fatal(rule: str) -> tuple[None, list[Problem]]:
        return None, [Problem(source, None, None, None, rule)]

    if path.is_dir():
        return fatal("is a directory, not a file")
    if not path.is_file():
        return fatal("file not found (or not a file)")
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        return fatal(f"file cannot be read ({exc.strerror or exc})")
    if not head:
        return fatal("file is empty (0 bytes): expected a header line and one row per patient")
    start = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    for pattern, what in _TEXT_KINDS:
        if pattern.match(start):
            return fatal(
                f"file is {what}, not a cohort table: expected CSV (UTF-8), one row per patient, or an Excel "
                f"workbook (.xlsx); {WRITE_CSV_HINT}"
            )
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", []
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if head.startswith(bom):
            return fatal(f"file is {name} text (it starts with a {name} byte-order mark), not UTF-8: {SAVE_AS_UTF8}")
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return "xlsx", []
        except (zipfile.BadZipFile, OSError):
            pass
    for magic, what in _MAGIC:
        if not head.startswith(magic):
            continue
        if magic == b"PAR1" and not _parquet(path):
            continue  # a text header that happens to start with PAR1 (a column of that name) is read as CSV
        hint = f"; {WRITE_CSV_HINT}" if magic in (b"PAR1", b"SQLite format 3") else ""
        return fatal(
            f"file is not a cohort table: it is {what}. Expected CSV (UTF-8) or an Excel workbook (.xlsx){hint}"
        )
    half = max(1, len(head) // 2)
    if head[1::2].count(0) > 0.6 * half or head[0::2].count(0) > 0.6 * half:
        return fatal(
            f'file is UTF-16 text without a byte-order mark (as Excel\'s "Unicode Text" writes), not UTF-8: '
            f"{SAVE_AS_UTF8}"
        )
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if controls > 0.05 * len(head):
        return fatal("file is not a text file (binary data): expected CSV (UTF-8) or an Excel workbook (.xlsx)")
    return "utf-8", []


def _utf8_problems(path: Path, source: str) -> list[Problem]:
    """One problem per line that is not valid UTF-8, naming the encoding it looks like; [] when all is UTF-8."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return []
    except UnicodeDecodeError:
        pass
    out = []
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                try:
                    shown, looks = bytes([byte]).decode("cp1252"), "Windows-1252/Latin-1"
                except UnicodeDecodeError:
                    shown, looks = bytes([byte]).decode("latin-1"), "Latin-1 (ISO-8859-1)"
                rule = (
                    f"byte 0x{byte:02x} at byte {exc.start + 1} of the line is not valid UTF-8 (the file looks "
                    f"like {looks}, where this byte is {printable(shown)!r}): {SAVE_AS_UTF8}"
                )
                out.append(Problem(source, number, None, None, rule))
    return out


def _delimiter_problem(first_line: str, source: str) -> Problem | None:
    for sep, label in ((";", "semicolons (;)"), ("\t", "tabs")):
        if first_line.count(sep) > first_line.count(","):
            return Problem(source, 1, None, None, f"columns are separated by {label}, not commas: use commas")
    return None


def _csv_rows(path: Path, encoding: str, errors: str, problems: list[Problem], source: str):
    """(file line, fields) of every CSV record; a CSV syntax error ends the rows with a problem."""
    with path.open(encoding=encoding, errors=errors, newline="") as fh:
        first_line = fh.readline()
        delimiter = _delimiter_problem(first_line, source)
        if delimiter:
            problems.append(delimiter)
            return
    with path.open(encoding=encoding, errors=errors, newline="") as fh:
        reader = csv.reader(fh)
        previous, last = 0, None  # the last record is held back: a quote never closed makes it the rest of the file
        try:
            for fields in reader:
                if last is not None:
                    yield last
                last = previous + 1, fields
                previous = reader.line_num
        except csv.Error as exc:
            problems.append(Problem(source, previous + 1, None, None, f"cannot be read as CSV ({exc})"))
            if last is not None:
                yield last
            return
    if last is None:
        return
    opened = _unclosed_quote(path, encoding, errors, last[0])
    if opened is None:
        yield last
    else:
        rule = (
            f"a quote opened on line {opened} is never closed, so the rest of the file reads as one cell: "
            'close it with a second " or remove it'
        )
        problems.append(Problem(source, opened, None, None, rule))


def _row_length_problem(source: str, line: int, fields: list[str], width: int, id_at: int | None) -> Problem:
    """A row with more or fewer values than the header's ``width`` columns, named by its line and, when the row
    reaches the identifier's column ``id_at``, its patient."""
    pid = fields[id_at].strip() if id_at is not None and id_at < len(fields) else None
    rule = f"row has {len(fields)} values but the header has {width} columns"
    return Problem(source, line, printable(pid) if pid else None, None, rule)


def csv_table(path: Path | str, id_column: str | None = None) -> tuple[list[str], list[int], list[list[str]], list]:
    """A CSV file read as the data contract reads it: (header with its names stripped, each data row's first line in
    the file, each data row's fields, problems). The problems are those of reading it: not a CSV file in UTF-8
    (:func:`file_kind`'s rules, each line that is not UTF-8), its layout (semicolons or tabs for commas, a quote
    never closed, CSV syntax), and a row with more or fewer values than the header has columns (named by its
    line, and its patient by ``id_column`` when the row has one); such a row is left out. Blank rows are skipped,
    and a row's line is where it starts in the file (blank lines and line breaks inside quotes counted)."""
    path = Path(path)
    source = path.name
    kind, problems = _sniff(path, source)
    if kind is None:
        return [], [], [], problems
    if kind == "xlsx":
        return [], [], [], [Problem(source, None, None, None, "is an Excel workbook: name it .xlsx")]
    encoding = _utf8_problems(path, source)
    problems = list(encoding)
    header: list[str] | None = None
    lines: list[int] = []
    rows: list[list[str]] = []
    id_at = None
    for line, fields in _csv_rows(path, kind, "replace" if encoding else "strict", problems, source):
        if not "".join(fields).strip():
            continue
        if header is None:
            header = [h.strip() for h in fields]
            id_at = header.index(id_column) if id_column in header else None
            continue
        if len(fields) != len(header):
            problems.append(_row_length_problem(source, line, fields, len(header), id_at))
            continue
        rows.append(fields)
        lines.append(line)
    return header or [], lines, rows, problems


def _unclosed_quote(path: Path, encoding: str, errors: str, start: int) -> int | None:
    """The line of a quote opened in the record starting on line ``start`` (the file's last) and never closed.

    Follows the ``csv`` module's rules: a quote opens a cell only at its start, ``""`` inside quotes is a quote,
    and a quote outside a quoted cell is text.
    """
    with path.open(encoding=encoding, errors=errors, newline="") as fh:
        lines = list(itertools.islice(fh, start - 1, None))
    text = "".join(lines)
    pos, at_start, opened = 0, True, None
    while pos < len(text):
        if opened is None:
            if at_start and text[pos] == '"':
                opened, pos, at_start = pos, pos + 1, False
                continue
            end = _FIELD_END.search(text, pos)
            if end is None:
                return None
            pos, at_start = end.end(), True
        else:
            close = text.find('"', pos)
            if close < 0:
                break
            if text.startswith('""', close):
                pos = close + 2
                continue
            opened, pos, at_start = None, close + 1, False
    if opened is None:
        return None
    ends = list(itertools.accumulate(len(line) for line in lines))
    return start + bisect.bisect_right(ends, opened)


_FIELD_END = re.compile("[,\r\n]")


def _cell_text(value) -> str:
    """A workbook cell as the text a CSV export would hold (whole numbers without ``.0``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def sheet_names(path: Path) -> list[str]:
    """The names of the sheets of the Excel workbook at ``path``, in order."""
    import openpyxl

    with Path(path).open("rb") as fh:
        book = openpyxl.load_workbook(fh, read_only=True)
        try:
            return list(book.sheetnames)
        finally:
            book.close()


def _xlsx_rows(path: Path, problems: list[Problem], source: str):
    """(sheet row, cells as text) of the workbook's first sheet.

    Opened through a file object, so that a workbook whatever its name (an .xlsx renamed .csv) is read as one:
    openpyxl refuses a file name that does not end in .xlsx/.xlsm.
    """
    import openpyxl

    unsaved = formula_problem(path, source, COLUMNS)  # a column outside the contract is not read
    if unsaved is not None:
        problems.append(unsaved)
        return
    with path.open("rb") as fh:
        yield from _workbook_rows(openpyxl, fh, problems, source)


FORMULA_RULE = (
    "holds a formula ({formula}) whose result the workbook does not store, so it would read as empty: open the "
    "workbook in Excel or LibreOffice and save it (that stores every result), or save it as CSV UTF-8"
)
#: The rule of a formula whose stored value is a placeholder: the workbook asks to be recalculated when opened
#: (``fullCalcOnLoad``), as programs that write formulas without computing them do (some store 0 for each).
PLACEHOLDER_RULE = (
    "holds a formula ({formula}) whose stored value ({value}) is a placeholder: the workbook asks to be recalculated "
    "when opened, so it was written by a program that computed no formula: open the workbook in Excel or LibreOffice "
    "and save it (that stores every result), or save it as CSV UTF-8"
)
_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def formula_problem(path: Path | str, source: str, columns=None, sheet: str | None = None) -> Problem | None:
    """The :class:`Problem` of :func:`formula_without_result` (its row, column and formula, shown shortened), or
    None."""
    unsaved = formula_without_result(path, columns, sheet)
    if unsaved is None:
        return None
    row, column, formula, placeholder = unsaved
    shown = shorten(printable(formula))
    if placeholder is not None:
        rule = PLACEHOLDER_RULE.format(formula=shown, value=shorten(printable(placeholder)))
        return Problem(source, row, None, column, rule)
    return Problem(source, row, None, column, FORMULA_RULE.format(formula=shown))


def _first_worksheet(archive, sheet: str | None = None) -> str | None:
    """The archive member of the workbook's first worksheet (chartsheets skipped), as openpyxl's ``worksheets[0]``;
    or of the worksheet named ``sheet``."""
    import posixpath
    import xml.etree.ElementTree as ET

    try:
        book = ET.fromstring(archive.read("xl/workbook.xml"))
        rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ET.ParseError):
        return None
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    for entry in book.iter(f"{_SHEET_NS}sheet"):
        if sheet is not None and entry.get("name") != sheet:
            continue
        target = targets.get(entry.get(f"{_REL_NS}id"), "")
        member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        if "worksheets/" in member and member in archive.namelist():
            return member
    return None


def _header_of(path: Path | str, sheet: str | None = None) -> list[str]:
    """The first row of the workbook's first worksheet (or of the one named ``sheet``), as text (opened through a
    file object, whatever its name)."""
    import openpyxl

    with Path(path).open("rb") as fh:
        book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        try:
            worksheet = book[sheet] if sheet is not None else book.worksheets[0]
            return [_cell_text(v) for v in next(worksheet.iter_rows(max_row=1, values_only=True), ())]
        finally:
            book.close()


def _recalculated_on_load(archive) -> bool:
    """Whether the workbook asks to be recalculated when opened (``<calcPr fullCalcOnLoad="1"/>``)."""
    import xml.etree.ElementTree as ET

    try:
        book = ET.fromstring(archive.read("xl/workbook.xml"))
    except (KeyError, ET.ParseError):
        return False
    calc = book.find(f"{_SHEET_NS}calcPr")
    return calc is not None and calc.get("fullCalcOnLoad", "").lower() in ("1", "true")


def formula_without_result(
    path: Path | str, columns=None, sheet: str | None = None
) -> tuple[int, str, str, str | None] | None:
    """(sheet row, column name, formula, placeholder) of the first cell of the first worksheet (or of the one named
    ``sheet``), in one of ``columns``
    (names; every column when None), that holds a formula but no stored result; None if there is none (or the
    workbook cannot be read: the reader says so).

    A spreadsheet program stores each formula's result beside it when it saves; a workbook written by a program
    (openpyxl, for one) may store none, and read for values such a cell is empty. A stored empty text (``t="str"``,
    as ``=IF(x="","",...)`` gives) is a result. A workbook that asks to be recalculated when opened
    (``fullCalcOnLoad``, which Excel and LibreOffice do not write when they save) was written by a program that
    computed nothing: a value stored beside its formulas is a placeholder (some writers store 0 for each), returned
    as ``placeholder`` (None for a cell that stores nothing). Only the sheet's XML is read, and not at all when it
    holds no formula.
    """
    import xml.etree.ElementTree as ET
    import zipfile

    from openpyxl.utils import column_index_from_string

    try:
        with zipfile.ZipFile(path) as archive:
            member = _first_worksheet(archive, sheet)
            if member is None:
                return None
            with archive.open(member) as fh:  # most workbooks hold no formula: look for one before parsing
                tail, found = b"", False
                while chunk := fh.read(1 << 20):
                    if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                        found = True
                        break
                    tail = chunk[-3:]
            if not found:
                return None
            recalculated = _recalculated_on_load(archive)
            header = None
            with archive.open(member) as fh:
                for _, cell in ET.iterparse(fh):
                    if cell.tag != f"{_SHEET_NS}c":
                        continue
                    formula, value = cell.find(f"{_SHEET_NS}f"), cell.find(f"{_SHEET_NS}v")
                    stored = value is not None and value.text not in (None, "") or cell.get("t") in ("str", "inlineStr")
                    ref = re.fullmatch(r"([A-Z]+)(\d+)", cell.get("r", ""))
                    if formula is not None and (recalculated or not stored) and ref and int(ref[2]) > 1:
                        header = _header_of(path, sheet) if header is None else header
                        col = column_index_from_string(ref[1]) - 1
                        name = header[col] if col < len(header) else ""
                        if columns is None or name in columns:
                            placeholder = (value.text or "") if stored and value is not None else None
                            return int(ref[2]), name, "=" + (formula.text or ""), placeholder
                    cell.clear()
    except (zipfile.BadZipFile, OSError, ET.ParseError, KeyError):
        return None
    return None


def _workbook_rows(openpyxl, fh, problems: list[Problem], source: str):
    """:func:`_xlsx_rows` of an open file."""
    try:
        book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on a damaged workbook
        problems.append(
            Problem(
                source,
                None,
                None,
                None,
                f"the Excel workbook cannot be read ({type(exc).__name__}: "
                f"{exc}); save it again from Excel, or as CSV UTF-8",
            )
        )
        return
    try:
        sheet = book.worksheets[0]
        yield from _grid_rows(enumerate(sheet.iter_rows(values_only=True), start=1))
    finally:
        book.close()


def _grid_rows(rows):
    """A worksheet's (number, values) rows as cell texts, each as wide as the header (the first row with a value).

    A sheet is a grid, not a list of ragged lines: a row's empty cells at the end carry nothing, and a workbook
    need not store them (openpyxl's write-only mode, and some exporters, leave them out, or the sheet's recorded
    dimension is stale). So trailing empty cells are dropped and a shorter row is filled with empty cells up to the
    header's width. A row with a value beyond the header keeps its length (the reader reports it)."""
    width = None
    for number, values in rows:
        cells = [_cell_text(v) for v in values]
        while cells and not cells[-1].strip():
            cells.pop()
        if width is None:
            width = len(cells) or None
        elif len(cells) < width:
            cells += [""] * (width - len(cells))
        yield number, cells


@dataclass
class _Scan:
    """What reading a cohort file found: problems (the first ``MAX_LISTED``), rows and the kept table."""

    source: str
    problems: list[Problem]
    n_problems: int = 0
    n_rows: int = 0
    table: _Table | None = None
    n_dead: int = 0  # rows with dead = 1
    n_alive: int = 0  # rows with dead = 0
    n_followed: int = 0  # rows with followup_days > 0

    def add(self, problems: list[Problem]) -> None:
        self.n_problems += len(problems)
        room = MAX_LISTED - len(self.problems)
        if room > 0:
            self.problems.extend(problems[:room])

    def listed(self) -> list[Problem]:
        """The problems, with a last line counting those not listed."""
        hidden = self.n_problems - len(self.problems)
        if hidden <= 0:
            return list(self.problems)
        rule = f"... and {hidden} more problem(s) not listed (only the first {MAX_LISTED} are)"
        return self.problems + [Problem(self.source, None, None, None, rule, not_listed=hidden)]


def _scan(path: str | Path, keep: bool) -> _Scan:
    """Read the file once, validating ``CHUNK_ROWS`` rows at a time; with ``keep``, also keep one table of all rows.

    A plain CSV file (see :func:`_plain_layout`; quoted cells as R's ``write.csv`` or Excel write them are
    plain, also over several lines; control characters in cells too, which are reported cell by cell) is read by
    pandas' C parser (:func:`_fast_scan`); any other (a workbook, a quote out of place, a NUL byte, a carriage
    return alone, a control character in the header, rows of the wrong length, bytes that are not UTF-8) by the
    detailed reader below, line by line. Both give the same problems, in the same order: the header's first,
    then by line (a row's control characters and length before its cells' problems).

    Never raises on bad input: everything wrong with the file is a :class:`Problem`.
    """
    path, source = Path(path), str(path)
    scan = _Scan(source, [])
    kind, fatal = _sniff(path, source)
    if kind is None:
        scan.add(fatal)
        return scan
    if kind != "xlsx" and not keep:
        layout = _plain_layout(path, kind)
        if layout is not None:
            fast = _fast_scan(path, kind, source, *layout)
            if fast is not None:
                return fast
    return _detailed_scan(path, kind, source, scan, keep)


#: Bytes read at a time by :func:`_plain_layout`, and rows per chunk of :func:`_fast_scan`.
LAYOUT_BLOCK_BYTES = 1 << 22
FAST_CHUNK_ROWS = 50_000

#: Characters that make the fast reader check every distinct cell text for :data:`CONTROL_CHARACTERS` (the control
#: and invisible ones but line feed and carriage return, which the layout pass sees by position). The fast reader
#: reports and removes them exactly as the detailed one does; it leaves to the detailed reader only a NUL byte
#: (pandas' C parser ends a cell there), a carriage return not before a line feed (the ``csv`` module counts it as a
#: line, also inside quotes) and a control character in the header. Quotes are judged by their place, in
#: :func:`_plain_layout`.
_NOT_PLAIN = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LF, _CR, _COMMA, _QUOTE = ord("\n"), ord("\r"), ord(","), ord('"')
#: The bytes allowed before an opening quote and after a closing one (besides the start and end of the file), as
#: lookup tables of the 256 byte values; a quote on either side is the other half of an escaped quote ``""``.
_MAY_OPEN_AFTER = np.isin(np.arange(256), [_COMMA, _LF, _QUOTE])
_MAY_CLOSE_BEFORE = np.isin(np.arange(256), [_COMMA, _CR, _LF, _QUOTE])


def _plain_layout(path: Path, encoding: str) -> tuple[list[str], np.ndarray, bool] | None:
    """The header, the file line of every row and whether a cell may hold a control character, for a plain CSV
    file; None when the file is not plain.

    Plain: valid UTF-8; no NUL byte; a carriage return only before a line feed; quotes only as RFC 4180 places
    them (R's ``write.csv`` and Excel write them so): a quoted cell opens at the start of a line or after a comma,
    closes before a comma or a line break and holds a quote as ``""``; a header that is not blank, on one line,
    with at least two columns and no control or invisible character; every other record either holds as many
    separating commas (commas outside quotes) as the header, or only spaces (a blank line, which the detailed
    reader skips too). A record ends at a line feed outside quotes: a quoted cell may hold line breaks (Excel
    writes a cell typed with Alt+Enter so), and the record's line is its first, the line the ``csv`` module
    starts it on. Then a separating comma separates two cells, so pandas' C parser reads exactly the cells the
    ``csv`` module would, and row ``i`` starts on line ``lines[i]``. A quote anywhere else (``ab"c``, a space
    before an opening quote, text after a closing one, a quote left open) leaves the file to the detailed reader.
    The third value is False when no cell holds a control or invisible character (:data:`_NOT_PLAIN`, or a line
    break inside quotes): then the fast reader need not look for them. One pass over the bytes, in blocks, with
    numpy: memory does not grow with the file, and nothing is done per line but for records without a comma.
    """
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    per_record: list[np.ndarray] = []  # separating commas of each complete record, block by block
    record_ends: list[np.ndarray] = []  # the number (from 0, in the file) of the line feed ending each record
    carry_commas, carry_blank, carry_bytes, after_cr = 0, True, 0, False
    quotes, previous, closing_at_end = 0, 0, False  # quotes so far, last byte so far, a closing quote ends it
    line_feeds, controls = 0, False  # line feeds before the block; a control character seen
    first_line = None
    start = 3 if encoding == "utf-8-sig" else 0  # where the text starts, after the byte-order mark
    with path.open("rb") as fh:
        while block := fh.read(LAYOUT_BLOCK_BYTES):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError:
                return None
            if b"\x00" in block:
                return None
            raw = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(raw == _LF)
            n_line_feeds = len(ends)
            crs = np.flatnonzero(raw == _CR) if b"\r" in block else ends[:0]
            if not controls and (
                b"\x7f" in block
                or np.count_nonzero(raw < 32) != len(ends) + len(crs)
                or (not block.isascii() and _NOT_PLAIN.search(text))
            ):
                controls = True
            after_cr_end = bool(len(crs)) and int(crs[-1]) == len(raw) - 1
            if (after_cr and raw[0] != _LF) or (raw[crs[: len(crs) - after_cr_end] + 1] != _LF).any():
                return None  # a carriage return not before a line feed
            after_cr = after_cr_end
            if closing_at_end and not _MAY_CLOSE_BEFORE[raw[0]]:
                return None
            is_comma = raw == _COMMA
            closing_at_end = False
            if not (quotes % 2 or b'"' in block):
                where = np.flatnonzero(is_comma)  # the commas
                ends_at = np.arange(len(ends))  # every line feed ends a record
                commas_before = np.searchsorted(where, ends)  # commas before each record's end
                quoted = None
            else:
                is_quote = raw == _QUOTE
                where = np.flatnonzero(is_quote | is_comma)  # quotes and commas, in order
                ranks = np.flatnonzero(is_quote[where])  # of the quotes among them
                at = where[ranks]
                opening, closing = (at[1::2], at[::2]) if quotes % 2 else (at[::2], at[1::2])
                if len(opening) and first_line is None and opening[0] == start:
                    opening = opening[1:]  # the first cell of the file
                elif len(opening) and opening[0] == 0:
                    if not _MAY_OPEN_AFTER[previous]:
                        return None
                    opening = opening[1:]
                if not _MAY_OPEN_AFTER[raw[opening - 1]].all():
                    return None
                closing_at_end = bool(len(closing)) and int(closing[-1]) == len(raw) - 1
                if not _MAY_CLOSE_BEFORE[raw[closing[: len(closing) - closing_at_end] + 1]].all():
                    return None
                quotes_before = np.searchsorted(at, ends)
                ends_at = np.flatnonzero((quotes_before + quotes) % 2 == 0)  # line feeds outside quotes
                if len(ends_at) < len(ends):  # a line break inside a quoted cell: a control character
                    controls = True
                    if first_line is None and (not len(ends_at) or ends_at[0] != 0):
                        return None  # a header over several lines: left to the detailed reader
                    ends = ends[ends_at]
                    quotes_before = quotes_before[ends_at]
                commas_before = np.searchsorted(where, ends) - quotes_before
                # the commas inside quotes: between the quotes of each pair, in ``where``
                pairs = np.concatenate(([-1], ranks)) if quotes % 2 else ranks
                if len(pairs) % 2:
                    pairs = np.concatenate((pairs, [len(where)]))
                opened, closed = pairs[::2] + 1, pairs[1::2]
                wide = np.flatnonzero(closed > opened)
                counts = closed[wide] - opened[wide]
                inside = np.arange(counts.sum()) + np.repeat(opened[wide] - (np.cumsum(counts) - counts), counts)
                quoted = where[inside]
                quotes += len(at)
            previous = int(raw[-1])
            if first_line is None:
                if not len(ends):  # a header longer than a block: left to the detailed reader
                    return None
                first_line = block[: int(ends[0])]
            n_commas = int(np.count_nonzero(is_comma))
            commas = np.diff(np.concatenate(([0], commas_before, [n_commas])))  # commas of each record, and the tail
            if quoted is not None and len(quoted):
                commas -= np.bincount(np.searchsorted(ends, quoted), minlength=len(commas))
            commas[0] += carry_commas
            if len(ends):
                for k in np.flatnonzero(commas[:-1] == 0):  # records without a comma: blank, or not plain
                    begin = int(ends[k - 1]) + 1 if k else 0
                    if (k == 0 and not carry_blank) or block[begin : int(ends[k])].strip(b" \r"):
                        return None
                per_record.append(commas[:-1])
                record_ends.append(ends_at + line_feeds)
                tail = block[int(ends[-1]) + 1 :]
                carry_commas, carry_bytes, carry_blank = int(commas[-1]), len(tail), not tail.strip(b" \r")
            else:
                carry_commas, carry_bytes = int(commas[-1]), carry_bytes + len(raw)
                carry_blank = carry_blank and not block.strip(b" \r")
            line_feeds += n_line_feeds
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    if after_cr or first_line is None or quotes % 2:
        return None
    if carry_bytes:  # a last record without a line break
        if carry_commas == 0 and not carry_blank:
            return None
        per_record.append(np.array([carry_commas]))
    commas = np.concatenate(per_record)
    starts = np.concatenate(([1], np.concatenate(record_ends) + 2))[: len(commas)]  # the first line of each record
    header_text = first_line.decode(encoding).rstrip("\r")
    if CONTROL_CHARACTERS.search(header_text):  # the detailed reader names the column and the character
        return None
    fields = next(csv.reader([header_text])) if '"' in header_text else header_text.split(",")
    if commas[0] == 0 or len(fields) != commas[0] + 1 or not "".join(fields).strip():
        return None
    if _delimiter_problem(header_text, ""):  # more semicolons than commas: the detailed reader says so
        return None
    width = int(commas[0]) + 1
    rows = commas[1:] == width - 1
    if not np.all(rows | (commas[1:] == 0)):
        return None
    return [h.strip() for h in fields], starts[1:][rows], controls


def _fast_scan(
    path: Path, encoding: str, source: str, header: list[str], lines: np.ndarray, controls: bool = True
) -> _Scan | None:
    """:func:`_scan` of a plain CSV file (:func:`_plain_layout`) with pandas' C parser, ``FAST_CHUNK_ROWS`` rows at
    a time, every cell kept as a category of its stripped text (each distinct text is parsed and checked once).
    Quotes are read as the ``csv`` module reads them (``"a,b"`` is ``a,b``, ``""`` inside is ``"``, a line break
    inside quotes is kept); the layout has only standard ones. With ``controls``, each distinct text is searched
    for :data:`CONTROL_CHARACTERS`: a cell holding one is reported as the detailed reader reports it (one problem
    per cell, on the row's first line) and read without them. None if the parser's rows do not match the layout
    (then the detailed reader reads the file)."""
    scan = _Scan(source, [])
    scan.add(_header_problems(header, source))
    width = len(header)
    first = {name: header.index(name) for name in dict.fromkeys(header) if name in COLUMNS}
    id_at = header.index("patient_id") if "patient_id" in header else None
    seen: dict[str, int] = {}
    done = 0
    reader = pd.read_csv(
        path,
        encoding=encoding,
        header=None,
        skiprows=1,
        names=list(range(width)),
        dtype=str,
        na_filter=False,
        quoting=csv.QUOTE_MINIMAL,
        doublequote=True,
        skip_blank_lines=True,
        engine="c",
        chunksize=FAST_CHUNK_ROWS,
    )
    try:
        with reader:
            for chunk in reader:
                if done + len(chunk) > len(lines) or not (
                    isinstance(chunk.index, pd.RangeIndex) and chunk.index.start == done
                ):  # more rows than lines, or longer rows than the header (pandas made an index of them)
                    return None
                cells, blank, marked, ids = {}, np.ones(len(chunk), dtype=bool), [], None
                for j in range(width):
                    codes, texts = pd.factorize(chunk[j].to_numpy(dtype=object))
                    if j == id_at:
                        ids = (codes, texts)
                    clean = pd.Index(texts, dtype=object)
                    if controls:
                        found = [CONTROL_CHARACTERS.search(t) for t in texts]
                        if any(found):
                            marked.append((j, codes, texts, found))
                            clean = pd.Index([CONTROL_CHARACTERS.sub("", t) for t in texts], dtype=object)
                    stripped_codes, stripped = pd.factorize(clean.str.strip())
                    codes = stripped_codes[codes]
                    blank &= (stripped == "")[codes]
                    cells[j] = (codes, stripped)
                keep = ~blank
                data = {}
                for name, j in first.items():
                    codes, texts = cells[j]
                    if COLUMNS[name].allowed == "unique":  # patient_id: as many texts as rows
                        data[name] = np.asarray(texts, dtype=object)[codes[keep]]
                    else:
                        data[name] = pd.Categorical.from_codes(codes[keep], categories=pd.Index(texts, dtype=object))
                frame = pd.DataFrame(data, columns=list(first))
                chunk_lines = lines[done : done + len(chunk)]
                pending = _marked_control_problems(header, source, chunk_lines, marked, ids) if marked else []
                table = _Table(source, header, frame, chunk_lines[keep], seen)
                done += len(chunk)
                _count(scan, table, pending)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return None
    if done != len(lines):
        return None
    if scan.n_rows == 0:
        scan.add([Problem(source, None, None, None, "file has a header but no patient rows")])
    return scan


def _marked_control_problems(
    header: list[str], source: str, lines: np.ndarray, marked: list, ids: tuple | None
) -> list[Problem]:
    """The control-character problems of a chunk of the fast reader, row by row and in each row column by column,
    as :func:`_control_problems` gives them. ``marked`` holds (column number, codes, distinct texts, match of
    :data:`CONTROL_CHARACTERS` in each text) of the columns where a text holds one; ``ids`` the codes and
    distinct texts of the ``patient_id`` column."""
    rows, which = [], []
    for k, (_, codes, _, found) in enumerate(marked):
        hit = np.flatnonzero(np.array([m is not None for m in found])[codes])
        rows.append(hit)
        which.append(np.full(len(hit), k))
    rows_at, which_at = np.concatenate(rows), np.concatenate(which)
    order = np.lexsort((which_at, rows_at))
    out = []
    for i, k in zip(rows_at[order].tolist(), which_at[order].tolist()):
        j, codes, texts, found = marked[k]
        pid = ids[1][ids[0][i]] if ids is not None else None
        out.append(_control_problem(header, int(lines[i]), j, texts[codes[i]], found[codes[i]], pid, source))
    return out


def _count(scan: _Scan, table: _Table, pending: list[Problem] | None = None) -> None:
    """Add a table's problems and counts (rows, deaths, alive, followed) to ``scan``.

    ``pending``: problems found while reading the table's rows (control characters, rows of the wrong length),
    merged with the table's by line, a line's pending ones first: so the problems come in the order of their
    lines whatever the chunk sizes of the two readers."""
    problems = _cell_problems(table)
    if pending:
        problems = sorted(pending + problems, key=lambda p: p.line or 0)
    scan.add(problems)
    scan.n_rows += len(table.cells)
    if table.has("dead"):
        scan.n_dead += int(table.numbers["dead"].eq(1).sum())
        scan.n_alive += int(table.numbers["dead"].eq(0).sum())
    if table.has("followup_days"):
        scan.n_followed += int(table.numbers["followup_days"].gt(0).sum())


def _detailed_scan(path: Path, kind: str, source: str, scan: _Scan, keep: bool) -> _Scan:
    """:func:`_scan` line by line with the ``csv`` module (or openpyxl), for any file."""
    layout: list[Problem] = []
    if kind == "xlsx":
        rows = _xlsx_rows(path, layout, source)
    else:
        encoding_problems = _utf8_problems(path, source)
        scan.add(encoding_problems)
        rows = _csv_rows(path, kind, "replace" if encoding_problems else "strict", layout, source)
    header: list[str] | None = None
    seen: dict[str, int] = {}
    lines: list[int] = []
    buffer: list[list[str]] = []
    kept: list[_Table] = []
    pending: list[Problem] = []  # found while reading the rows of the buffer, merged with its problems by line
    chunk = 10**12 if keep else CHUNK_ROWS

    def flush() -> None:
        if not buffer:
            scan.add(pending)
            pending.clear()
            return
        table = _table_from_rows(header, lines, buffer, source, seen)
        _count(scan, table, pending)
        if keep:
            kept.append(table)
        buffer.clear()
        lines.clear()
        pending.clear()

    for line, fields in rows:
        if header is None:
            if "".join(fields).strip():
                header = [h.strip() for h in fields]
                scan.add(_header_problems(header, source) + _control_problems(header, line, fields, source, None, True))
                width = len(header)
                id_at = header.index("patient_id") if "patient_id" in header else None
            continue
        if len(fields) != width:
            if "".join(fields).strip():
                pending.append(_row_length_problem(source, line, fields, width, id_at))
            continue
        joined = "".join(fields)
        if CONTROL_CHARACTERS.search(joined):
            pid = fields[id_at] if id_at is not None else None
            pending.extend(_control_problems(header, line, fields, source, pid))
            fields = [CONTROL_CHARACTERS.sub("", f) for f in fields]
            joined = "".join(fields)
        if not joined.strip():
            continue
        buffer.append(fields)
        lines.append(line)
        if len(buffer) >= chunk:
            flush()
    flush()
    scan.add(layout)
    if header is None and not layout:
        scan.add([Problem(source, None, None, None, "file has no header line (only blank lines)")])
    elif header is not None and scan.n_rows == 0 and not layout:
        scan.add([Problem(source, None, None, None, "file has a header but no patient rows")])
    if keep and kept:
        scan.table = kept[0] if len(kept) == 1 else _Table.concat(kept)
    return scan


def _control_problems(
    header: list[str], line: int, fields: list[str], source: str, pid: str | None, is_header: bool = False
) -> list[Problem]:
    out = []
    for j, cell in enumerate(fields):
        if m := CONTROL_CHARACTERS.search(cell):
            if is_header:
                column = printable(header[j]) if j < len(header) and header[j] else f"number {j + 1}"
                rule = f"column name contains {_character_name(m[0])}: remove it"
                out.append(Problem(source, line, None, column, rule, printable(cell)))
                continue
            out.append(_control_problem(header, line, j, cell, m, pid, source))
    return out


def _control_problem(
    header: list[str], line: int, j: int, cell: str, match: re.Match, pid: str | None, source: str
) -> Problem:
    """Cell ``j`` of a row holds a control or invisible character (``match``, the first)."""
    column = printable(header[j]) if j < len(header) and header[j] else f"number {j + 1}"
    rule = f"contains {_character_name(match[0])}, a control or invisible character: remove it"
    shown = printable(pid.strip()) if pid else None
    return Problem(source, line, shown or None, column, rule, repr(printable(cell)))


def _header_problems(header: list[str], source: str) -> list[Problem]:
    """Duplicate names, missing required columns (with near-miss hints) and near-miss extras."""
    problems = [
        Problem(source, 1, None, name, repeated_names_rule(name, at)) for name, at in repeated_names(header).items()
    ]
    present = set(header)
    hints = {h: _near_miss(h) for h in header if h not in COLUMNS}
    hints = {h: target for h, target in hints.items() if target and target not in present}
    for name in REQUIRED_COLUMNS:
        if name in present or name in ENDPOINT_DAY_COLUMNS.values():
            continue
        found = [h for h, target in hints.items() if target == name]
        hint = f' (found "{found[0]}": rename it to {name})' if found else ""
        problems.append(Problem(source, 1, None, name, f"required column is missing{hint}"))
    for h, target in hints.items():
        if target not in REQUIRED_COLUMNS or target in ENDPOINT_DAY_COLUMNS.values():
            rule = f'is not a column of the contract and is ignored; did you mean "{target}"?'
            problems.append(Problem(source, 1, None, h, rule))
    return problems


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower()).strip("_")


def _near_miss(name: str) -> str | None:
    """The contract column ``name`` was probably meant to be, or None."""
    known = list(CONTRACT_COLUMNS)
    norm = _normalise(name)
    if norm in COLUMNS:
        return norm if norm in known else None
    match = difflib.get_close_matches(norm, known, n=1, cutoff=0.88)
    return match[0] if match else None


def _table_from_rows(
    header: list[str], lines: list[int], rows: list[list[str]], source: str, seen: dict[str, int]
) -> _Table:
    """A table of the contract's columns (first occurrence of each name; cells stripped)."""
    first = {name: header.index(name) for name in dict.fromkeys(header) if name in COLUMNS}
    columns = list(zip(*rows))
    data = {name: [v.strip() for v in columns[i]] for name, i in first.items()}
    cells = pd.DataFrame(data, columns=list(first), dtype=object)
    return _Table(source, header, cells, np.array(lines, dtype=np.int64), seen)


def _table_from_frame(df: pd.DataFrame, source: str) -> tuple[_Table, list[Problem]]:
    header = [str(c).strip() for c in df.columns]
    cells = {}
    for i, name in enumerate(header):
        if name in cells or not name:
            continue
        col = df.iloc[:, i]
        cells[name] = col.astype(object).map(str).str.strip().where(col.notna(), "")
    frame = pd.DataFrame(cells, columns=list(cells), dtype=object).reset_index(drop=True)
    problems = _header_problems(header, source)
    if len(df) == 0:
        problems.append(Problem(source, None, None, None, "cohort has no patient rows"))
    return _Table(source, header, frame, np.arange(len(df)) + 2), problems


# --------------------------------------------------------------------------------------
# Per-column rules (read from the dictionary)
# --------------------------------------------------------------------------------------


def _parse_range(allowed: str) -> tuple[float | None, float | None] | None:
    """``"0-4"`` -> (0, 4); ``">=0"`` -> (0, None); anything else -> None."""
    if m := re.fullmatch(r"(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)", allowed):
        return float(m[1]), float(m[2])
    if m := re.fullmatch(r">=(-?\d+(?:\.\d+)?)", allowed):
        return float(m[1]), None
    return None


def _check_empty(t: _Table, col: Column) -> list[Problem]:
    if col.empty_allowed:
        return []
    empty = t.empty[col.name]
    if col.name == "followup_days" and t.has("dead"):
        dead = t.numbers["dead"].eq(1)
        return t.problems(empty & dead, col.name, "is empty, but dead is 1: give the day of death") + t.problems(
            empty & ~dead, col.name, "is empty, but a value is required"
        )
    return t.problems(empty, col.name, "is empty, but a value is required")


def _check_category(t: _Table, col: Column) -> list[Problem]:
    s = t.cells[col.name]
    bad = ~t.empty[col.name] & ~s.isin(col.choices)
    if not bad.any():
        return []
    lower = {c.lower(): c for c in col.choices}
    hint = s.str.lower().map(lower)
    rule = f"is not one of {col.allowed}"
    return t.problems(bad & hint.notna(), col.name, rule + ' (did you mean "{hint}"?)', s, hint=hint) + t.problems(
        bad & hint.isna(), col.name, rule, s
    )


def _check_number(t: _Table, col: Column) -> list[Problem]:
    s, x = t.cells[col.name], t.numbers[col.name]
    filled = ~t.empty[col.name]
    hint = "; leave the cell empty when there is no value" if col.empty_allowed else ""
    wanted = "whole days" if col.is_days else "a number"
    problems = t.problems(filled & x.isna(), col.name, f"is not a number ({wanted} expected{hint})", s)
    if col.type == "integer":
        whole = "days: use whole days" if col.is_days else "a whole number"
        problems += t.problems(x.notna() & (x != x.round()), col.name, f"is not {whole}", s)
    return problems + _check_allowed_numbers(t, col)


def _check_allowed_numbers(t: _Table, col: Column) -> list[Problem]:
    s, x = t.cells[col.name], t.numbers[col.name]
    bounds = _parse_range(col.allowed)
    if bounds is None:
        allowed = [float(v) for v in col.allowed.split("|")]
        return t.problems(x.notna() & ~x.isin(allowed), col.name, f"is not one of {col.allowed}", s)
    lo, hi = bounds
    problems = []
    outside = f"is outside {col.allowed}"
    if col.is_days and hi is not None:
        outside += f" (days; {int(hi):,} days is {hi / 365.25:.0f} years)"
    if lo is not None:
        rule = f"is negative ({col.name} must be >= 0)" if lo == 0 else outside
        problems += t.problems(x < lo, col.name, rule, s)
    if hi is not None:
        problems += t.problems(x > hi, col.name, outside, s)
    return problems


def _check_unique(t: _Table, col: Column) -> list[Problem]:
    if col.allowed != "unique":
        return []
    s, filled = t.cells[col.name].astype(object), ~t.empty[col.name]
    values, seen = s.tolist(), t.seen
    # the line each value was first seen on in an earlier chunk (NaN: not seen), then in this one
    earlier = pd.Series([seen.get(v, np.nan) for v in values] if seen else np.nan, index=s.index, dtype=float)
    here = dict(zip(reversed(values), reversed(t.lines.tolist())))
    first = earlier.fillna(pd.Series([here[v] for v in values], index=s.index, dtype=float))
    dup = filled & (earlier.notna() | s.duplicated(keep="first"))
    t.seen.update({v: line for v, line in here.items() if v and v not in t.seen})
    return t.problems(dup, col.name, "is a duplicate patient_id (first on line {first})", s, first=first)


_GENE = r"[A-Z0-9][A-Za-z0-9.\-]{0,19}"
_FUSION = rf"{_GENE}::{_GENE}"

#: Free-text columns and the form their values must take: (regex matched in full, what it means). The book
#: prints these values as they are (Table 1 lists every fusion gene found), so this one rule decides what both
#: ``validate`` and ``build`` accept.
TEXT_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "patient_id": (
        re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}"),
        "is not a pseudonymous id: use 1-40 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
    "fusion_gene": (
        re.compile(rf"negative|{_FUSION}(?:/{_FUSION})*"),
        'is not a fusion gene: write it as GENE::GENE (e.g. BCR::ABL1; several joined by "/"), or '
        '"negative" when none was found',
    ),
}


def _check_pattern(t: _Table, col: Column) -> list[Problem]:
    if col.name not in TEXT_PATTERNS:
        return []
    pattern, rule = TEXT_PATTERNS[col.name]
    s = t.cells[col.name]
    # a cell holding U+FFFD came from bytes that are not UTF-8, already reported once for its line
    bad = ~t.empty[col.name] & ~s.map(lambda v: pattern.fullmatch(v) is not None or "\ufffd" in v).astype(bool)
    return t.problems(bad, col.name, rule, s)


_TYPE_CHECKS: dict[str, list[Callable[[_Table, Column], list[Problem]]]] = {
    "string": [_check_empty, _check_pattern, _check_unique],
    "category": [_check_empty, _check_category],
    "integer": [_check_empty, _check_number],
    "number": [_check_empty, _check_number],
}


def _column_problems(t: _Table) -> list[Problem]:
    problems = []
    for name in CONTRACT_COLUMNS:
        if t.has(name):
            col = COLUMNS[name]
            for check in _TYPE_CHECKS[col.type]:
                problems += check(t, col)
    return problems


# --------------------------------------------------------------------------------------
# Rules that tie columns together (one small function each)
# --------------------------------------------------------------------------------------


def _needs(*columns: str):
    """Decorator of a cross-column rule: it runs only when every one of ``columns`` is in the file
    (a missing column is reported once, by the column checks, not again by each rule)."""

    def wrap(rule: Callable[[_Table], list[Problem]]) -> Callable[[_Table], list[Problem]]:
        @functools.wraps(rule)
        def checked(t: _Table) -> list[Problem]:
            return rule(t) if t.has(*columns) else []

        return checked

    return wrap


@_needs("age_first_hsct", "age_second_hsct")
def _ages_in_order(t: _Table) -> list[Problem]:
    first, second = t.numbers["age_first_hsct"], t.numbers["age_second_hsct"]
    rule = "is below age_first_hsct ({first}): the second transplant comes after the first"
    return t.problems(second < first, "age_second_hsct", rule, t.cells["age_second_hsct"], first=first)


@_needs("followup_days", "dead")
def _events_before_end_of_followup(t: _Table) -> list[Problem]:
    end = t.numbers["followup_days"]
    what = pd.Series(np.where(t.numbers["dead"].eq(1), "death", "last follow-up"), index=end.index)
    problems = []
    for column in OUTCOME_DAY_COLUMNS:
        if t.has(column):
            rule = "is after {what} (followup_days {end})"
            problems += t.problems(t.numbers[column] > end, column, rule, t.cells[column], what=what, end=end)
    return problems


@_needs("dead", "cause_of_death")
def _cause_of_death_matches_dead(t: _Table) -> list[Problem]:
    dead, cause_empty = t.numbers["dead"], t.empty["cause_of_death"]
    given = t.problems(
        dead.eq(0) & ~cause_empty,
        "cause_of_death",
        "is given, but dead is 0 (alive): leave it empty",
        t.cells["cause_of_death"],
    )
    missing = t.problems(dead.eq(1) & cause_empty, "cause_of_death", "is empty, but dead is 1: give the cause of death")
    return given + missing


@_needs("cause_of_death", "relapse_days")
def _relapse_death_has_relapse_day(t: _Table) -> list[Problem]:
    bad = t.cells["cause_of_death"].eq("relapse") & t.empty["relapse_days"]
    return t.problems(
        bad, "cause_of_death", "is given, but relapse_days is empty: give the day of relapse", t.cells["cause_of_death"]
    )


def _later_grade_after_earlier(later: str, earlier: str, what: str) -> Callable[[_Table], list[Problem]]:
    """Rule: ``later`` (e.g. grade III–IV aGVHD) needs ``earlier`` and cannot come before it."""

    @_needs(later, earlier)
    def rule(t: _Table) -> list[Problem]:
        x, y = t.numbers[later], t.numbers[earlier]
        alone = x.notna() & t.empty[earlier]
        problems = t.problems(alone, later, f"is given without {earlier}: {what}", t.cells[later])
        before = f"is earlier than {earlier} ({{day}})"
        return problems + t.problems(x < y, later, before, t.cells[later], day=y)

    return rule


@_needs("crs_after_cart", "crs_grade")
def _crs_grade_matches_crs(t: _Table) -> list[Problem]:
    crs, grade, cells = t.cells["crs_after_cart"], t.numbers["crs_grade"], t.cells["crs_grade"]
    empty = t.empty["crs_grade"]
    problems = t.problems(
        crs.eq("no") & (empty | grade.ne(0)), "crs_grade", "must be 0 when crs_after_cart is no", cells
    )
    problems += t.problems(
        crs.eq("yes") & grade.eq(0),
        "crs_grade",
        "is 0, but crs_after_cart is yes (use 1-4, or leave empty if undetermined)",
        cells,
    )
    problems += t.problems(
        crs.eq("unknown") & ~empty, "crs_grade", "is given, but crs_after_cart is unknown: leave it empty", cells
    )
    return problems


@_needs("relapse_site", "days_first_hsct_to_relapse")
def _relapse_day_matches_site(t: _Table) -> list[Problem]:
    site, empty = t.cells["relapse_site"], t.empty["days_first_hsct_to_relapse"]
    column = "days_first_hsct_to_relapse"
    mrd_only = site.eq("MRD-only")
    problems = t.problems(
        mrd_only & ~empty, column, "is given, but relapse_site is MRD-only: leave it empty", t.cells[column]
    )
    overt = site.isin(COLUMNS["relapse_site"].choices) & ~mrd_only & empty
    rule = "is empty, but relapse_site is {site}: give the days from first HSCT to relapse"
    return problems + t.problems(overt, column, rule, site=site)


@_needs("days_first_to_second_hsct")
def _pre_transplant_intervals_in_order(t: _Table) -> list[Problem]:
    gap = t.numbers["days_first_to_second_hsct"]
    problems = []
    for column, what in (
        ("days_first_hsct_to_relapse", "the relapse"),
        ("days_cart_to_second_hsct", "the CAR-T interval"),
    ):
        if t.has(column):
            rule = f"is longer than days_first_to_second_hsct ({{gap}}): {what} must fall between the two transplants"
            problems += t.problems(t.numbers[column] >= gap, column, rule, t.cells[column], gap=gap)
    return problems


_CROSS_RULES: list[Callable[[_Table], list[Problem]]] = [
    _ages_in_order,
    _events_before_end_of_followup,
    _cause_of_death_matches_dead,
    _relapse_death_has_relapse_day,
    _later_grade_after_earlier("agvhd_3_4_days", "agvhd_2_4_days", "grade III–IV acute GVHD is also grade II–IV"),
    _later_grade_after_earlier("cgvhd_extensive_days", "cgvhd_days", "extensive chronic GVHD is also chronic GVHD"),
    _crs_grade_matches_crs,
    _relapse_day_matches_site,
    _pre_transplant_intervals_in_order,
]


def _cell_problems(t: _Table) -> list[Problem]:
    problems = _column_problems(t)
    for rule in _CROSS_RULES:
        problems += rule(t)
    return sorted(problems, key=lambda p: p.line or 0)


# --------------------------------------------------------------------------------------
# Typing and derived endpoints
# --------------------------------------------------------------------------------------


def _typed_column(t: _Table, col: Column) -> pd.Series:
    n = len(t.cells)
    if col.type in ("integer", "number"):
        x = t.numbers[col.name] if t.has(col.name) else pd.Series(np.nan, index=range(n))
        return x.round().astype("Int64") if col.type == "integer" else x.astype(float)
    s = t.cells[col.name] if t.has(col.name) else pd.Series("", index=range(n), dtype=object)
    s = s.where(s != "", None)
    if col.type == "category":
        return pd.Series(pd.Categorical(s, categories=col.choices), index=s.index)
    return s.astype(object)


def _unavailable_endpoints(t: _Table) -> list[str]:
    """Endpoints of ``ENDPOINT_DAY_COLUMNS`` whose days column is absent or entirely empty."""
    return [name for name, column in ENDPOINT_DAY_COLUMNS.items() if not t.has(column) or t.empty[column].all()]


def survival_endpoint_arrays(followup_days, dead, relapse_days) -> dict[str, np.ndarray]:
    """OS, LFS and relapse/NRM from follow-up, death (0/1) and relapse day (NaN: none), in days.

    LFS ends at relapse or at follow-up; relapse/NRM status is 1 relapse, 2 death without
    relapse, 0 censored. The rules are :mod:`hsct_analysis.cohort.standard_endpoints`' (shared
    with study files); this is the one entry point of the loader and the synthetic-cohort calibration.
    """
    fu = np.asarray(followup_days, float)
    rel = standard_endpoints.event_from_days(relapse_days, fu)
    os_ = standard_endpoints.overall_survival(fu, dead)
    lfs = standard_endpoints.leukemia_free_survival(fu, dead, rel)
    rnrm = standard_endpoints.relapse_nrm(fu, dead, rel)
    return {
        "os_time": os_.time,
        "os_event": os_.status,
        "lfs_time": lfs.time,
        "lfs_event": lfs.status,
        "relapse_nrm_time": rnrm.time,
        "relapse_nrm_status": rnrm.status,
    }


def _derive_survival(df: pd.DataFrame) -> None:
    """OS, LFS and relapse/NRM (times in days) added in place, as nullable integers."""
    arrays = survival_endpoint_arrays(
        df["followup_days"].astype("Float64").to_numpy(float, na_value=np.nan),
        df["dead"].astype("Float64").to_numpy(float, na_value=np.nan),
        df["relapse_days"].astype("Float64").to_numpy(float, na_value=np.nan),
    )
    for name, values in arrays.items():
        df[name] = pd.array(np.round(values), dtype="Float64").astype("Int64")


def _derive_competing(df: pd.DataFrame, name: str, available: bool) -> None:
    """``name_time``/``name_status``: 1 event, 2 death before it, 0 censored (NA if not recorded)."""
    if not available:
        df[f"{name}_time"] = pd.array([pd.NA] * len(df), dtype="Int64")
        df[f"{name}_status"] = pd.array([pd.NA] * len(df), dtype="Int64")
        return
    followup = df["followup_days"].astype("Float64").to_numpy(float, na_value=np.nan)
    event = standard_endpoints.event_from_days(
        df[ENDPOINT_DAY_COLUMNS[name]].astype("Float64").to_numpy(float, na_value=np.nan), followup
    )
    dead = df["dead"].astype("Float64").to_numpy(float, na_value=np.nan)
    derived = standard_endpoints.competing_with_death(followup, dead, event)
    df[f"{name}_time"] = pd.array(np.round(derived.time), dtype="Float64").astype("Int64")
    df[f"{name}_status"] = pd.array(derived.status, dtype="Int64")


def _cohort_frame(t: _Table) -> pd.DataFrame:
    df = pd.DataFrame({name: _typed_column(t, COLUMNS[name]) for name in CONTRACT_COLUMNS})
    unavailable = _unavailable_endpoints(t)
    _derive_survival(df)
    for name in ENDPOINT_DAY_COLUMNS:
        _derive_competing(df, name, name not in unavailable)
    df.attrs["source"] = t.source
    df.attrs["unavailable_endpoints"] = unavailable
    return df


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def validate(path: str | Path) -> list[Problem]:
    """Every problem of the cohort file at ``path`` (CSV or .xlsx; empty list = valid). Never raises on bad input.

    The file is read once, ``CHUNK_ROWS`` rows at a time, so memory does not grow with its length; at most
    ``MAX_LISTED`` problems are listed (a last one counts the rest).
    """
    return _scan(path, keep=False).listed()


#: What a cohort needs for the book to estimate anything (``check_for_book``; the "Use your own data" page).
BOOK_MINIMUM = {"patients": 10, "deaths": 2, "alive": 2, "followed": 10}


def check_for_book(path: str | Path) -> tuple[int, list[Problem]]:
    """Number of patient rows and every problem of the file for the book, in one reading of the file.

    This is what ``hsct-book validate`` and ``hsct-book build`` run, so they never disagree: the contract
    (:func:`validate`) plus the book's minimum (``BOOK_MINIMUM``): at least 10 patients, 10 of them followed
    beyond day 0, at least 2 deaths and 2 patients alive at last follow-up. Below that the survival curves,
    the cumulative incidences and the models have nothing to estimate (no event, no one at risk, no
    comparison), and every count would be a small cell.
    """
    scan = _scan(path, keep=False)
    problems = scan.listed()
    if not scan.problems and scan.n_rows:
        problems = _book_minimum_problems(scan)
    return scan.n_rows, problems


def _book_minimum_problems(scan: _Scan) -> list[Problem]:
    found = {"patients": scan.n_rows, "deaths": scan.n_dead, "alive": scan.n_alive, "followed": scan.n_followed}
    what = {
        "patients": "patients",
        "deaths": "deaths (dead = 1)",
        "alive": "patients alive at last follow-up (dead = 0)",
        "followed": "patients followed beyond day 0 (followup_days > 0)",
    }
    return [
        Problem(
            scan.source,
            None,
            None,
            None,
            f"the book needs at least {need} {what[key]}, this cohort has {found[key]}: survival curves, "
            'cumulative incidences and models cannot be estimated on fewer (see "Use your own data")',
        )
        for key, need in BOOK_MINIMUM.items()
        if found[key] < need
    ]


def validate_frame(df: pd.DataFrame, source: str = "<frame>") -> list[Problem]:
    """Every problem of a cohort given as a DataFrame (cells are read as their text)."""
    table, problems = _table_from_frame(df, source)
    return problems + _cell_problems(table)


def load_cohort(path: str | Path) -> pd.DataFrame:
    """Read, validate and type a cohort CSV; add the derived endpoints (days).

    Returns one row per patient with the contract columns (days as ``Int64``, numbers as
    float, categories as ``category``) plus ``os_*``, ``lfs_*``, ``relapse_nrm_*`` and, for
    each endpoint of ``ENDPOINT_DAY_COLUMNS``, ``<name>_time``/``<name>_status``. ``attrs["source"]`` is
    the path, ``attrs["unavailable_endpoints"]`` the endpoints not recorded. Extra columns are
    dropped. Raises :class:`CohortError` listing every problem.
    """
    scan = _scan(path, keep=True)
    if scan.problems:
        raise CohortError(scan.listed())
    return _cohort_frame(scan.table)


def load_cohort_frame(df: pd.DataFrame, source: str = "<frame>") -> pd.DataFrame:
    """:func:`load_cohort` for a DataFrame (e.g. the synthetic generator's output)."""
    table, problems = _table_from_frame(df, source)
    problems += _cell_problems(table)
    if problems:
        raise CohortError(problems)
    return _cohort_frame(table)


def write_template(directory: str | Path) -> tuple[Path, Path]:
    """Write ``cohort_template.csv`` (header only: required then optional columns) and
    ``dictionary.csv`` into ``directory`` (created if needed); return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    template = directory / "cohort_template.csv"
    template.write_text(",".join(CONTRACT_COLUMNS) + "\n", encoding="utf-8")
    dictionary = directory / DICTIONARY_FILE
    shutil.copyfile(dictionary_path(), dictionary)
    return template, dictionary


def plain_numbers(cohort: pd.DataFrame) -> pd.DataFrame:
    """A copy with nullable integer columns as float (NaN for missing), so comparisons never meet pd.NA."""
    out = cohort.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.Int64Dtype) or str(out[col].dtype) in ("Int64", "Int32", "boolean"):
            out[col] = out[col].astype("float64")
    return out
