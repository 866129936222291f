"""Every chapter builds alone (``--chapter NAME``), and two clean builds are byte-identical but for one stamp."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from book_runs import ROOT, build_args, hsct_book, project_copy
from hsct_analysis.book import build

COHORT = ROOT / "data" / "cohort.csv"
CHAPTERS = [
    e.removeprefix("book/") for e in build.toc_entries(ROOT / "_toc.yml") if build.notebook_source(e, ROOT).exists()
]

pytestmark = pytest.mark.slow


def test_there_are_chapters_and_methods_pages():
    assert len(CHAPTERS) >= 15 and "05_survival" in CHAPTERS and any(c.startswith("methods/") for c in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_builds_alone(chapter, tmp_path):
    out = tmp_path / "site"
    result = hsct_book(*build_args(COHORT, out, None, "--chapter", chapter, "--jobs", "1"), timeout=3600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "book" / f"{chapter}.html").exists()
    others = [c for c in CHAPTERS if c != chapter]
    assert [c for c in others if (out / "book" / f"{c}.html").exists()] == []  # only that chapter was built


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_two_clean_builds_are_byte_identical_but_for_the_stamp(tmp_path):
    digests = []
    for run in ("a", "b"):
        project = project_copy(tmp_path / run)
        out = tmp_path / run / "site"
        chapters = ("--chapter", "01_cohort", "--chapter", "05_survival", "--min-cell", "5")
        result = hsct_book(*build_args(COHORT, out, project, *chapters), timeout=3600)
        assert result.returncode == 0, result.stdout + result.stderr
        digests.append(tree_digest(out))
    a, b = digests
    assert set(a) == set(b)
    differing = sorted(name for name in a if a[name] != b[name])
    assert differing == [build.STAMP_NAME]
