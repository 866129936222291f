"""Shared fixtures: the hand-made tiny cohort and a writer for edited copies of it."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_cohort.csv"
ROOT = Path(__file__).resolve().parents[1]


def read_tiny() -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows (as dicts of text) of tests/data/tiny_cohort.csv."""
    with TINY.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


@pytest.fixture(scope="session", autouse=True)
def session_temporary_folder(tmp_path_factory) -> Path:
    """The tests' temporary folder (TMPDIR, and ``tempfile`` in this process): a folder of this session, removed at
    its end, so that what builds keep there goes with it. A build's lock file is one per ``--out`` folder, and
    filelock leaves it on release; the tests build into hundreds of folders, which left as many files in /tmp per
    run. The folder sits right in the machine's temporary folder with a short name: the kernels' socket paths
    inside it must stay under the 100 bytes a Unix socket path allows (``build.SOCKET_PATH_BYTES``)."""
    tmp_path_factory.getbasetemp()  # pytest's own folders stay where they were (and are kept as pytest keeps them)
    folder = Path(tempfile.mkdtemp(prefix="hsct-t-"))
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(folder))
    patch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    patch.undo()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tiny_path() -> Path:
    return TINY


@pytest.fixture
def write_tiny(tmp_path):
    """Write an edited copy of the tiny cohort; returns its path.

    ``edits`` maps patient_id -> {column: new text}; ``drop`` removes columns;
    ``rename`` renames header columns; ``add`` appends columns (name -> text for every row).
    """

    def write(edits=None, drop=(), rename=None, add=None, name="cohort.csv") -> Path:
        header, rows = read_tiny()
        for row in rows:
            row.update((edits or {}).get(row["patient_id"], {}))
            row.update(add or {})
        columns = [c for c in header if c not in drop] + list(add or {})
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([(rename or {}).get(c, c) for c in columns])
            writer.writerows([[row[c] for c in columns] for row in rows])
        return path

    return write


@pytest.fixture(scope="session")
def bundled_book(tmp_path_factory) -> Path:
    """The whole book built once per test session on the shipped synthetic cohort (its HTML folder)."""
    from hsct_analysis.book import build

    out = tmp_path_factory.mktemp("book") / "html"
    build.build_book(ROOT / "data" / "cohort.csv", out, jobs=2, progress=lambda line: None)
    return out


#: What a wheel is built from: the package, its packaging files and the book project setup.py copies into it.
WHEEL_SOURCES = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "setup.py",
    "MANIFEST.in",
    "_config.yml",
    "_toc.yml",
    "references.bib",
    "src",
    "notebooks",
    "book",
    "data",
)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The package built as a wheel (pip wheel, no dependencies), from a copy of the checkout."""
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy, so setuptools' build/ folder never lands in the checkout.
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints")
    for name in WHEEL_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        text=True,
    )
    return next(out.glob("hsct_analysis-*.whl"))


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel (its ``bin/`` folder).

    The dependencies (jupyter-book, papermill, ...) are this test environment's, reached through a ``.pth``
    line (no network); this environment's editable install of the checkout is not, because ``.pth`` files
    inside a folder added that way are not run. So ``hsct_analysis`` is the wheel's copy.
    """
    import sysconfig

    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return venv / "bin"
