"""The registry of every number Cao et al. (2023) report (``hsct_analysis/paper/registry/*.csv``, shipped with the package).

One row per printed number: an estimate and its two CI bounds are three rows. The schema
and the conventions are documented in ``paper/registry/README.md``. Units follow the
``unit`` column: percent on the 0-100 scale (``%``), days, years, cell doses per kg,
hazard ratios (``ratio``) and p-values (``p``).

``load_registry`` reads and validates all files; a malformed registry raises
``RegistryError`` naming the file, the row id and the rule broken. ``lookup`` filters rows.
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import pandas as pd

from hsct_analysis.cohort.factors import FACTORS

PAPER: dict[str, object] = {
    "authors": (
        "Cao X-y, Zhang J-p, Zhao Y-l, Xiong M, Zhou J-r, Lu Y, Sun R-j, Wei Z-j, Liu D-y, Zhang X, Yang J-f, Lu P"
    ),
    "title": (
        "Analysis benefits of a second Allo-HSCT after CAR-T cell therapy in patients with "
        "relapsed/refractory B-cell acute lymphoblastic leukemia who relapsed after transplant"
    ),
    "journal": "Frontiers in Immunology",
    "journal_abbrev": "Front. Immunol.",
    "year": 2023,
    "volume": 14,
    "article": "1191382",
    "doi": "10.3389/fimmu.2023.1191382",
}

# The registry CSVs ship inside the package (importlib.resources), so an installed wheel finds them.
REGISTRY_DIR = Path(str(resources.files("hsct_analysis.paper").joinpath("registry")))
FILES = ("table1", "table2", "table3", "table4", "text")

COLUMNS = (
    "id", "source", "kind", "stat", "endpoint", "variable", "category", "factor", "level",
    "reference", "model", "test", "time_days", "value", "unit", "denominator", "printed",
    "duplicate_of", "note", "status", "reason",
)  # fmt: skip

STATS_OF_KIND = {
    "count": {"value"},
    "percent": {"value"},
    "median": {"value"},
    "p": {"value"},
    "range": {"min", "max"},
    "km": {"value", "lower", "upper"},
    "cif": {"value", "lower", "upper"},
    "hr": {"value", "lower", "upper"},
}
UNITS = {"n", "%", "days", "years", "x10^8/kg", "x10^6/kg", "ratio", "p"}
UNIT_OF_KIND = {"count": "n", "percent": "%", "km": "%", "cif": "%", "hr": "ratio", "p": "p"}
REGISTRY_ENDPOINTS = {
    "os", "lfs", "relapse", "nrm", "neutrophil_engraftment", "platelet_engraftment",
    "agvhd_2_4", "agvhd_3_4", "cgvhd", "cgvhd_extensive", "cmv", "ebv", "ptld", "tma",
}  # fmt: skip
TESTS = {"logrank", "gray", "fisher", "chisq", "wald"}
MODELS = {"multivariate"}
STATUSES = {"", "ok", "inconsistent"}


class RegistryError(ValueError):
    """A registry row breaks a rule; the message names file, row id and rule."""


# --------------------------------------------------------------------------- numbers in text
_UNITS_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_RE = re.compile(
    r"\b(?:(?P<tens>" + "|".join(_TENS_WORDS) + r")(?:-(?P<unit>" + "|".join(_UNITS_WORDS[1:10]) + r"))?"
    r"|(?P<small>" + "|".join(_UNITS_WORDS) + r"))\b",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def numbers_in(text: str) -> list[float]:
    """All numbers written in ``text``: digits (``2.83``, ``1.42E+06``) and words (``Sixty-one``)."""
    found = [float(m) for m in _NUMBER_RE.findall(text)]
    for m in _WORD_RE.finditer(text):
        if m.group("small"):
            found.append(float(_UNITS_WORDS.index(m.group("small").lower())))
        else:
            tens = 20 + 10 * _TENS_WORDS.index(m.group("tens").lower())
            unit = _UNITS_WORDS.index(m.group("unit").lower()) if m.group("unit") else 0
            found.append(float(tens + unit))
    return found


# --------------------------------------------------------------------------- reading
def read_registry_file(path: Path | str) -> pd.DataFrame:
    """One registry CSV as strings (empty cells are ``""``), with a ``file`` column (stem)."""
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame.insert(0, "file", path.stem)
    return frame


def _fail(row: pd.Series, rule: str) -> None:
    raise RegistryError(f"{row['file']}.csv, row id {row['id']!r}: {rule}")


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _check_row(row: pd.Series, known_ids: set[str]) -> None:
    """Raise ``RegistryError`` if one row breaks a rule of the schema."""
    kind, stat = row["kind"], row["stat"]
    if kind not in STATS_OF_KIND:
        _fail(row, f"kind {kind!r} not one of {sorted(STATS_OF_KIND)}")
    if stat not in STATS_OF_KIND[kind]:
        _fail(row, f"stat {stat!r} not allowed for kind {kind!r} (allowed: {sorted(STATS_OF_KIND[kind])})")
    if row["unit"] not in UNITS:
        _fail(row, f"unit {row['unit']!r} not one of {sorted(UNITS)}")
    if kind in UNIT_OF_KIND and row["unit"] != UNIT_OF_KIND[kind]:
        _fail(row, f"unit {row['unit']!r} for kind {kind!r}; expected {UNIT_OF_KIND[kind]!r}")
    value = _as_float(row["value"])
    if value is None:
        _fail(row, f"value {row['value']!r} is not a finite number")
    if value < 0:
        _fail(row, f"value {value} is negative")
    if kind == "count" and value != int(value):
        _fail(row, f"count value {value} is not a whole number")
    if kind == "p" and value > 1:
        _fail(row, f"p value {value} > 1")
    if kind in ("percent", "km", "cif") and value > 100:
        _fail(row, f"percent value {value} > 100")
    if not any(math.isclose(value, x, rel_tol=1e-9, abs_tol=1e-12) for x in numbers_in(row["printed"])):
        _fail(row, f"value {row['value']} does not appear in printed text {row['printed']!r}")
    if row["endpoint"] and row["endpoint"] not in REGISTRY_ENDPOINTS:
        _fail(row, f"endpoint {row['endpoint']!r} not one of {sorted(REGISTRY_ENDPOINTS)}")
    if kind in ("km", "cif", "hr") and not row["endpoint"]:
        _fail(row, f"kind {kind!r} needs an endpoint")
    if kind in ("km", "cif") and _as_float(row["time_days"]) is None:
        _fail(row, f"kind {kind!r} needs a numeric time_days, got {row['time_days']!r}")
    if row["test"] and row["test"] not in TESTS:
        _fail(row, f"test {row['test']!r} not one of {sorted(TESTS)}")
    if row["model"] and row["model"] not in MODELS:
        _fail(row, f"model {row['model']!r} not one of {sorted(MODELS)}")
    if row["denominator"] and _as_float(row["denominator"]) is None:
        _fail(row, f"denominator {row['denominator']!r} is not a number")
    if kind == "percent" and not row["denominator"]:
        _fail(row, "percent row needs a denominator")
    _check_factor(row)
    if row["duplicate_of"] and row["duplicate_of"] not in known_ids:
        _fail(row, f"duplicate_of {row['duplicate_of']!r} names no row of the registry")
    if row["duplicate_of"] == row["id"]:
        _fail(row, "duplicate_of names the row itself")
    if row["status"] not in STATUSES:
        _fail(row, f"status {row['status']!r} not one of ok|inconsistent")


def _check_factor(row: pd.Series) -> None:
    """Factor/level/reference names must be those of ``hsct_analysis.cohort.factors.FACTORS``."""
    factor = row["factor"]
    if factor and factor not in FACTORS:
        _fail(row, f"factor {factor!r} not in FACTORS ({', '.join(FACTORS)})")
    if (row["level"] or row["reference"]) and not factor:
        _fail(row, "level/reference given without a factor")
    levels = FACTORS[factor].levels if factor else ()
    for column in ("level", "reference"):
        if row[column] and row[column] not in levels:
            _fail(row, f"{column} {row[column]!r} is not a level of factor {factor!r} {levels}")
    if row["kind"] == "hr" and not (factor and row["level"] and row["reference"]):
        _fail(row, "hr row needs factor, level and reference")
    if row["file"] == "table3" and row["kind"] == "count":  # group sizes: variable = factor
        if row["variable"] not in FACTORS:
            _fail(row, f"Table 3 count variable {row['variable']!r} is not a factor of FACTORS")
        if row["category"] not in FACTORS[row["variable"]].levels:
            _fail(row, f"category {row['category']!r} is not a level of factor {row['variable']!r}")


def validate_registry(frame: pd.DataFrame) -> None:
    """Raise ``RegistryError`` unless every row of ``frame`` (strings, with ``file``) is valid."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        files = ", ".join(sorted(set(frame.get("file", pd.Series(["?"])))))
        raise RegistryError(f"{files}: missing column(s) {missing}")
    for _, row in frame[frame["id"] == ""].iterrows():
        _fail(row, "empty id")
    duplicated = frame[frame["id"].duplicated(keep="first")]
    for _, row in duplicated.iterrows():
        first = frame[frame["id"] == row["id"]].iloc[0]
        _fail(row, f"id is not unique (also in {first['file']}.csv)")
    known = set(frame["id"])
    for _, row in frame.iterrows():
        _check_row(row, known)


def load_registry(path: Path | str | None = None) -> pd.DataFrame:
    """All registry rows (every CSV of ``path``, default: the packaged registry), validated.

    ``path`` may be a directory (all ``*.csv`` in it) or a single CSV file. Returns a
    DataFrame with a ``file`` column (the CSV stem); ``value``, ``time_days`` and
    ``denominator`` are floats (NaN where empty); the other columns are strings.
    """
    path = REGISTRY_DIR if path is None else Path(path)
    paths = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    order = {name: i for i, name in enumerate(FILES)}
    paths.sort(key=lambda p: (order.get(p.stem, len(order)), p.stem))
    if not paths:
        raise RegistryError(f"{path}: no registry CSV files")
    frame = pd.concat([read_registry_file(p) for p in paths], ignore_index=True)
    validate_registry(frame)
    for column in ("value", "time_days", "denominator"):
        frame[column] = pd.to_numeric(frame[column].replace("", None), errors="raise").astype(float)
    return frame


def lookup(registry: pd.DataFrame, canonical: bool = False, **filters: object) -> pd.DataFrame:
    """Rows of ``registry`` whose columns equal every ``filters`` value.

    Numbers compare numerically (``time_days=1095.75``); ``canonical=True`` keeps only rows
    that are not duplicates of another place (empty ``duplicate_of``).
    Example: ``lookup(reg, endpoint="lfs", factor="cart_interval_90", level=">90", stat="value")``.
    """
    mask = pd.Series(True, index=registry.index)
    for column, wanted in filters.items():
        if column not in registry.columns:
            raise KeyError(f"registry has no column {column!r}")
        series = registry[column]
        if isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
            mask &= pd.to_numeric(series, errors="coerce").sub(float(wanted)).abs().lt(1e-9)
        else:
            mask &= series.astype(str) == str(wanted)
    if canonical:
        mask &= registry["duplicate_of"] == ""
    return registry[mask]


def group_size(registry: pd.DataFrame, factor: str = "", level: str = "") -> float:
    """Patients in a group: the whole cohort (``patients``/``enrolled``) or a Table 3 level."""
    if factor:
        rows = lookup(registry, kind="count", variable=factor, category=level)
    else:
        rows = lookup(registry, kind="count", variable="patients", category="enrolled")
    values = set(rows["value"])
    if len(values) != 1:
        raise KeyError(f"no unique group size for factor={factor!r} level={level!r}: {sorted(values)}")
    return float(values.pop())


def whole_cohort_estimate(registry: pd.DataFrame, endpoint: str, time_days: float) -> float:
    """The paper's estimate (%) of ``endpoint`` for the whole cohort at ``time_days`` (its one canonical row)."""
    rows = lookup(registry, endpoint=endpoint, time_days=time_days, factor="", stat="value", canonical=True)
    if len(rows) != 1:
        raise KeyError(f"{len(rows)} canonical whole-cohort estimates of {endpoint} at {time_days} days, not one")
    return float(rows["value"].iloc[0])
