"""Every page of the built book, opened in headless Chromium with the network cut, at 1400 and 390 px.

A reader's browser, not the HTML source, decides what is seen: formulas typeset by MathJax, tables that fit or
scroll in their own frame, figures that load, links that lead somewhere. The book is served from 127.0.0.1 and
any other request is aborted (tests/browser.py). Chromium is Debian's (``apt-get install chromium``; ``.ci/run``
installs it); without it the test is skipped on a developer's machine and fails under CI.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

import browser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _need_chromium() -> str:
    path = browser.chromium_path()
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "Chromium and playwright are needed (apt-get install chromium; pip install -e .[dev])"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI must run this test")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def seen(bundled_book):
    """(page, width) -> (PageReport, problems by kind) for every page of the bundled book."""
    from hsct_analysis.book import figures

    executable = _need_chromium()
    raster_font = (figures.SMALLEST_FONT_PT, figures.DPI)
    results = {}
    with browser.serve(bundled_book) as base, browser.offline_browser(executable) as chromium:
        for rel in browser.book_pages(bundled_book):
            for kind, width in browser.WIDTHS.items():
                report = browser.check_page(chromium, base, rel, width, browser.HEIGHTS[kind])
                results[rel, width] = (report, browser.page_problems(bundled_book, base, report, raster_font))
    return results


def _found(seen, kind: str) -> list[str]:
    return [f"{page} @{width}: {line}" for (page, width), (_, problems) in seen.items() for line in problems[kind]]


def test_every_toc_page_was_opened(seen, bundled_book):
    from hsct_analysis.book import build

    opened = {page for page, _ in seen}
    assert {f"{entry}.html" for entry in build.toc_entries(ROOT / "_toc.yml")} <= opened


@pytest.mark.parametrize("kind", ["console errors", "requests needing the network", "missing files"])
def test_pages_load_cleanly_offline(seen, kind):
    assert _found(seen, kind) == []


def test_formulas_render_without_network(seen):
    assert _found(seen, "formulas") == []
    typeset = sum(report.math_rendered for report, _ in seen.values())
    assert typeset > 0, "no page has a typeset formula: the methods pages have dozens"


def test_no_page_scrolls_sideways_on_a_phone(seen):
    assert _found(seen, "sideways") == []


# Reference pages whose subject is names a reader types: the API (functions), the data dictionary (the cohort
# file's column names) and the study file (its YAML keys).
CODE_PAGES = {"book/api", "book/data_dictionary", "book/study_file"}


def _toc_pages() -> list:
    from hsct_analysis.book import build

    return [entry for entry in build.toc_entries(ROOT / "_toc.yml") if entry not in CODE_PAGES]


@pytest.mark.parametrize("entry", _toc_pages())
def test_reader_text_has_no_code_names(seen, entry):
    found = [
        line
        for (page, width), (_, problems) in seen.items()
        if page == f"{entry}.html"
        for line in problems["code names"]
    ]
    assert found == []


def test_every_link_inside_the_book_exists(seen):
    assert _found(seen, "links") == []


def test_figures_load_and_their_text_is_readable(seen):
    assert _found(seen, "figures") == []


def _tracked_files() -> set[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    return set(out.stdout.splitlines())


def _launch_path(url: str, repo: str) -> str | None:
    """The repository path a launch button opens: Binder's/JupyterHub's ``urlpath=lab/tree/...``."""
    query = parse_qs(urlsplit(url).query)
    if "urlpath" not in query:
        return None
    path = unquote(query["urlpath"][0]).removeprefix("lab/tree/").removeprefix("tree/")
    return path.removeprefix(repo.rsplit("/", 1)[-1] + "/")


def test_launch_buttons_open_files_git_tracks(seen):
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]["url"].rstrip("/")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = _tracked_files()
    launched, bad = set(), []
    for (page, _width), (report, _) in seen.items():
        for url in report.links:
            if "mybinder.org" in url or "/hub/user-redirect" in url:
                path = _launch_path(url, repo)
                launched.add(path)
                if path not in tracked:
                    bad.append(f"{page}: launches {path}, which git does not track")
                assert repo.split("github.com/")[-1] in unquote(url), url
    assert bad == []
    chapters = {p for p in launched if p and p.startswith("notebooks/")}
    assert len(chapters) >= 10, f"launch buttons found only for {sorted(launched)}"


def test_every_page_states_its_provenance(seen, bundled_book):
    import hashlib

    from hsct_analysis.book import sphinx_ext

    cohort_hash = hashlib.sha256((ROOT / "data" / "cohort.csv").read_bytes()).hexdigest()[:16]
    date = sphinx_ext.source_date(ROOT)
    assert date is not None or not (ROOT / ".git").exists()
    missing = []
    for page in {page for page, _ in seen}:
        html = (bundled_book / page).read_text(encoding="utf-8")
        footer = re.search(r'<p class="hsct-provenance">(.*?)</p>', html, re.S)
        if (
            footer is None
            or cohort_hash not in footer.group(1)
            or f"Date of the source: {date or 'unknown'}" not in footer.group(1)
            or "numpy " not in footer.group(1)
        ):
            missing.append(page)
    assert missing == []


def test_a_printed_page_shows_its_folded_outputs(bundled_book):
    """A clinician forwards a page as PDF: the outputs folded under "Show code cell outputs" (chapter 6's comparison
    with the paper) must be in it. Printing opens them (static/hsct.js), and they fold again afterwards."""
    executable = _need_chromium()
    with browser.serve(bundled_book) as base, browser.offline_browser(executable) as chromium:
        page = chromium.new_page()
        page.goto(base + "book/06_univariate.html")
        folded = "() => Array.from(document.querySelectorAll('details.above-output'), d => d.open)"
        text = "() => document.body.innerText"  # what is rendered: a folded output is not
        assert page.evaluate(folded) and not any(page.evaluate(folded))
        before = page.evaluate(text)
        page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        assert all(page.evaluate(folded))
        printed = page.evaluate(text)
        assert len(printed) > len(before) + 1000  # the comparison table with the paper, row by row
        page.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
        assert not any(page.evaluate(folded)) and page.evaluate(text) == before
