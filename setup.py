"""Packaging hook: the wheel ships the book project (configuration, notebooks, prose, data) inside the package.

Everything else is in pyproject.toml. ``hsct-book build`` needs more than Python modules: ``_config.yml``,
``_toc.yml``, ``references.bib``, the chapter notebooks (``notebooks/``), the prose pages (``book/``) and the
bundled study with its cohort and the example studies (``data/``). In a source checkout they sit at the
repository root; ``build_py`` copies them into ``hsct_analysis/project/`` of a regular (non-editable) build,
where ``hsct_analysis.book.build.find_project_root`` finds them through importlib.resources. An editable
install copies nothing and keeps using the checkout, so an edited notebook is built as it is.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROJECT_FILES = ("_config.yml", "_toc.yml", "references.bib")
PROJECT_FOLDERS = ("notebooks", "book", "data")
# executed copies (book/**/*.ipynb) and editor litter are not part of the project
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
# data/study.yml names the registry of published numbers by its place in the checkout; in the wheel the
# registry is the package's own copy (hsct_analysis/paper/registry), two folders up from project/data/.
CHECKOUT_REGISTRY = "../src/hsct_analysis/paper/registry"
SHIPPED_REGISTRY = "../../paper/registry"


class BuildPyWithProject(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "hsct_analysis" / "project"
        copy_project(HERE, target)


def copy_project(source: Path, target: Path) -> None:
    """Copy the book project from ``source`` (a checkout or an sdist) to ``target``; fail if a part is missing."""
    missing = [n for n in PROJECT_FILES + PROJECT_FOLDERS if not (source / n).exists()]
    if missing:
        raise SystemExit(f"cannot build the wheel: {', '.join(missing)} missing from {source}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(source / name, target / name)
    for name in PROJECT_FOLDERS:
        ignore = IGNORED
        if name == "book":  # the executed chapters a build copied back into book/ (git-ignored)
            ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc", "*.ipynb")
        shutil.copytree(source / name, target / name, ignore=ignore)
    study = target / "data" / "study.yml"
    text = study.read_text(encoding="utf-8")
    pattern = re.compile(r"^(\s+registry:\s*)" + re.escape(CHECKOUT_REGISTRY) + r"\s*$", re.MULTILINE)
    if not pattern.search(text):
        raise SystemExit(f"cannot build the wheel: data/study.yml does not name its registry as {CHECKOUT_REGISTRY}")
    study.write_text(pattern.sub(lambda m: m.group(1) + SHIPPED_REGISTRY, text), encoding="utf-8")


setup(cmdclass={"build_py": BuildPyWithProject})
