"""Shared fixtures: the hand-made tiny cohort and a writer for edited copies of it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_cohort.csv"
ROOT = Path(__file__).resolve().parents[1]


def read_tiny() -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows (as dicts of text) of tests/data/tiny_cohort.csv."""
    with TINY.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


@pytest.fixture
def tiny_path() -> Path:
    return TINY


@pytest.fixture
def write_tiny(tmp_path):
    """Write an edited copy of the tiny cohort; returns its path.

    ``edits`` maps patient_id -> {column: new text}; ``drop`` removes columns;
    ``rename`` renames header columns; ``add`` appends columns (name -> text for every row).
    """

    def write(edits=None, drop=(), rename=None, add=None, name="cohort.csv") -> Path:
        header, rows = read_tiny()
        for row in rows:
            row.update((edits or {}).get(row["patient_id"], {}))
            row.update(add or {})
        columns = [c for c in header if c not in drop] + list(add or {})
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([(rename or {}).get(c, c) for c in columns])
            writer.writerows([[row[c] for c in columns] for row in rows])
        return path

    return write


@pytest.fixture(scope="session")
def bundled_book(tmp_path_factory) -> Path:
    """The whole book built once per test session on the shipped synthetic cohort (its HTML folder)."""
    from hsct_analysis.book import build

    out = tmp_path_factory.mktemp("book") / "html"
    build.build_book(ROOT / "data" / "cohort.csv", out, jobs=2, progress=lambda line: None)
    return out
