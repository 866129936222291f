"""The screening log: every patient screened for a study, enrolled or not, and why not.

A cohort file holds the enrolled patients only, so it cannot say how many patients were screened, nor why
some were left out: the first box of a STROBE flow diagram. A screening log can. It is a CSV file with a
header and one row per screened patient:

- ``patient_id``: the patient's identifier, as in the cohort file;
- ``exclusion_reason``: empty for an enrolled patient; otherwise why the patient was not enrolled, in words
  (the same words for the same reason: the book counts patients per reason).

Other columns are allowed and ignored. By convention the log of a cohort file lives beside it as
``screening.csv`` (:data:`SCREENING_LOG`, :func:`beside`), for a cohort in the data contract's columns and for a
study's cohort file alike (a study whose cohort has no identifier column names each patient by its line in the
cohort file, ``2`` for the first: the log uses those).

:func:`read_enrolment` checks the log against the cohort and returns the flow (:class:`EnrolmentFlow`):
screened, excluded by reason, enrolled. Every broken rule is a :class:`~hsct_analysis.cohort.contract.Problem`
naming the file, line, patient, column and rule:

1. the file is UTF-8 text (a byte-order mark is allowed), comma-separated, with a header naming both columns once;
2. every row has as many cells as the header, and a patient identifier used by no other row;
3. no cell holds a control character (a line break or a tab reads as a space);
4. a row without a reason is a patient of the cohort, and a row with one is not;
5. every patient of the cohort has a row.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hsct_analysis.cohort.contract import CONTROL_CHARACTERS, Problem, printable, problem_count

#: The file name of a cohort's screening log, beside the cohort file.
SCREENING_LOG = "screening.csv"
#: The columns of a screening log (a study file may name others).
ID_COLUMN = "patient_id"
REASON_COLUMN = "exclusion_reason"


@dataclass(frozen=True)
class EnrolmentFlow:
    """Patients screened, excluded (reason -> patients, in the order the log first gives each reason) and enrolled,
    from the screening log ``source``."""

    source: str
    screened: int
    enrolled: int
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def n_excluded(self) -> int:
        """Patients screened and not enrolled."""
        return sum(self.excluded.values())


class EnrolmentError(ValueError):
    """Raised by :func:`read_enrolment` with every problem found; ``.problems`` holds them."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        source = self.problems[0].file if self.problems else "screening log"
        head = f"{problem_count(self.problems)} problem(s) in screening log {source}:"
        super().__init__("\n".join([head] + [f"  {p}" for p in self.problems]))


def beside(cohort_path: str | Path) -> Path:
    """Where the screening log of the cohort file ``cohort_path`` lives by convention: ``screening.csv`` beside it."""
    return Path(cohort_path).with_name(SCREENING_LOG)


def has_log(cohort_path: str | Path) -> bool:
    """Whether anything is named ``screening.csv`` beside the cohort file: a file, but also a folder or a link that
    leads nowhere, which the reader then reports rather than passing over."""
    return os.path.lexists(beside(cohort_path))


def logs_beside(cohort_path: str | Path) -> list[Path]:
    """The screening log beside the cohort file, in a list, when it is a file (empty otherwise): what a build hashes
    into its cache key, or copies with the cohort."""
    log = beside(cohort_path)
    return [log] if log.is_file() else []


def _text(path: Path, source: str, problems: list[Problem]) -> str | None:
    """The file's text, or None with the problem that stops reading it."""
    try:
        data = path.read_bytes()
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        rule = "is a link to a file that does not exist" if path.is_symlink() else "does not exist"
        problems.append(Problem(source, None, None, None, rule))
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        rule = f"is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as CSV UTF-8"
        problems.append(Problem(source, line, None, None, rule))
    except OSError as exc:  # a folder, a loop of links, no permission
        problems.append(Problem(source, None, None, None, f"cannot be read as a file ({exc.strerror or exc})"))
    return None


def _header_problems(source: str, header: list[str]) -> list[Problem]:
    """What is wrong with the header row before its columns are looked up."""
    if len(header) == 1 and ";" in header[0]:
        return [Problem(source, 1, None, None, "is separated by semicolons; save it as CSV with commas")]
    out = [
        Problem(source, 1, None, None, "the header holds a control or invisible character", printable(name))
        for name in header
        if CONTROL_CHARACTERS.search(name)
    ]
    seen: set[str] = set()
    for name in header:
        if name in seen and name:
            out.append(Problem(source, 1, None, name, "is named twice in the header"))
        seen.add(name)
    return out


def _rows(path: Path, source: str, problems: list[Problem]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (first line, cells) of every row of a CSV file; problems where it cannot be read as one."""
    text = _text(path, source, problems)
    if text is None:
        return [], []
    if not text.strip():
        problems.append(Problem(source, None, None, None, "is empty; it needs a header and one row per patient"))
        return [], []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            if header is None:
                header = [c.strip() for c in cells]
            elif any(c.strip() for c in cells):  # a blank line is no patient
                out.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        rule = (
            "opens a quote that is never closed"
            if "end of data" in str(exc) or "EOF" in str(exc)
            else f"is not valid CSV ({exc})"
        )
        problems.append(Problem(source, start, None, None, rule))
    problems += _header_problems(source, header or [])
    return header or [], out


def _cell_problems(source: str, line: int, pid: str | None, header: list[str], cells: list[str]) -> list[Problem]:
    if len(cells) != len(header):
        return [
            Problem(source, line, pid, None, f"row has {len(cells)} values but the header has {len(header)} columns")
        ]
    return [
        Problem(source, line, pid, name, "holds a control character", printable(value))
        for name, value in zip(header, cells)
        if CONTROL_CHARACTERS.search(" ".join(value.split()))  # line breaks and tabs are spaces (Alt+Enter in Excel)
    ]


def read_enrolment(
    path: str | Path,
    cohort_ids,
    cohort_source: str = "the cohort",
    id_column: str = ID_COLUMN,
    reason_column: str = REASON_COLUMN,
) -> EnrolmentFlow:
    """Read the screening log at ``path``, check it against the identifiers of the enrolled cohort
    (``cohort_ids``, from the file ``cohort_source``), and return the flow. Raises :class:`EnrolmentError` with
    every problem (see the module docstring); never raises anything else on bad input."""
    path = Path(path)
    source = path.name
    problems: list[Problem] = []
    header, rows = _rows(path, source, problems)
    if not problems:
        missing = [c for c in (id_column, reason_column) if c not in header]
        problems += [Problem(source, 1, None, c, "is not a column of the header") for c in missing]
    if problems:
        raise EnrolmentError(problems)
    at_id, at_reason = header.index(id_column), header.index(reason_column)
    enrolled_ids = {str(i) for i in cohort_ids}
    seen: dict[str, int] = {}
    excluded: dict[str, int] = {}
    screened = enrolled = 0
    for line, cells in rows:
        pid = cells[at_id].strip() if at_id < len(cells) else ""
        shown = printable(pid) if pid else None
        found = _cell_problems(source, line, shown, header, cells)
        problems += found
        if found:
            if pid:
                seen.setdefault(pid, line)  # the row is there, broken: not also "no row"
            continue
        reason = " ".join(cells[at_reason].split())
        if not pid:
            problems.append(Problem(source, line, None, id_column, "is empty; every screened patient needs an id"))
            continue
        if pid in seen:
            problems.append(Problem(source, line, shown, id_column, f"repeats the identifier of line {seen[pid]}"))
            continue
        seen[pid] = line
        screened += 1
        enrolled += not reason
        if not reason and pid not in enrolled_ids:
            rule = (
                f"is empty (enrolled), but the patient is not in {cohort_source}; give the reason for excluding the "
                "patient, or add the patient to the cohort"
            )
            problems.append(Problem(source, line, shown, reason_column, rule))
        elif reason and pid in enrolled_ids:
            rule = (
                f"gives a reason for excluding a patient who is in {cohort_source}; leave it empty for an enrolled one"
            )
            problems.append(Problem(source, line, shown, reason_column, rule, printable(reason)))
        elif reason:
            excluded[reason] = excluded.get(reason, 0) + 1
    for pid in sorted(enrolled_ids - set(seen)):
        problems.append(
            Problem(
                source, None, printable(pid), id_column, f"is a patient of {cohort_source} but has no row in the log"
            )
        )
    if problems:
        raise EnrolmentError(problems)
    return EnrolmentFlow(str(path), screened, enrolled, excluded)


def flow_beside(cohort_path: str | Path, ids) -> EnrolmentFlow | None:
    """The flow from the screening log beside the cohort file ``cohort_path`` (:func:`beside`), checked against the
    cohort's patient identifiers ``ids``; None when there is no log. Raises :class:`EnrolmentError`."""
    if not has_log(cohort_path):
        return None
    return read_enrolment(beside(cohort_path), [str(i) for i in ids], Path(cohort_path).name)


def problems_beside(cohort_path: str | Path, ids=None) -> list[Problem]:
    """Every problem of the screening log beside a valid cohort file (:func:`beside`); none when there is no log.
    ``ids``: the cohort's patient identifiers (default: read from a cohort in the data contract's columns). What
    ``hsct-book validate`` adds to the cohort's own problems, so that what validates builds."""
    from hsct_analysis.cohort.contract import load_cohort

    if not has_log(cohort_path):
        return []
    try:
        flow_beside(cohort_path, load_cohort(cohort_path)["patient_id"] if ids is None else ids)
    except EnrolmentError as exc:
        return exc.problems
    return []


def flow_table(flow: EnrolmentFlow) -> pd.DataFrame:
    """The flow as rows (``step``, ``patients``): screened, each exclusion reason, enrolled. Counts are patients."""
    rows = [("Screened", flow.screened)]
    rows += [(f"Excluded: {reason}", n) for reason, n in flow.excluded.items()]
    rows += [("Enrolled and analysed", flow.enrolled)]
    return pd.DataFrame(rows, columns=["step", "patients"])
