"""Patient identifiers that look like national identity numbers: a warning, never an error.

A cohort file should name its patients by study codes (``P001``), with the key that links a code to a person kept
elsewhere. A file whose identifiers are personal numbers identifies every patient, and so would anything built from
it that shows one. The shapes checked here test a number's own structure (a date of birth, a check digit), so an
ordinary registry code rarely matches; but some do by chance (about 1 in 10 date-and-sequence codes
``YYYYMMDD-NNNN`` pass the Swedish check digit, and every ``NNN-NN-NNNN`` code has the US social security shape).
So ``hsct-book validate`` and ``build`` print a warning, and go on: one line per shape, naming how many patients
and their first lines, never the identifiers themselves.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

#: Lines named in a warning before "and N more".
SHOWN_LINES = 5


def _valid_date(text: str) -> bool:
    """Whether ``text`` (YYYYMMDD) is a calendar date from 1900 on."""
    try:
        return datetime.date(int(text[:4]), int(text[4:6]), int(text[6:8])).year >= 1900
    except ValueError:
        return False


def _luhn(digits: str) -> bool:
    total = 0
    for k, d in enumerate(reversed(digits)):
        x = int(d) * (2 if k % 2 else 1)
        total += x - 9 if x > 9 else x
    return total % 10 == 0


def _china_resident_id(v: str) -> bool:
    """18 characters: region (6 digits), birth date (YYYYMMDD), sequence (3) and its ISO 7064 MOD 11-2 check."""
    if not re.fullmatch(r"\d{17}[\dXx]", v) or not _valid_date(v[6:14]):
        return False
    weights = [2 ** (17 - k) % 11 for k in range(17)]
    check = (12 - sum(int(d) * w for d, w in zip(v[:17], weights)) % 11) % 11
    return v[17].upper() == ("X" if check == 10 else str(check))


def _swedish_personal_number(v: str) -> bool:
    """(YY)YYMMDD-NNNN or +NNNN whose last ten digits pass the Luhn check."""
    m = re.fullmatch(r"(\d{2})?(\d{6})[-+](\d{4})", v)
    if not m:
        return False
    return _valid_date((m.group(1) or "19") + m.group(2)) and _luhn(m.group(2) + m.group(3))


def _us_social_security_number(v: str) -> bool:
    """AAA-GG-SSSS with an area other than 000, 666 and 900-999, a group other than 00, a serial other than 0000."""
    m = re.fullmatch(r"(\d{3})-(\d{2})-(\d{4})", v)
    return bool(m) and m[1] not in ("000", "666") and m[1][0] != "9" and m[2] != "00" and m[3] != "0000"


#: The shapes checked: (what, test). Each test reads the number's own structure.
NATIONAL_ID_SHAPES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("a Chinese resident identity number (birth date and check digit fit)", _china_resident_id),
    ("a Swedish personal identity number (birth date and check digit fit)", _swedish_personal_number),
    ("a US social security number (area, group and serial fit)", _us_social_security_number),
)
_MAYBE = re.compile(r"[\d+\-Xx]{11,18}")


def national_id_kind(value: str) -> str | None:
    """Which national identity number ``value`` is shaped like (:data:`NATIONAL_ID_SHAPES`), or None."""
    value = str(value).strip()
    if not _MAYBE.fullmatch(value):
        return None
    return next((kind for kind, test in NATIONAL_ID_SHAPES if test(value)), None)


@dataclass(frozen=True)
class IdentifierWarning:
    """``count`` identifiers of ``column`` in ``file`` shaped like ``kind``, on ``lines`` (file lines, header = 1)."""

    file: str
    column: str
    kind: str
    count: int
    lines: tuple[int, ...]

    def __str__(self) -> str:
        shown = ", ".join(str(n) for n in self.lines[:SHOWN_LINES])
        more = f" and {self.count - SHOWN_LINES} more" if self.count > SHOWN_LINES else ""
        return (
            f"warning: {self.file}, column {self.column}: {self.count} identifier(s) (line(s) {shown}{more}) are "
            f"shaped like {self.kind}. If they are, replace them with study codes (e.g. P001) before the file or "
            "the book leaves your institution, and keep the key elsewhere; a registry code can match by chance, "
            "so this is a warning, not an error."
        )


def identifier_warnings(ids: Iterable, file: str, column: str, first_line: int = 2) -> list[IdentifierWarning]:
    """One warning per national-id shape that some of ``ids`` (in file order, the first on line ``first_line``)
    have; empty when none has."""
    found: dict[str, list[int]] = {}
    for k, value in enumerate(ids):
        kind = None if value is None else national_id_kind(value)
        if kind is not None:
            found.setdefault(kind, []).append(first_line + k)
    return [IdentifierWarning(file, column, kind, len(lines), tuple(lines)) for kind, lines in found.items()]


def cohort_file_warnings(path: str | Path, column: str = "patient_id") -> list[IdentifierWarning]:
    """:func:`identifier_warnings` of the ``column`` of a cohort file (CSV or .xlsx) that has validated; none when the
    file has no such column or cannot be read (the validation says why)."""
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix.lower() == ".xlsx":
            frame = pd.read_excel(path, usecols=[column], dtype=str, keep_default_na=False)
        else:
            frame = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError):
        return []
    return identifier_warnings(frame[column], path.name, column)
