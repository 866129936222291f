"""Design matrices for regression models, shared by Fine-Gray and cause-specific Cox.

Categorical covariates (object, string, bool or category dtype) get treatment coding: one
0/1 column per non-reference level, named ``"covariate[level]"``. The reference level is
the first category of a ``category`` column, the first in sorted order for other columns
(as R's ``factor()`` does), or the one given in ``reference={"covariate": "level"}``.
Numeric covariates enter as they are, under their own name, in their own units.

Rows with a missing value in the time, status or any covariate column are dropped
(complete-case analysis, as R's ``na.omit``); levels left with no patients are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Term:
    """One column of the design matrix.

    ``covariate`` is the data column it comes from; ``level`` and ``reference`` are the
    compared level and its reference for categorical covariates (None for numeric ones).
    """

    name: str
    covariate: str
    level: str | None = None
    reference: str | None = None


@dataclass
class Design:
    """A complete-case design: matrix ``x`` (n x p), ``time`` (days), ``status`` codes."""

    x: np.ndarray
    terms: list[Term]
    time: np.ndarray
    status: np.ndarray
    index: pd.Index
    n_dropped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def term_names(self) -> list[str]:
        return [t.name for t in self.terms]

    def frame(self) -> pd.DataFrame:
        """The design matrix as a DataFrame (rows = retained patients, columns = terms)."""
        return pd.DataFrame(self.x, index=self.index, columns=self.term_names)


def is_categorical(values: pd.Series) -> bool:
    """True for columns coded as categories rather than numbers."""
    return (
        isinstance(values.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(values)
        or pd.api.types.is_string_dtype(values)
        or pd.api.types.is_bool_dtype(values)
    )


def levels_of(values: pd.Series, reference: str | None = None) -> list:
    """Levels present in ``values``, reference first.

    Category columns keep their category order; other columns are sorted. A ``reference``
    that is not among the present levels raises ValueError.
    """
    present = set(values.dropna().unique())
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = [lev for lev in values.cat.categories if lev in present]
    else:
        levels = sorted(present, key=lambda v: (str(type(v)), v))
    if reference is not None:
        matches = [lev for lev in levels if lev == reference or str(lev) == str(reference)]
        if not matches:
            raise ValueError(f"reference level {reference!r} not found among {levels!r}")
        levels = [matches[0]] + [lev for lev in levels if lev is not matches[0]]
    return levels


def _categorical_columns(
    name: str, values: pd.Series, reference: str | None, notes: list[str]
) -> tuple[list[np.ndarray], list[Term]]:
    """Treatment-coded 0/1 columns for one categorical covariate."""
    levels = levels_of(values, reference)
    if isinstance(values.dtype, pd.CategoricalDtype):
        unused = [lev for lev in values.cat.categories if lev not in levels]
        if unused:
            notes.append(f"{name}: level(s) {unused} have no patients and were dropped")
    if len(levels) < 2:
        raise ValueError(f"covariate {name!r} has fewer than two levels among complete cases")
    ref = levels[0]
    columns, terms = [], []
    for level in levels[1:]:
        columns.append((values == level).to_numpy(dtype=float))
        terms.append(Term(name=f"{name}[{level}]", covariate=name, level=str(level), reference=str(ref)))
    return columns, terms


def design_matrix(
    data: pd.DataFrame,
    duration_col: str,
    status_col: str,
    covariates: list[str],
    reference: dict[str, str] | None = None,
) -> Design:
    """Build the complete-case design matrix for a regression on ``covariates``.

    ``duration_col`` holds times in days, ``status_col`` the integer status codes
    (0 = censored, 1..k = causes). Returns a :class:`Design`.
    """
    covariates = list(covariates)
    reference = dict(reference or {})
    unknown = set(reference) - set(covariates)
    if unknown:
        raise ValueError(f"reference given for covariates not in the model: {sorted(unknown)}")
    used = data[[duration_col, status_col, *covariates]]
    complete = used.dropna()
    notes: list[str] = []
    n_dropped = len(used) - len(complete)
    if n_dropped:
        notes.append(f"{n_dropped} patient(s) with missing values were dropped")
    columns: list[np.ndarray] = []
    terms: list[Term] = []
    for name in covariates:
        values = complete[name]
        if is_categorical(values):
            cols, ts = _categorical_columns(name, values, reference.get(name), notes)
        else:
            if name in reference:
                raise ValueError(f"reference given for numeric covariate {name!r}")
            cols, ts = [values.to_numpy(dtype=float)], [Term(name=name, covariate=name)]
        columns += cols
        terms += ts
    x = np.column_stack(columns) if columns else np.empty((len(complete), 0))
    return Design(
        x=x,
        terms=terms,
        time=complete[duration_col].to_numpy(dtype=float),
        status=complete[status_col].to_numpy(dtype=int),
        index=complete.index,
        n_dropped=n_dropped,
        notes=notes,
    )


def profile_matrix(profiles: pd.DataFrame, terms: list[Term]) -> np.ndarray:
    """Code covariate ``profiles`` (one row per profile) with the terms of a fitted design.

    Categorical values must be levels seen in the fit (the reference or a coded level).
    """
    columns = []
    for term in terms:
        values = profiles[term.covariate]
        if term.level is None:
            columns.append(values.to_numpy(dtype=float))
            continue
        known = {term.reference} | {t.level for t in terms if t.covariate == term.covariate}
        bad = sorted({str(v) for v in values} - known)
        if bad:
            raise ValueError(f"{term.covariate}: level(s) {bad} were not in the fitted data")
        columns.append((values.astype(str) == term.level).to_numpy(dtype=float))
    return np.column_stack(columns) if columns else np.empty((len(profiles), 0))
