"""The build is the integration test: the whole book on the shipped synthetic cohort.

One full `build_book` run (module-scoped; ~2 minutes on 2 cores) and then assertions on the
HTML: every page of the table of contents exists, chapters carry their figures, nothing shows
an error or a traceback, and the headline numbers printed in the pages are the scorecard's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hsct_analysis.book import build
from hsct_analysis.paper import scorecard

pytestmark = pytest.mark.slow  # every test here builds or runs a whole book

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "cohort.csv"
# chapters whose argument is a figure: each must render at least this many images
MIN_FIGURES = {
    "book/01_cohort": 2,
    "book/02_engraftment": 1,
    "book/03_gvhd": 2,
    "book/04_infections_deaths": 2,
    "book/05_survival": 3,
    "book/07_multivariate": 1,
    "book/09_paper_estimator": 1,
    "book/methods/km_greenwood": 1,
    "book/methods/competing_risks": 1,
}


@pytest.fixture(scope="module")
def book(bundled_book) -> Path:
    return bundled_book


@pytest.fixture(scope="module")
def card():
    return scorecard.scorecard_for(COHORT)  # as the book computes it: with the screening log beside the cohort


def page(book: Path, entry: str) -> str:
    return (book / f"{entry}.html").read_text(encoding="utf-8")


def visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_toc_page_is_built(book):
    entries = build.toc_entries(ROOT / "_toc.yml")
    missing = [e for e in entries if not (book / f"{e}.html").exists()]
    assert entries and not missing


@pytest.mark.parametrize("entry,n", sorted(MIN_FIGURES.items()))
def test_chapters_have_their_figures(book, entry, n):
    assert page(book, entry).count("<img") >= n


def test_every_figure_has_its_caption_as_its_text_alternative(book):
    """A figure's ``alt`` is its caption (for screen readers, and where the image does not load), never the file."""
    images = []
    for entry in MIN_FIGURES:
        for figure in re.findall(r"<figure\b.*?</figure>", page(book, entry), re.S):
            (alt,) = re.findall(r'<img\b[^>]*\balt="([^"]*)"', figure)
            caption = visible_text(re.search(r"<figcaption\b.*?</figcaption>", figure, re.S)[0])
            images.append((entry, alt, caption))
    assert len(images) >= 15
    assert [(e, alt) for e, alt, _ in images if alt.endswith(".png") or not alt] == []
    assert all(" ".join(alt.split()[:4]) in caption for _, alt, caption in images)


def test_no_page_shows_an_error(book):
    bad = []
    for html in book.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        if "Traceback" in text or "output stderr" in text or "output error" in text:
            bad.append(html.name)
    assert not bad


def test_every_page_says_the_cohort_is_synthetic(book):
    for entry in build.toc_entries(ROOT / "_toc.yml"):
        assert "synthetic" in page(book, entry).lower(), entry


@pytest.mark.parametrize("entry_id", ["abs.os.3y.est", "abs.lfs.3y.est", "abs.relapse.3y.est", "abs.nrm.3y.est"])
def test_headline_numbers_equal_the_scorecard(book, card, entry_id):
    reproduced = card.set_index("id").loc[entry_id, "reproduced"]
    assert f"{reproduced:.1f}" in visible_text(page(book, "book/05_survival"))


def test_scorecard_page_prints_the_pass_rates(book, card):
    rates = scorecard.pass_rates(card)
    text = visible_text(page(book, "book/08_scorecard"))
    assert f"{100 * rates['overall']:.1f}%" in text
    assert f"{100 * rates['non_conflicting']:.1f}%" in text


def test_no_table_has_a_header_row_of_its_row_index_names_alone(book):
    """The names of a table's row index ("Factor", "Level") sit beside the column headings, not on a row of their own
    under blank headings, which reads as an empty first row of the table. (A pivot table whose column levels have
    a name of their own in that corner keeps both rows: a methods page shows it as its code made it.)"""

    def texts(row):
        return [re.sub(r"<[^>]+>|&nbsp;", "", c).strip() for c in re.findall(r"<th\b.*?</th>", row, re.S)]

    alone, merged = [], 0
    for html in book.rglob("*.html"):
        for head in re.findall(r"<thead>(.*?)</thead>", html.read_text(encoding="utf-8"), re.S):
            rows = [texts(row) for row in re.findall(r"<tr\b.*?</tr>", head, re.S)]
            names = next((i for i, c in enumerate(rows[-1]) if not c), len(rows[-1]))  # leading names
            merged += len(rows) == 1 and "Level" in rows[0]
            if len(rows) > 1 and names and not any(rows[-1][names:]) and not any(rows[-2][:names]):
                alone.append((html.name, rows[-1][:names]))
    assert alone == [] and merged >= 2  # the univariate and survival chapters' "Factor, Level" tables
