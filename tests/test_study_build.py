"""`hsct-book build STUDY.yml`: which book a study builds, `init DIR`, and validate and build agreeing.

Routing is checked without building: the build's last step (`_build_staged`, or `build_book` for a paper
study) is replaced by a recorder, so these tests take seconds. The books themselves are built by
tests/test_wheel_books.py (slow).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hsct_analysis.book import build, cli, project
from hsct_analysis.cohort import study

ROOT = build.PROJECT_ROOT
EXAMPLES = ROOT / "data" / "examples"


@pytest.fixture
def recorded(monkeypatch):
    """Calls of build_book (the paper book) and _build_staged (a study book), with their arguments."""
    calls = []

    def paper(cohort, out, **kw):
        calls.append(("paper", Path(cohort), kw))
        return Path(out)

    def staged(root, out, book, jobs, chapters, progress, start):
        calls.append(("study", book, {"root": root, "jobs": jobs, "chapters": chapters}))
        return []

    monkeypatch.setattr(build, "build_book", paper)
    monkeypatch.setattr(build, "_build_staged", staged)
    return calls


@pytest.fixture
def study_project(tmp_path):
    """A project folder with the configuration and a study toc (the study notebooks are not needed here)."""
    root = tmp_path / "project"
    (root / "notebooks" / "study").mkdir(parents=True)
    shutil.copyfile(ROOT / "_config.yml", root / "_config.yml")
    (root / "notebooks" / "study" / "_toc.yml").write_text(
        "format: jb-book\nroot: book/study/00_about\nchapters:\n  - file: book/study/01_baseline\n", encoding="utf-8"
    )
    return root


def test_a_paper_study_builds_the_paper_book_on_its_cohort(recorded, tmp_path):
    assert cli.main(["build", str(ROOT / "data" / "study.yml"), "--out", str(tmp_path / "site")]) == 0
    [(kind, cohort, kw)] = recorded
    assert kind == "paper" and cohort == (ROOT / "data" / "cohort.csv").resolve()
    # the bundled cohort: no title (the book already carries the paper's), the study's min_cell (none)
    assert kw["title"] is None and kw["min_cell"] is None and kw["chapters"] is None


def test_a_paper_study_on_another_cohort_passes_its_title_and_min_cell(recorded, tmp_path):
    written = project.write_example(tmp_path / "ex")
    text = written[0].read_text(encoding="utf-8").replace("synthetic: true", "synthetic: true\nmin_cell: 4")
    written[0].write_text(text, encoding="utf-8")
    for path in (written[1], written[3]):  # one patient fewer, in the cohort and its screening log alike
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(line for line in lines if not line.startswith("SYN0095,")) + "\n", encoding="utf-8")
    assert written[3].name == "screening.csv"
    assert cli.main(["build", str(written[0]), "--out", str(tmp_path / "site"), "--jobs", "1"]) == 0
    [(kind, cohort, kw)] = recorded
    assert cohort == written[1].resolve()
    assert kw["title"] == study.load_study(written[0]).title and kw["min_cell"] == 4 and kw["jobs"] == 1


def test_a_study_without_paper_builds_the_study_book(recorded, study_project, tmp_path):
    path = EXAMPLES / "bmt" / "study.yml"
    out = tmp_path / "site"
    code = cli.main(
        ["build", str(path), "--out", str(out), "--project", str(study_project), "--chapter", "01_baseline"]
    )
    assert code == 0
    [(kind, book, kw)] = recorded
    assert kind == "study" and kw["chapters"] == ["01_baseline"]
    assert book.toc["root"] == "book/study/00_about"
    assert book.offered == {"study_path": str(path.resolve()), "min_cell": 5}  # the study's min_cell
    assert book.inputs == [path.resolve(), (EXAMPLES / "bmt" / "bmt.csv").resolve()]
    assert book.announcement is None
    changes = book.config_changes
    assert changes["title"] == "Allogeneic bone-marrow transplantation for acute leukaemia (KMsurv bmt)"
    assert changes["html"]["announcement"] is None  # the bundled book's "All patient data ... are synthetic"
    assert changes["sphinx"]["config"]["smartquotes"] is False  # the study's labels keep their straight quotes
    assert book.provenance["study"].startswith("study.yml, sha256 ")
    assert book.provenance["cohort"].startswith("bmt.csv, sha256 ")
    shown = book.shown(build.Chapter("book/study/00_about", path, {}, "k"))
    assert shown.shown_cohort == "study.yml"  # the executed copies name the study file, never its path


def test_min_cell_on_the_command_line_overrides_the_study(recorded, study_project, tmp_path):
    path = EXAMPLES / "hodg" / "study.yml"
    args = ["build", str(path), "--out", str(tmp_path / "s"), "--project", str(study_project), "--min-cell", "11"]
    assert cli.main(args) == 0
    assert recorded[0][1].offered["min_cell"] == 11


def test_the_study_book_needs_its_toc(recorded, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copyfile(ROOT / "_config.yml", empty / "_config.yml")
    code = cli.main(
        ["build", str(EXAMPLES / "hodg" / "study.yml"), "--out", str(tmp_path / "s"), "--project", str(empty)]
    )
    assert code == 1 and "notebooks/study/_toc.yml is missing" in capsys.readouterr().err
    assert recorded == []


def test_a_cohort_csv_still_builds_with_the_bundled_design(recorded, tmp_path):
    cohort = ROOT / "data" / "cohort.csv"
    args = ["build", "--cohort", str(cohort), "--out", str(tmp_path / "s"), "--title", "Ours", "--min-cell", "3"]
    assert cli.main(args) == 0
    [(kind, path, kw)] = recorded
    assert kind == "paper" and path == cohort and kw["title"] == "Ours" and kw["min_cell"] == 3


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["build", "--out", "s"], 1, "give a study file"),
        (["build", "data/study.yml", "--cohort", "data/cohort.csv", "--out", "s"], 1, "not both"),
        (["build", "data/cohort.csv", "--out", "s"], 2, "build a cohort file with --cohort"),
        (["build", "data/study.yml", "--title", "T", "--out", "s"], 1, "--title goes with --cohort"),
        (["build", "no_such.yml", "--out", "s"], 2, "no_such.yml: no such file"),
    ],
)
def test_build_refuses_unclear_requests(recorded, args, code, message, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(args) == code
    assert message in capsys.readouterr().err
    assert recorded == []


# ------------------------------------------------------------------------------------------ init DIR


def test_init_writes_a_runnable_example(tmp_path, capsys, recorded):
    target = tmp_path / "ex"
    assert cli.main(["init", str(target)]) == 0
    assert sorted(p.name for p in target.iterdir()) == ["cohort.csv", "registry", "screening.csv", "study.yml"]
    assert (target / "cohort.csv").read_bytes() == (ROOT / "data" / "cohort.csv").read_bytes()
    assert (target / "screening.csv").read_bytes() == (ROOT / "data" / "screening.csv").read_bytes()
    out = capsys.readouterr().out
    assert "cohort.csv, screening.csv and registry/." in out
    assert {p.name for p in (target / "registry").iterdir()} >= {"table1.csv", "table4.csv", "text.csv"}
    loaded = study.load_study(target / "study.yml")
    assert loaded.paper_registry == (target / "registry").resolve()
    capsys.readouterr()
    assert cli.main(["validate", str(target / "study.yml")]) == 0
    assert capsys.readouterr().out.startswith(f"OK: {target / 'study.yml'} is a valid study: 95 patients;")
    assert cli.main(["build", str(target / "study.yml"), "--out", str(tmp_path / "site")]) == 0
    assert recorded[0][1] == (target / "cohort.csv").resolve() and recorded[0][2]["title"] is None  # the bundled book


def test_init_never_overwrites(tmp_path, capsys):
    target = tmp_path / "ex"
    assert cli.main(["init", str(target)]) == 0
    before = (target / "study.yml").read_bytes()
    assert cli.main(["init", str(target)]) == 1
    assert "exists" in capsys.readouterr().err and (target / "study.yml").read_bytes() == before


def test_init_with_a_cohort_still_drafts(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path / "mine"), "--cohort", str(EXAMPLES / "hodg" / "hodg.csv")]) == 0
    assert "every guess is commented" in capsys.readouterr().out
    assert "paper:" not in (tmp_path / "mine" / "study.yml").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------- validate == build


def _problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "problem(s) found" not in line and "nothing was built" not in line]


def broken_studies(tmp_path: Path) -> dict[str, Path]:
    """A study file with a schema error, one whose cohort breaks its mapping, one with TODO lines left, and a
    paper study whose cohort breaks only the data contract (which the paper book reads)."""
    out = {}
    folder = tmp_path / "bmt"
    shutil.copytree(EXAMPLES / "bmt", folder)
    text = (folder / "study.yml").read_text(encoding="utf-8")
    (folder / "typo.yml").write_text(text.replace("km_ci: log", "km_ci: logg").replace("min_cell: 5", "min_cel: 5"))
    out["schema"] = folder / "typo.yml"
    rows = (folder / "bmt.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    cells = rows[3].split(",")
    cells[header.index("d1")] = "7"  # a code the study does not declare
    rows[3] = ",".join(cells)
    (folder / "bad.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "badcohort.yml").write_text(text.replace("file: bmt.csv", "file: bad.csv"), encoding="utf-8")
    out["cohort"] = folder / "badcohort.yml"
    (folder / "todo.yml").write_text(text.replace("title: Allogeneic", "title: TODO Allogeneic"), encoding="utf-8")
    out["todo"] = folder / "todo.yml"
    example = project.write_example(tmp_path / "ex")
    lines = example[1].read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    first = lines[1].split(",")
    first[head.index("sex")] = "M"  # not a level of the contract's sex column; the study reads sex as a factor
    lines[1] = ",".join(first)
    example[1].write_text("\n".join(lines) + "\n", encoding="utf-8")
    out["contract"] = example[0]
    return out


@pytest.mark.parametrize("kind", ["schema", "cohort", "todo", "contract"])
def test_validate_and_build_print_the_same_problems(kind, tmp_path, capsys, recorded):
    path = broken_studies(tmp_path)[kind]
    assert cli.main(["validate", str(path)]) == 2
    validated = _problem_lines(capsys.readouterr().err)
    assert validated, "the broken study must have problems"
    assert cli.main(["build", str(path), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert f"{path.resolve()} is not a valid study; nothing was built." in err
    assert _problem_lines(err) == validated
    assert recorded == [] and not (tmp_path / "site").exists()


def test_every_example_study_validates_as_it_builds():
    for path in [ROOT / "data" / "study.yml", *sorted(EXAMPLES.glob("*/study.yml"))]:
        assert build.study_problems(path) == [], path


# ----------------------------------------------------------------------------------- generated pages


def test_the_reference_pages_are_generated_from_the_code():
    from hsct_analysis.cohort import contract

    assert build.study_file_page() == build.code_format(study.schema_reference())
    page = build.data_dictionary_page()
    for name in contract.read_dictionary()["name"]:
        assert f"| `{name}` |" in page
    # no key, column or role name left as a plain word (what tests/browser.py flags in reader text)
    plain = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|\bNone\b|\bNaN\b")
    for text in (build.study_file_page(), page):
        prose = re.sub(r"`[^`\n]*`|<!--.*?-->|\]\([^)]*\)", "", text, flags=re.S)
        assert not plain.findall(prose), plain.findall(prose)[:5]


def test_code_format_sets_names_as_code_and_leaves_code_spans():
    text = "| `os` | needs relapse, agvhd_3_4 | min_cell - 1 | None |\n<!-- src/hsct_analysis -->\n[a](study_file.md)\n"
    assert (
        build.code_format(text)
        == "| `os` | needs relapse, `agvhd_3_4` | `min_cell` - 1 | `None` |\n<!-- src/hsct_analysis -->\n[a](study_file.md)\n"
    )
    assert {"book/study_file", "book/data_dictionary"} <= set(build.toc_entries(ROOT / "_toc.yml"))
    assert "](study_file.md)" in (ROOT / "book" / "own_data.md").read_text(encoding="utf-8")
    assert "](data_dictionary.md)" in (ROOT / "book" / "own_data.md").read_text(encoding="utf-8")


def test_the_stage_holds_the_generated_pages(tmp_path):
    toc = {"format": "jb-book", "root": "book/index", "chapters": [{"file": "book/study_file"}]}
    stage = build.make_stage(
        ROOT, tmp_path / "html", toc, None, config_changes={"title": "T", "html": {"announcement": None}}
    )
    assert (stage / "book" / "study_file.md").read_text(encoding="utf-8") == build.study_file_page()
    assert not (stage / "book" / "data_dictionary.md").exists()  # not in this toc
    import yaml

    config = yaml.safe_load((stage / "_config.yml").read_text(encoding="utf-8"))
    assert config["title"] == "T" and "announcement" not in config["html"]
    assert config["html"]["home_page_in_navbar"] is True  # the rest of html: kept


def test_a_chapter_build_of_the_study_book_keeps_a_valid_toc():
    """`--chapter 00_about` on the study book leaves its root page alone: no empty part (Jupyter Book refuses
    one)."""
    import yaml

    toc = yaml.safe_load((ROOT / build.STUDY_TOC).read_text(encoding="utf-8"))
    alone = build._restrict_toc(toc, {toc["root"]})
    assert alone == {"format": "jb-book", "root": "book/study/00_about"}
    some = build._restrict_toc(toc, {toc["root"], "book/study/02_endpoints"})
    assert build.toc_entries_of(some) == ["book/study/00_about", "book/study/02_endpoints"]


def test_a_study_without_authors_signs_no_one(tmp_path):
    # the footer said "By The Jupyter Book community" (Jupyter Book's default author) when the key was dropped
    text = (EXAMPLES / "alloauto" / "study.yml").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("authors:"))
    (tmp_path / "study.yml").write_text(text.replace("file: alloauto.csv", f"file: {EXAMPLES}/alloauto/alloauto.csv"))
    loaded = study.load_study(tmp_path / "study.yml")
    assert loaded.authors == ()
    config = {"title": "x", "author": "The hsct-analysis contributors", "html": {}}
    build._merge(config, build.study_config(loaded))
    assert config["author"] == ""
    assert build.study_config(study.load_study(EXAMPLES / "bmt" / "study.yml"))["author"] == (
        "Klein JP and Moeschberger ML (data)"
    )
