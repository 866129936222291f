"""The book's Sphinx extension without a build: labels, provenance, launch targets."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from hsct_analysis.book import sphinx_ext

ROOT = Path(__file__).resolve().parents[1]


def _labels(bib: str) -> list[str]:
    from pybtex.database import parse_string
    from pybtex.plugin import find_plugin

    sphinx_ext.register_bibliography_style()
    entries = list(parse_string(bib, "bibtex").entries.values())
    return list(find_plugin("pybtex.style.labels", "hsct_author_year")().format_labels(entries))


def test_bibliography_labels_are_author_year():
    bib = """
    @article{a, author={Cao, Xia and Zhang, Li and Zhou, Wei}, year={2023}, title={T}, journal={J}}
    @article{b, author={Kaplan, Edward L. and Meier, Paul}, year={1958}, title={T}, journal={J}}
    @article{c, author={Gray, Robert J.}, year={1988}, title={T}, journal={J}}
    @article{d, author={Gray, Robert J.}, year={1988}, title={U}, journal={J}}
    """
    assert _labels(bib) == ["Cao et al., 2023", "Kaplan and Meier, 1958", "Gray, 1988a", "Gray, 1988b"]


def test_the_books_references_get_distinct_author_year_labels():
    labels = _labels((ROOT / "references.bib").read_text(encoding="utf-8"))
    assert "Cao et al., 2023" in labels and "Grambsch and Therneau, 1994" in labels
    assert len(labels) == len(set(labels))


def test_source_date_comes_from_source_date_epoch_not_the_clock(tmp_path):
    assert sphinx_ext.source_date(tmp_path, {"SOURCE_DATE_EPOCH": "0"}) == "1970-01-01"
    assert sphinx_ext.source_date(tmp_path, {"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14"
    assert sphinx_ext.source_date(tmp_path, {}) is None  # not a git checkout, no epoch: unknown, not today
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH"):
        sphinx_ext.source_date(tmp_path, {"SOURCE_DATE_EPOCH": "yesterday"})


def test_source_date_is_the_commit_date_in_a_checkout():
    import datetime as dt

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    stamp = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=True
    ).stdout.strip()
    expected = dt.datetime.fromtimestamp(int(stamp), tz=dt.UTC).strftime("%Y-%m-%d")
    assert sphinx_ext.source_date(ROOT, {}) == expected


def test_provenance_names_version_commit_cohort_hash_and_libraries(tmp_path):
    cohort = tmp_path / "my cohort.csv"
    cohort.write_bytes(b"patient_id\n1\n")
    values = sphinx_ext.provenance(tmp_path, cohort, {"SOURCE_DATE_EPOCH": "86400"})
    assert values["commit"] == "not a git checkout"
    assert values["date"] == "1970-01-02"
    assert hashlib.sha256(b"patient_id\n1\n").hexdigest()[:16] in values["cohort"]
    assert values["package"].startswith("hsct-analysis ")
    assert "pandas " in values["libraries"] and "lifelines " in values["libraries"]
    html = sphinx_ext.provenance_html({**values, "cohort": "<script>x</script>"})
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_launch_buttons_point_at_tracked_notebooks():
    assert sphinx_ext.notebook_for("book/05_survival") == "notebooks/05_survival.ipynb"
    assert sphinx_ext.notebook_for("book/methods/power") == "notebooks/methods/power.ipynb"
    assert sphinx_ext.notebook_for("index") is None
    buttons = [
        {
            "type": "group",
            "buttons": [{"url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/book/05_survival.ipynb"}],
        }
    ]
    sphinx_ext.retarget_buttons(buttons, "book/05_survival.ipynb", "notebooks/05_survival.ipynb")
    assert buttons[0]["buttons"][0]["url"].endswith("lab/tree/notebooks/05_survival.ipynb")


def test_report_chapters_hide_their_code_behind_a_toggle(tmp_path):
    import nbformat

    from hsct_analysis.book import build

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("table()"),
        nbformat.v4.new_code_cell("figure()", metadata={"tags": ["remove-input"]}),
        nbformat.v4.new_markdown_cell("Prose"),
    ]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    build.finish_executed(path, tmp_path / "cohort.csv", "cohort.csv", hide_code=True)
    tags = [c.metadata.get("tags", []) for c in nbformat.read(path, as_version=4).cells]
    assert tags == [["parameters", "remove-cell"], ["hide-input"], ["remove-input"], []]
    assert build.is_report_chapter("book/05_survival") and not build.is_report_chapter("book/methods/power")


def test_the_theme_prints_a_users_title_and_author_as_text():
    """A study file's title and authors are user text: the navbar (raw) and <title> (escaping) both show them
    as typed, never as markup."""
    import jinja2

    from hsct_analysis.book import sphinx_ext

    class App:
        class config:
            hsct_provenance = {}

    context = {"docstitle": "Relapse <script>x</script> & GVHD", "author": "A <b>B</b>", "body": ""}
    sphinx_ext._page_context(App, "book/study/00_about", "page.html", context, None)
    env = jinja2.Environment(autoescape=False)
    raw = env.from_string("{{ docstitle }} / {{ author }}").render(context)
    title = env.from_string("<title>{{ docstitle|e }}</title>").render(context)
    assert raw == "Relapse &lt;script&gt;x&lt;/script&gt; &amp; GVHD / A &lt;b&gt;B&lt;/b&gt;"
    assert title == "<title>Relapse &lt;script&gt;x&lt;/script&gt; &amp; GVHD</title>"


def test_figures_tables_and_exercises_are_numbered_per_page():
    from types import SimpleNamespace

    from hsct_analysis.book import sphinx_ext

    env = SimpleNamespace(
        toc_fignumbers={
            "book/methods/km_greenwood": {"exercise": {"ex-a": (1,), "ex-b": (2,)}, "figure": {"f": (3,)}},
            "book/methods/power": {"exercise": {"ex-d": (16,), "ex-c": (15,)}, "table": {"t": (7,)}},
        }
    )
    assert sphinx_ext.number_per_page(None, env) == []
    assert env.toc_fignumbers["book/methods/power"] == {"exercise": {"ex-c": (1,), "ex-d": (2,)}, "table": {"t": (1,)}}
    assert env.toc_fignumbers["book/methods/km_greenwood"]["figure"] == {"f": (1,)}
