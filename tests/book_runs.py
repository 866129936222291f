"""Shared helpers of the tests that run the ``hsct-book`` console script, as a user would, on the project
or on a private copy of it (``--project``), so that the copy's cache starts empty and the repository is not
touched.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import yaml

from hsct_analysis.book import build

ROOT = build.PROJECT_ROOT
HSCT_BOOK = Path(sys.executable).with_name("hsct-book")  # the console script installed in the venv
#: The prose pages a minimal project carries beside its chapters (and book/_parts, the boxes they include).
PROSE_PAGES = ("index.md", "own_data.md", "references.md")


def hsct_book(*args: str, timeout: float = 900, cwd: Path | None = ROOT) -> subprocess.CompletedProcess:
    """``hsct-book args...`` run to its end; the completed process, stdout and stderr as text."""
    return subprocess.run([str(HSCT_BOOK), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def hsct_book_here(*args: str) -> subprocess.CompletedProcess:
    """``hsct-book args...`` run in this process (:func:`hsct_analysis.book.cli.main`): what the console script
    prints and returns, without the half second a new interpreter takes to import pandas. Warnings go to the
    captured stderr under a fresh interpreter's filters, as the script would print them; an exception that
    escapes ``main`` is raised here (where the script would print a traceback), so the test fails.
    ``test_robust_input.test_the_console_script_prints_what_main_does`` checks the two agree."""
    from hsct_analysis.book import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", quiet)  # a fresh interpreter's defaults (outside __main__)
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["hsct-book", *args], code, out.getvalue(), err.getvalue())


def build_args(cohort: Path, out: Path, project: Path | None = None, *extra: str) -> list[str]:
    """The arguments of ``hsct-book build`` of ``cohort`` into ``out`` (from ``project``), then ``extra``."""
    args = ["build", "--cohort", str(cohort), "--out", str(out)]
    if project is not None:
        args += ["--project", str(project)]
    return args + list(extra)


def start_build(cohort: Path, out: Path, project: Path, *extra: str) -> subprocess.Popen:
    """``hsct-book build`` started in the background (two chapters at once), its output piped."""
    command = [str(HSCT_BOOK), *build_args(cohort, out, project, "--jobs", "2", *extra)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def project_copy(tmp_path: Path) -> Path:
    """A private copy of the whole project in ``tmp_path/project`` (no executed notebooks, an empty cache)."""
    project = tmp_path / "project"
    project.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        shutil.copyfile(ROOT / name, project / name)
    shutil.copytree(ROOT / "book", project / "book", ignore=shutil.ignore_patterns("*.ipynb", "_build"))
    for name in ("notebooks", "data"):
        shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_build"))
    return project


def small_project(root: Path, notebooks: dict[str, dict] | None = None) -> Path:
    """A project in ``root`` with the About chapter, then ``notebooks`` (name -> notebook JSON), the prose
    pages and the real data/ folder linked in; its _toc.yml lists exactly those."""
    for name in ("_config.yml", "references.bib"):
        shutil.copyfile(ROOT / name, root / name)
    (root / "book").mkdir()
    for page in PROSE_PAGES:
        shutil.copyfile(ROOT / "book" / page, root / "book" / page)
    shutil.copytree(ROOT / "book" / "_parts", root / "book" / "_parts")
    (root / "notebooks").mkdir()
    shutil.copyfile(ROOT / "notebooks" / "00_about.ipynb", root / "notebooks" / "00_about.ipynb")
    for name, notebook in (notebooks or {}).items():
        (root / "notebooks" / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    (root / "data").symlink_to(ROOT / "data", target_is_directory=True)
    chapters = [{"file": f"book/{name}"} for name in ["00_about", *(notebooks or {})]]
    toc = {
        "format": "jb-book",
        "root": "book/index",
        "parts": [
            {"caption": "The study", "chapters": chapters},
            {
                "caption": "Reference",  # own_data links the pages the build generates
                "chapters": [{"file": "book/own_data"}]
                + [{"file": entry} for entry in build.GENERATED_PAGES]
                + [{"file": "book/references"}],
            },
        ],
    }
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return root
