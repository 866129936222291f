"""The book build: toc and environment consistency, and the whole pipeline on a one-chapter book.

The pipeline tests run papermill and Jupyter Book for real (about 10-20 s per Sphinx build), on a copy of the
project in a temporary folder so that the cache starts empty and the repository is not touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from packaging.requirements import Requirement

from book_runs import small_project
from hsct_analysis.book import build, tables
from hsct_analysis.cohort import load_cohort

ROOT = build.PROJECT_ROOT
COHORT = ROOT / "data" / "cohort.csv"
PACKAGE_FINGERPRINT = build.package_fingerprint  # the real one; the pipeline tests freeze it


# --------------------------------------------------------------------------------- toc and environment


def test_every_toc_entry_exists():
    entries = build.toc_entries(ROOT / "_toc.yml")
    assert entries[0] == "book/index"
    assert "book/00_about" in entries
    assert build.missing_toc_entries(ROOT) == []


def test_missing_toc_entry_is_reported(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "index.md").write_text("# Index\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/index\nchapters:\n  - file: book/index_twin\n  - file: book/01_gone\n"
    )
    (tmp_path / "book" / "index_twin.md").write_text("# Twin\n")
    assert build.missing_toc_entries(tmp_path) == ["book/01_gone"]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_environment_yml_agrees_with_pyproject_and_constraints():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python="))
    assert python == "python=3.11"
    assert project["requires-python"] == ">=3.11,<3.12"
    assert "-c constraints.txt" in pip
    assert any(line.startswith("-e .") for line in pip)
    pins = _constraints()
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    for dep in map(Requirement, deps):
        name = dep.name.lower().replace("_", "-")
        assert name in pins, f"{name} has no pin in constraints.txt"
        assert dep.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} outside {dep.specifier}"


def test_user_cohort_replaces_the_synthetic_banner(tmp_path):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    banner = build.USER_COHORT_BANNER.format(name="ours.csv")
    stage = build.make_stage(ROOT, tmp_path / "html", toc, banner)
    config = yaml.safe_load((stage / "_config.yml").read_text())
    assert (
        config["html"]["announcement"]
        == "This book was built from a user-supplied cohort (ours.csv), not from the book's synthetic cohort."
    )
    bundled_config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert bundled_config["html"]["announcement"].startswith("All patient data in this book are synthetic")
    # the prose pages, plus the pages generated at build time (the study-file reference, the data dictionary)
    generated = {entry.removeprefix("book/") + ".md" for entry in build.GENERATED_PAGES}
    prose = {p.name for p in (ROOT / "book").glob("*.md")}
    assert sorted(p.name for p in (stage / "book").glob("*.md")) == sorted(prose | generated)


# ------------------------------------------------------------------------------------- the pipeline

BROKEN_CELLS = ["x = 41 + 1", "ratio = x / (x - 42)  # divides by zero", "print(ratio)"]


def _write_broken_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Broken chapter")]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in BROKEN_CELLS]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project with the About chapter only, and the real data/ folder linked in."""
    return small_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module", autouse=True)
def frozen_package():
    """Other people edit the package while these tests run: hold its fingerprint fixed (tested separately)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build, "package_fingerprint", lambda *args, **kwargs: "frozen-package")
        yield


@pytest.fixture(scope="module")
def first_build(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "html"
    lines: list[str] = []
    temporary = tmp_path_factory.mktemp("temporary")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(temporary))  # where the build puts its kernels' sockets
        build.build_book(COHORT, out, progress=lines.append, root=project)
    assert not list(temporary.glob("hsct-kernels-*"))  # removed with the build
    return out, lines


def test_socket_folders_of_builds_no_longer_running_are_removed(tmp_path, monkeypatch):
    """A build killed by SIGKILL leaves its kernels' socket folder; the next build removes it, and no other."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    assert not build._pid_alive(str(dead))
    folders = {
        "dead": tmp_path / f"{build.SOCKETS_PREFIX}{dead}-abc",
        "running": tmp_path / f"{build.SOCKETS_PREFIX}{os.getpid()}-abc",
        "not a build's": tmp_path / f"{build.SOCKETS_PREFIX}older",
        "another tool's": tmp_path / f"other-{dead}-abc",
    }
    for folder in folders.values():
        (folder / "k1").mkdir(parents=True)
        (folder / "k1" / "k-1").write_text("")
    build._sweep_socket_folders()
    assert {name for name, folder in folders.items() if folder.exists()} == {
        "running",
        "not a build's",
        "another tool's",
    }


def test_chapter_key_changes_with_notebook_cohort_package_and_parameters(tmp_path):
    notebook = tmp_path / "a.ipynb"
    notebook.write_text("{}")
    base = build.chapter_key(notebook, b"cohort", "pkg", {"min_cell": None})
    assert len(base) == 64
    assert build.chapter_key(notebook, b"cohort", "pkg", {"min_cell": None}) == base
    assert build.chapter_key(notebook, b"cohort!", "pkg", {"min_cell": None}) != base
    assert build.chapter_key(notebook, b"cohort", "pkg2", {"min_cell": None}) != base
    assert build.chapter_key(notebook, b"cohort", "pkg", {"min_cell": 5}) != base
    notebook.write_text('{"cells": []}')
    assert build.chapter_key(notebook, b"cohort", "pkg", {"min_cell": None}) != base
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text("x = 1\n")
    before = PACKAGE_FINGERPRINT(package)
    assert len(before) == 64 and PACKAGE_FINGERPRINT(package) == before
    (package / "m.py").write_text("x = 2\n")
    assert PACKAGE_FINGERPRINT(package) != before


@pytest.mark.slow
def test_build_writes_the_about_chapter_from_the_cohort(project, first_build):
    out, lines = first_build
    assert sum("00_about: executed in" in line for line in lines) == 1
    assert any(line.startswith("chapters: 1 executed, 0 reused") for line in lines)
    about = (out / "book" / "00_about.html").read_text(encoding="utf-8")
    index = (out / "book" / "index.html").read_text(encoding="utf-8")
    n_patients = len(load_cohort(COHORT))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", about))
    assert f"It holds {n_patients} patients" in text
    for page in (about, index):
        assert "All patient data in this book are synthetic" in page
    assert "Traceback" not in about and "cohort_path" not in about  # parameter cells are removed
    executed = nbformat.read(project / "book" / "00_about.ipynb", as_version=4)  # bundled book: copied back
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    assert not any("Error" in o.get("text", "") for o in outputs)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
    assert 'cohort_path = "../data/cohort.csv"' in injected[0].source  # bundled: the path from book/, not absolute


@pytest.mark.slow
def test_unchanged_rebuild_skips_execution_and_sphinx(project, first_build, tmp_path):
    out, _ = first_build
    again: list[str] = []
    build.build_book(COHORT, out, progress=again.append, root=project)
    assert len(again) == 1 and "up to date" in again[0]
    other: list[str] = []  # a new output folder: Sphinx runs, the chapter comes from the cache
    build.build_book(COHORT, tmp_path / "html", progress=other.append, root=project)
    assert "  00_about: reused from cache (unchanged)" in other
    assert not any("executed in" in line for line in other)
    assert (tmp_path / "html" / "book" / "00_about.html").exists()


@pytest.mark.slow
def test_failing_chapter_is_named_and_leaves_the_previous_book(project, first_build):
    out, _ = first_build
    stamp_before = (out / build.STAMP_NAME).read_text()
    index_before = (out / "index.html").read_bytes()
    _write_broken_notebook(project / "notebooks" / "99_broken.ipynb")
    toc_text = (project / "_toc.yml").read_text()
    toc = yaml.safe_load(toc_text)
    toc["parts"][0]["chapters"].append({"file": "book/99_broken"})
    (project / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    try:
        with pytest.raises(build.NotebookError) as failure:
            build.build_book(COHORT, out, progress=lambda line: None, root=project)
    finally:
        (project / "_toc.yml").write_text(toc_text)
    error = failure.value
    assert error.notebook == "99_broken"
    assert error.cell_source == BROKEN_CELLS[1]
    assert error.error.startswith("ZeroDivisionError")
    assert "chapter 99_broken failed in cell" in str(error) and "Traceback" not in str(error)
    assert (out / build.STAMP_NAME).read_text() == stamp_before
    assert (out / "index.html").read_bytes() == index_before
    assert [p.name for p in out.parent.iterdir()] == ["html"]  # no stage or backup left behind


def test_executed_copies_never_show_an_absolute_cohort_path(tmp_path):
    chapter = build.Chapter("book/methods/cutpoint", ROOT / "notebooks" / "x.ipynb", {}, "k" * 64)
    bundled = build._with_shown_cohort(chapter, ROOT, COHORT, bundled=True)
    assert bundled.shown_cohort == "../../data/cohort.csv"
    ours = build._with_shown_cohort(chapter, ROOT, tmp_path / "secret" / "ours.csv", bundled=False)
    assert ours.shown_cohort == "ours.csv"


@pytest.mark.slow
def test_two_runs_of_a_notebook_give_the_same_executed_file(tmp_path):
    """papermill and nbclient stamp clock times and a random cell id into the executed notebook; the
    build drops them, so the same notebook run twice is the same file (and its page the same page)."""
    source = tmp_path / "chapter.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("cohort_path = 'x.csv'", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import time; time.sleep(0.01); print(cohort_path.endswith('cohort.csv'), 6 * 7)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, source)
    runs = []
    for run in ("a", "b"):
        output = tmp_path / f"{run}-12345-chapter.ipynb"
        cohort = tmp_path / run / "cohort.csv"
        result = build.execute_chapter(str(source), str(output), {"cohort_path": str(cohort)}, str(tmp_path))
        assert result["ok"], result
        raw = nbformat.read(output, as_version=4)
        assert "start_time" in raw.metadata["papermill"] and "execution" in raw.cells[-1].metadata
        build.finish_executed(output, cohort, "cohort.csv")
        runs.append(output.read_bytes())
    assert runs[0] == runs[1]
    done = nbformat.reads(runs[0].decode(), as_version=4)
    assert done.metadata["papermill"]["output_path"] == "chapter.ipynb"
    assert [c.id for c in done.cells if "injected-parameters" in c.metadata["tags"]] == ["injected-parameters"]
    assert done.cells[-1].outputs[0]["text"] == "True 42\n" and str(tmp_path) not in runs[0].decode()


def test_a_book_that_cannot_be_replaced_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    """The read-only case of the fault tests, also where the tests run as root (who may write anywhere):
    a folder of the old book that could not be deleted is named, and nothing is staged next to it."""
    out = tmp_path / "site" / "html"
    (out / "sub").mkdir(parents=True)
    (out / build.STAMP_NAME).write_text('{"key": "old"}', encoding="utf-8")
    real_access = os.access
    monkeypatch.setattr(build.os, "access", lambda p, mode: Path(p) != out / "sub" and real_access(p, mode))
    with pytest.raises(build.BuildError, match=r"sub is read-only, so the previous book in .* cannot be replaced"):
        build.build_book(COHORT, out, chapters=["00_about"], progress=lambda _: None)
    assert sorted(p.name for p in out.parent.iterdir()) == ["html"]  # no stage, no backup


def test_a_backup_that_cannot_be_deleted_is_named_and_removed_by_the_next_build(tmp_path, monkeypatch):
    out, new = tmp_path / "html", tmp_path / "new"
    out.mkdir()
    (out / "index.html").write_text("old", encoding="utf-8")
    new.mkdir()
    (new / "index.html").write_text("new", encoding="utf-8")

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(build.shutil, "rmtree", refuse)
    with pytest.raises(build.BuildError, match=r"could not be deleted from .*\.html\.old-\d+ \(Permission denied\)"):
        build.swap_into(new, out, "k")
    monkeypatch.undo()
    assert (out / "index.html").read_text(encoding="utf-8") == "new"  # the new book is in place
    (backup,) = [p for p in tmp_path.iterdir() if p.name.startswith(".html.old-")]  # said, not hidden
    assert build.remove_leftovers(out) == [backup] and not backup.exists()


def test_printing_cut_into_several_messages_is_kept_as_one(tmp_path):
    """A cell's stdout arrives in as many messages as the kernel flushed, which varies between runs."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('a'); print('b')")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="a\n"),
        nbformat.v4.new_output("stream", name="stdout", text="b\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warning\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="c\n"),
    ]
    nb.cells = [cell]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    build.finish_executed(path, tmp_path / "cohort.csv", "cohort.csv")
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o.output_type, o.get("name"), o.get("text")) for o in outputs] == [
        ("stream", "stdout", "a\nb\n"),
        ("stream", "stderr", "warning\n"),
        ("execute_result", None, None),
        ("stream", "stdout", "c\n"),
    ]


NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_cell_has_an_id(notebook):
    """A cell without an id is given a random one when the notebook is run, and its page changes every build."""
    import json

    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert [i for i, cell in enumerate(cells) if not cell.get("id")] == []


# ------------------------------------------------------------------------------------- the kernels


def _one_cell_notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


def _socket_folder(tmp_path: Path, monkeypatch) -> Path:
    """The folder a worker's kernels make their socket folders in, as a build sets it."""
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    monkeypatch.setenv(build.SOCKETS_ENV, str(sockets))
    return sockets


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="Unix sockets are POSIX only")
def test_kernels_talk_over_unix_sockets_and_leave_no_folder(tmp_path, monkeypatch):
    """Two workers choosing free TCP ports at once can pick the same one; a Unix socket in a private folder cannot
    be taken by another kernel. The kernel reports its own transport."""
    cell = "import json\nfrom ipykernel.connect import get_connection_info\nprint(json.loads(get_connection_info())['transport'])"
    source = _one_cell_notebook(tmp_path / "transport.ipynb", cell)
    sockets = _socket_folder(tmp_path, monkeypatch)
    result = build.execute_chapter(str(source), str(tmp_path / "out.ipynb"), {}, str(tmp_path))
    assert result["ok"] and result["kernel_restarts"] == 0, result
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"] == "ipc\n"
    assert not list(sockets.iterdir())


@pytest.mark.slow
def test_a_kernel_that_never_answers_is_started_once_more_then_named(tmp_path, monkeypatch):
    """A kernel process that lives but never answers: jupyter_client's error is recognised, the chapter is started
    once more, and the second failure is the chapter's error (no cell ran)."""
    real = build._kernel_manager_class()

    class SilentKernelManager(real):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            return await super()._async_launch_kernel([sys.executable, "-c", "import time; time.sleep(30)"], **kw)

    monkeypatch.setattr(build, "_kernel_manager_class", lambda: SilentKernelManager)
    monkeypatch.setattr(build, "KERNEL_START_SECONDS", 1)
    source = _one_cell_notebook(tmp_path / "silent.ipynb", "print(42)")
    sockets = _socket_folder(tmp_path, monkeypatch)
    result = build.execute_chapter(str(source), str(tmp_path / "out.ipynb"), {}, str(tmp_path))
    assert not result["ok"] and result["kernel_restarts"] == 1, result
    assert not list(sockets.iterdir())
    assert result["error"].startswith("RuntimeError: Kernel didn't respond") and result["cell_index"] is None


def test_only_a_kernel_that_never_started_is_retried(monkeypatch):
    runs = iter(
        [
            {"ok": False, "cell_index": None, "cell_source": "", "error": "RuntimeError: ...", "retry": True},
            {"ok": True},
            {"ok": False, "cell_index": 2, "cell_source": "1/0", "error": "ZeroDivisionError: division by zero"},
        ]
    )
    calls = []

    def fake_once(*args):
        calls.append(args)
        return next(runs)

    monkeypatch.setattr(build, "_execute_once", fake_once)
    first = build.execute_chapter("a.ipynb", "out.ipynb", {}, ".")
    assert first["ok"] and first["kernel_restarts"] == 1 and len(calls) == 2 and "retry" not in first
    second = build.execute_chapter("a.ipynb", "out.ipynb", {}, ".")  # a failing cell is the chapter's own error
    assert not second["ok"] and second["kernel_restarts"] == 0 and second["cell_index"] == 2 and len(calls) == 3


def test_the_kernel_start_messages_are_jupyter_clients():
    """``kernel_never_started`` matches jupyter_client's wording; a new wording fails here, not in a build."""
    import inspect

    from jupyter_client.client import KernelClient

    waiting = inspect.getsource(KernelClient._async_wait_for_ready)
    assert all(message in waiting for message in build.KERNEL_NEVER_STARTED)
    assert build.kernel_never_started(RuntimeError("Kernel didn't respond in 60 seconds"))
    assert not build.kernel_never_started(ValueError("Kernel didn't respond in 60 seconds"))
    assert not build.kernel_never_started(RuntimeError("Kernel died"))


def test_a_caption_stays_only_on_a_cell_that_drew_an_image(tmp_path):
    """A figure withheld under --min-cell (or not available) shows a sentence: no figure number and curve caption."""
    caption = {"mystnb": {"figure": {"caption": "Curves by group."}}}
    drawn = nbformat.v4.new_code_cell("fig", metadata=json.loads(json.dumps(caption)))
    drawn.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<F>"})]
    sentence = nbformat.v4.new_code_cell("fig", metadata=json.loads(json.dumps(caption)))
    sentence.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "**Not shown:** why."})]
    nb = nbformat.v4.new_notebook(cells=[drawn, sentence])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    build.finish_executed(path, tmp_path / "cohort.csv", "cohort.csv")
    done = nbformat.read(path, as_version=4).cells
    assert done[0].metadata["mystnb"]["figure"] == caption["mystnb"]["figure"] and "mystnb" not in done[1].metadata
    assert done[0].metadata["mystnb"]["image"] == {"alt": "Curves by group."}  # the caption is the image's text


def test_a_figures_text_alternative_is_its_caption_in_plain_text(tmp_path):
    """On a user's cohort the caption names the file, escaped for Markdown; the alt text is not Markdown."""
    caption = {"mystnb": {"figure": {"caption": "Curves (synthetic cohort)."}, "image": {"width": "90%"}}}
    cell = nbformat.v4.new_code_cell("fig", metadata=json.loads(json.dumps(caption)))
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<F>"})]
    notebook = nbformat.v4.new_notebook(
        cells=[cell], metadata={"papermill": {"parameters": {"is_bundled_cohort": False}}}
    )
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook, path)
    build.finish_executed(path, tmp_path / "my_cohort[1].csv", "my_cohort[1].csv")
    meta = nbformat.read(path, as_version=4).cells[0].metadata["mystnb"]
    assert meta["figure"]["caption"] == "Curves (cohort: my\\_cohort\\[1\\]\\.csv)."
    assert meta["image"] == {"width": "90%", "alt": "Curves (cohort: my_cohort[1].csv)."}


def test_a_temporary_folder_too_long_for_a_socket_falls_back_to_tcp(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    monkeypatch.setenv(build.SOCKETS_ENV, str(deep))
    manager = build._kernel_manager_class()()
    assert manager.transport == "tcp" and not list(deep.iterdir())
    short = Path(tempfile.mkdtemp(prefix="s"))  # in the tests' temporary folder, /tmp/hsct-t-…/s…: short enough
    try:
        monkeypatch.setenv(build.SOCKETS_ENV, str(short))
        manager = build._kernel_manager_class()()
        assert manager.transport == ("ipc" if os.name == "posix" else "tcp")
        assert os.name != "posix" or Path(manager.ip).parent.parent == short
    finally:
        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.parametrize("render", ["to_html", "styled"])
def test_the_row_index_names_share_the_header_row_with_the_column_headings(tmp_path, render):
    """pandas writes "Factor" and "Level" on a second header row under blank headings; the page shows one row."""
    index = pd.MultiIndex.from_tuples([("Age", "<14"), ("Age", ">=14")], names=["Factor", "Level"])
    frame = pd.DataFrame({"n": [40, 55], "3-year OS": ["50.0", "60.0"]}, index=index)
    html = frame.to_html() if render == "to_html" else tables.styled(frame).to_html()
    crossed = pd.crosstab(pd.Series(["a", "b"], name="group"), pd.Series([1, 2], name="years")).to_html()
    cell = nbformat.v4.new_code_cell("table")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "t"}),
        nbformat.v4.new_output("display_data", data={"text/html": crossed, "text/plain": "t"}),
    ]
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    build.finish_executed(path, tmp_path / "cohort.csv", "cohort.csv")
    shown, kept = (o["data"]["text/html"] for o in nbformat.read(path, as_version=4).cells[0].outputs)
    (head,) = re.findall(r"<thead>(.*?)</thead>", shown, re.S)
    (row,) = re.findall(r"<tr\b.*?</tr>", head, re.S)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th\b.*?</th>", row, re.S)] == [
        "Factor",
        "Level",
        "n",
        "3-year OS",
    ]
    assert len(re.findall(r"<tr\b", shown)) == 3  # the header row and the two rows of the table
    assert kept == crossed  # the column axis has its own name ("years") in that corner: both rows stay


def test_two_builds_failing_in_one_chapter_keep_a_notebook_each(tmp_path):
    """The partly executed notebook of a failed chapter is named by the chapter and the key of its inputs: two
    studies failing in the same chapter (at the same time) no longer overwrite one file."""
    kept = []
    (tmp_path / "failed").mkdir()  # run_chapters makes it
    for key, text in (("a" * 64, "first"), ("b" * 64, "second")):
        output = tmp_path / f"running-{key[:4]}.ipynb"
        output.write_text(text)
        chapter = build.Chapter("book/study/04_multivariable", Path("x.ipynb"), {}, key)
        kept.append(build._keep_failed(chapter, output, tmp_path / "failed"))
    assert kept[0] != kept[1] and [p.read_text() for p in kept] == ["first", "second"]
    assert all(p.name.startswith("study__04_multivariable-") for p in kept)
