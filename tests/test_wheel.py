"""The package works as an installed wheel: every module imports from outside the repository, its data
(the data dictionary, the registry of published numbers) are found through importlib.resources, and
importing changes no global state."""

import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.slow  # builds a wheel (tens of seconds)

CHECK = r"""
import importlib, pkgutil, sys
import matplotlib
before = dict(matplotlib.rcParams)
import hsct_analysis
assert hsct_analysis.__file__.startswith(sys.argv[1]), hsct_analysis.__file__
names = [m.name for m in pkgutil.walk_packages(hsct_analysis.__path__, "hsct_analysis.")
         if not m.name.endswith(".__main__")]  # entry points run a command when imported
for name in names:
    importlib.import_module(name)
from hsct_analysis.cohort import read_dictionary
from hsct_analysis.paper.registry import load_registry
assert len(read_dictionary()) > 40 and len(load_registry()) > 1000
changed = [k for k, v in matplotlib.rcParams.items() if before.get(k) != v]
assert not changed, f"importing changed matplotlib settings: {changed[:5]}"
print(len(names))
"""


def test_wheel_ships_the_data_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "hsct_analysis/cohort/dictionary.csv" in names
    assert {f"hsct_analysis/paper/registry/{t}.csv" for t in ("table1", "table2", "table3", "table4", "text")} <= set(
        names
    )


def test_wheel_ships_the_book_project(wheel):
    """What a build needs besides the modules: configuration, notebooks, prose, the bundled study and the examples
    (hsct_analysis/project, copied by setup.py); never an executed notebook from book/."""
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    project = "hsct_analysis/project/"
    for name in (
        "_config.yml",
        "_toc.yml",
        "references.bib",
        "notebooks/00_about.ipynb",
        "notebooks/methods/cutpoint.ipynb",
        "book/own_data.md",
        "book/_parts/synthetic_cohort.md",
        "data/study.yml",
        "data/cohort.csv",
        "data/examples/bmt/study.yml",
        "data/examples/bmt/bmt.csv",
        "data/examples/bmt/README.md",
        "data/examples/hodg/study.yml",
        "data/examples/COPYING",
    ):
        assert project + name in names, name
    assert not [n for n in names if n.startswith(project + "book/") and n.endswith(".ipynb")]
    assert "hsct_analysis/book/static/hsct.css" in names
    study = archive.read(project + "data/study.yml").decode()
    assert "registry: ../../paper/registry" in study  # the package's own registry, from project/data/


def test_every_module_imports_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # PYTHONPATH comes before the editable install of the checkout, so the wheel's copy is the one imported.
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) >= 30


def test_wheel_names_both_licences_and_ships_their_texts(wheel):
    """The code is MIT, the KMsurv example cohorts it ships are GPL-3.0-or-later: the metadata says both, and
    both licence texts travel in the wheel."""
    book = zipfile.ZipFile(wheel)
    names = book.namelist()
    metadata = book.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT AND GPL-3.0-or-later" in metadata.splitlines()
    licences = [n for n in names if ".dist-info/licenses/" in n]
    assert any(n.endswith("/LICENSE") for n in licences) and any(n.endswith("/COPYING") for n in licences)
    assert "MIT License" in book.read(next(n for n in licences if n.endswith("/LICENSE"))).decode()
    assert "GNU GENERAL PUBLIC LICENSE" in book.read(next(n for n in licences if n.endswith("/COPYING"))).decode()
