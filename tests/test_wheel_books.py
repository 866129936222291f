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
import tempfile
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
        "TMPDIR": tempfile.gettempdir(),  # the session's (tests/conftest.py): the builds' lock files go with it
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


def _fixture(name: str) -> dict:
    return json.loads((REF / f"ex_{name}.json").read_text(encoding="utf-8"))


def r_printed(name: str) -> list[str]:
    """R's whole-cohort estimates at 1, 2 and 3 years as the endpoints table prints them: Kaplan-Meier with the
    study's CI ("63.4 (55.8-72.0)"), and for bmt the relapse and NRM incidences (cmprsk)."""
    ref = _fixture(name)
    key, ci = {"bmt": ("os", "log"), "hodg": ("graft", "log")}[name]
    at = next(a for a in ref["km"][key]["at"] if a["group"] is None)
    texts = [
        f"{100 * s:.1f} ({100 * lo:.1f}-{100 * up:.1f})"
        for s, lo, up in zip(at["surv"], at[f"lower_{ci}"], at[f"upper_{ci}"], strict=True)
    ]
    if name == "bmt":
        for cif in ref["cuminc"]["relapse_nrm"]["at"]:
            if cif["group"] is None:
                texts += [f"{100 * e:.1f} (" for e in cif["est"]]
    return texts


@pytest.mark.parametrize("name, n_patients", [("bmt", 137), ("hodg", 43)])
def test_example_study_book_from_the_wheel(installed, tmp_path, name, n_patients):
    root = shipped_root(installed)
    assert (root / build.STUDY_TOC).is_file()
    shutil.copytree(root / "data" / "examples" / name, tmp_path / name)
    start = time.perf_counter()
    built = run(installed, tmp_path, "build", f"{name}/study.yml", "--out", "site", "--jobs", "2")
    seconds = time.perf_counter() - start
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    site = tmp_path / "site"
    pages = html_text(site)
    chapters = sorted(p for p in pages if p.startswith("book" + os.sep))
    assert len(chapters) == STUDY_PAGES, chapters
    assert not [p for p, text in pages.items() if "synthetic" in text.lower()]
    assert not [p for p in chapters if "scorecard" in p or "paper" in p or "methods" in p]
    about = page_text(pages[os.path.join("book", "study", "00_about.html")])
    assert str(n_patients) in about
    endpoints = page_text(pages[os.path.join("book", "study", "02_endpoints.html")])
    missing = [text for text in r_printed(name) if text not in endpoints]
    assert not missing, f"R's estimates not printed: {missing}"
    footer = re.search(r'hsct-provenance">(.*?)</p>', pages[chapters[0]], re.S)
    assert footer and "study file study.yml, sha256" in footer.group(1) and f"{name}.csv, sha256" in footer.group(1)
    print(f"{name}: {len(chapters)} pages in {seconds:.0f} s")
