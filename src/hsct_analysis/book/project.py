"""The example project ``hsct-book init DIR`` writes: the bundled study with its cohort and registry.

``DIR/study.yml`` is the book's own study file (``data/study.yml``: the reproduction of Cao et al. 2023),
``DIR/cohort.csv`` its synthetic cohort, ``DIR/screening.csv`` the cohort's screening log
(:mod:`hsct_analysis.cohort.enrolment`) and ``DIR/registry/`` the published numbers it is compared with; the
study's ``paper.registry`` is re-pointed at that copy, so the folder is self-contained and can be moved.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from hsct_analysis.book import build

REGISTRY_FOLDER = "registry"
_REGISTRY_LINE = re.compile(r"^(\s+registry:[ \t]*)(\S.*?)[ \t]*$", re.MULTILINE)


def example_study(root: Path = build.PROJECT_ROOT) -> Path:
    """The bundled study file (``data/study.yml`` of the checkout, or of the project shipped in the wheel)."""
    return Path(root) / "data" / "study.yml"


def write_example(directory: str | Path, root: Path = build.PROJECT_ROOT) -> list[Path]:
    """Write ``study.yml``, its cohort file, ``registry/`` and the cohort's screening log (when the bundled cohort
    has one beside it) into ``directory`` (created); returns their paths in that order. Refuses
    (``FileExistsError``) if ``directory/study.yml`` exists; nothing is overwritten."""
    from hsct_analysis.cohort import study
    from hsct_analysis.cohort.enrolment import beside, logs_beside

    directory = Path(directory)
    target = directory / "study.yml"
    if target.exists():
        raise FileExistsError(f"{target} exists; move it away or choose another folder")
    source = example_study(root)
    loaded = study.load_study(source)
    text = source.read_text(encoding="utf-8")
    text, replaced = _REGISTRY_LINE.subn(lambda m: m.group(1) + REGISTRY_FOLDER, text, count=1)
    if replaced != 1 or loaded.paper_registry is None:
        raise ValueError(f"{source} names no paper registry")  # the bundled study always has one
    cohort = directory / Path(loaded.cohort_file).name
    registry = directory / REGISTRY_FOLDER
    logs = [(log, beside(cohort)) for log in logs_beside(loaded.cohort_file)]
    for path in (cohort, registry, *(copy for _, copy in logs)):
        if path.exists():
            raise FileExistsError(f"{path} exists; move it away or choose another folder")
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(loaded.cohort_file, cohort)
    for log, copy in logs:
        shutil.copyfile(log, copy)
    registry.mkdir()
    for item in sorted(loaded.paper_registry.iterdir()):
        if item.is_file() and item.suffix in (".csv", ".md"):
            shutil.copyfile(item, registry / item.name)
    target.write_text(text, encoding="utf-8")
    return [target, cohort, registry, *(copy for _, copy in logs)]


__all__ = ["REGISTRY_FOLDER", "example_study", "write_example"]
