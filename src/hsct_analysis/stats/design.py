"""Design matrices for regression models, shared by Fine-Gray and cause-specific Cox.

Categorical covariates (object, string, bool or category dtype) get treatment coding: one
0/1 column per non-reference level, named ``"covariate[level]"``. The reference level is
the first category of a ``category`` column, the first in sorted order for other columns
(as R's ``factor()`` does), or the one given in ``reference={"covariate": "level"}``.
Numeric covariates enter as they are, under their own name, in their own units (one linear
term). A numeric column that looks like codes (3 to ``MAX_CODE_LEVELS`` distinct integer
values, e.g. a group coded 1/2/3) raises ValueError unless the caller says how to use it:
``categorical=["group"]`` for treatment coding, ``numeric=["group"]`` for a linear term.

Rows with a missing value in the time, status or any covariate column are dropped
(complete-case analysis, as R's ``na.omit``) and a note records how many; levels left with
no patients are dropped. Unknown column names raise ValueError listing the columns present.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.stats.docstrings import substitute

#: A numeric covariate with 3 to this many distinct integer values is ambiguous (codes or a
#: count?): the caller must list it in ``categorical`` or ``numeric``.
MAX_CODE_LEVELS = 10


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


def _check_columns(data: pd.DataFrame, time: str, status: str, covariates: list[str]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(covariates, str):
        raise ValueError(f"covariates must be a list of column names, got the string {covariates!r}")
    for role, name in (("time", time), ("status", status)):
        if name not in data.columns:
            raise ValueError(f"{role} column {name!r} is not in data; columns are {list(map(str, data.columns))}")
    unknown = [c for c in covariates if c not in data.columns]
    if unknown:
        raise ValueError(f"covariate(s) {unknown} not in data; columns are {list(map(str, data.columns))}")
    if len(set(covariates)) < len(covariates):
        raise ValueError(f"covariates are repeated: {covariates}")
    for name in covariates:
        if name in (time, status):
            raise ValueError(f"covariate {name!r} is also the time or status column")


def _looks_like_codes(values: pd.Series) -> bool:
    """Numeric with 3..MAX_CODE_LEVELS distinct values, all integers (e.g. groups 1/2/3)."""
    distinct = pd.unique(values.dropna())
    if not 3 <= len(distinct) <= MAX_CODE_LEVELS:
        return False
    arr = np.asarray(distinct, dtype=float)
    return bool(np.all(arr == np.round(arr)))


@substitute()
def design_matrix(
    data: pd.DataFrame,
    time: str,
    status: str,
    covariates: list[str],
    reference: dict[str, str] | None = None,
    *,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    cencode: int = 0,
) -> Design:
    """Build the complete-case design matrix for a regression on ``covariates``.

    Parameters
    ----------
    %(design_columns)s
    reference : dict, optional
        ``{covariate: level}``: the reference level of a categorical covariate.
    categorical, numeric : list of str, optional
        Covariates to treatment-code (``categorical``) or to enter as one linear term
        (``numeric``) whatever their dtype says; needed for numeric columns that look like
        codes (see the module docstring).
    cencode : int
        Censoring code of ``status``; recoded to 0 in the returned ``Design``.

    Returns
    -------
    Design
        ``status`` in the returned design is 0 for censored and the original code otherwise
        (a cause coded 0 when ``cencode`` is not 0 is not supported: ValueError).
    """
    if isinstance(covariates, str):
        raise ValueError(f"covariates must be a list of column names, got the string {covariates!r}")
    covariates = list(covariates)
    _check_columns(data, time, status, covariates)
    reference = dict(reference or {})
    categorical, numeric = list(categorical or []), list(numeric or [])
    for role, names in (("reference", list(reference)), ("categorical", categorical), ("numeric", numeric)):
        unknown = sorted(set(names) - set(covariates))
        if unknown:
            raise ValueError(f"{role} given for covariates not in the model: {unknown}; covariates are {covariates}")
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise ValueError(f"covariate(s) {both} are listed as both categorical and numeric")
    used = data[[time, status, *covariates]]
    complete = used.dropna()
    notes: list[str] = []
    n_dropped = len(used) - len(complete)
    if n_dropped:
        notes.append(f"{n_dropped} patient(s) with missing values were dropped")
    columns: list[np.ndarray] = []
    terms: list[Term] = []
    for name in covariates:
        values = complete[name]
        if (
            name in categorical
            or (name in reference and name not in numeric)
            or (name not in numeric and is_categorical(values))
        ):
            cols, ts = _categorical_columns(name, values, reference.get(name), notes)
        else:
            if name in reference:
                raise ValueError(f"reference given for numeric covariate {name!r}")
            if name not in numeric and _looks_like_codes(values):
                codes = sorted(pd.unique(values.dropna()).tolist())
                raise ValueError(
                    f"covariate {name!r} is numeric with the integer values {codes}: as it stands it would enter "
                    f"as one linear term. Pass categorical=[{name!r}] to compare its levels, or numeric=[{name!r}] "
                    "to keep the linear term"
                )
            try:
                cols, ts = [values.to_numpy(dtype=float)], [Term(name=name, covariate=name)]
            except (TypeError, ValueError) as err:
                raise ValueError(f"covariate {name!r} is neither numeric nor categorical ({values.dtype})") from err
        columns += cols
        terms += ts
    x = np.column_stack(columns) if columns else np.empty((len(complete), 0))
    try:
        raw_status = complete[status].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"status column {status!r} must hold integer codes") from err
    if np.any(raw_status != np.round(raw_status)):
        raise ValueError(f"status column {status!r} must hold integer codes")
    codes = raw_status.astype(int)
    if cencode != 0:
        if np.any(codes == 0):
            raise ValueError(
                f"status column {status!r} uses 0 as a cause while cencode={cencode}; recode the causes to non-zero codes"
            )
        codes = np.where(codes == cencode, 0, codes)
    try:
        times = complete[time].to_numpy(dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"time column {time!r} must hold numbers (days)") from err
    if np.any(~np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"time column {time!r} must hold finite times >= 0 (days)")
    return Design(
        x=x,
        terms=terms,
        time=times,
        status=codes,
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
        if term.covariate not in profiles.columns:
            raise ValueError(
                f"profiles lack the covariate {term.covariate!r}; columns are {list(map(str, profiles.columns))}"
            )
        values = profiles[term.covariate]
        if term.level is None:
            columns.append(values.to_numpy(dtype=float))
            continue
        known = {term.reference} | {t.level for t in terms if t.covariate == term.covariate}
        bad = sorted({str(v) for v in values} - known)
        if bad:
            raise ValueError(f"{term.covariate}: level(s) {bad} were not in the fitted data (levels: {sorted(known)})")
        columns.append((values.astype(str) == term.level).to_numpy(dtype=float))
    return np.column_stack(columns) if columns else np.empty((len(profiles), 0))
