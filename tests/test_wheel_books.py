"""Whole books built by the package installed from a wheel into a fresh virtual environment, from a folder
outside the repository: the example project of `hsct-book init` (the paper book) and the study books of the
real KMsurv cohorts (data/examples/bmt and hodg), checked against R (tests/reference/ex_*.json).

The wheel and the environment are the session fixtures `wheel` and `installed` (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hsct_analysis.book import build

pytestmark = pytest.mark.slow  # builds books (minutes)

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
#: The study book's pages: notebooks/study/{00_about,01_baseline,02_endpoints,03_univariate,04_multivariable}.
STUDY_PAGES = 5


def run(bin_dir: Path, cwd: Path, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(cwd),
        "HSCT_BOOK_CACHE": str(cwd / "cache"),
        "MPLBACKEND": "Agg",
        "SOURCE_DATE_EPOCH": "1767225600",
    }
    return subprocess.run(
        [str(bin_dir / "hsct-book"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def shipped_root(bin_dir: Path) -> Path:
    """The project folder inside the installed package (hsct_analysis/project)."""
    code = "from hsct_analysis.book import build; print(build.PROJECT_ROOT)"
    out = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True, cwd="/")
    return Path(out.stdout.strip())


def html_text(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_installed_package_runs_from_the_wheel(installed):
    root = shipped_root(installed)
    assert root.name == "project" and root.parent.name == "hsct_analysis"
    assert ROOT not in root.parents  # not the checkout
    assert (root / "_config.yml").is_file() and (root / "data" / "examples" / "bmt" / "study.yml").is_file()


def test_init_validate_build_from_the_wheel(installed, tmp_path):
    """`hsct-book init DIR` -> validate -> build (the paper book, its About chapter) from outside the repo."""
    made = run(installed, tmp_path, "init", "ex")
    assert made.returncode == 0, made.stderr
    checked = run(installed, tmp_path, "validate", "ex/study.yml")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: ex/study.yml is a valid study: 95 patients;")
    built = run(installed, tmp_path, "build", "ex/study.yml", "--out", "site", "--chapter", "00_about")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    about = page_text((tmp_path / "site" / "book" / "00_about.html").read_text(encoding="utf-8"))
    assert "It holds 95 patients" in about and "bundled synthetic cohort" in about
    assert list(
        (tmp_path / "cache" / "executed").glob("00_about-*.ipynb")
    )  # the cache is the user's, not site-packages
    assert not (shipped_root(installed) / ".cache").exists()


def _fixture_at(name: str, key: str) -> dict:
    ref = json.loads((REF / f"ex_{name}.json").read_text(encoding="utf-8"))
    return next(at for at in ref["km"][key]["at"] if at["group"] is None)


@pytest.mark.parametrize(
    "name, n_patients, km",
    [("bmt", 137, ("os", "bmt")), ("hodg", 43, ("graft", "hodg"))],
)
def test_example_study_book_from_the_wheel(installed, tmp_path, name, n_patients, km):
    root = shipped_root(installed)
    if not (root / build.STUDY_TOC).is_file():
        pytest.skip(f"the study book's notebooks ({build.STUDY_TOC}) are not in the package yet")
    shutil.copytree(root / "data" / "examples" / name, tmp_path / name)
    start = time.perf_counter()
    built = run(installed, tmp_path, "build", f"{name}/study.yml", "--out", "site", "--jobs", "2")
    seconds = time.perf_counter() - start
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    site = tmp_path / "site"
    pages = html_text(site)
    chapters = [p for p in pages if p.startswith("book" + os.sep)]
    assert len(chapters) == STUDY_PAGES, sorted(chapters)
    assert not [p for p, text in pages.items() if "synthetic" in text.lower()]
    assert not [p for p in chapters if "scorecard" in p or "paper" in p or "methods" in p]
    text = " ".join(page_text(pages[p]) for p in sorted(chapters))
    assert f"{n_patients} patients" in text
    # R's Kaplan-Meier estimates at 1, 2 and 3 years (whole cohort), as the book prints them (percent, 1 decimal)
    at = _fixture_at(km[1], km[0])
    for surv in at["surv"]:
        assert f"{100 * surv:.1f}" in text, f"{100 * surv:.1f} not printed"
    footer = re.search(r'hsct-provenance">(.*?)</p>', pages[sorted(chapters)[0]], re.S)
    assert footer and "study file study.yml, sha256" in footer.group(1) and f"{name}.csv, sha256" in footer.group(1)
    print(f"{name}: {len(chapters)} pages in {seconds:.0f} s")
