"""Shared building blocks of the estimators: input coercion, risk-set tallies, normal quantiles.

Public so that every estimator module (``survival``, ``competing``, ...) uses the same rules:
times are days (finite, >= 0), status codes are non-negative integers, groups have no missing values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["KIND_ATTR", "as_times", "as_codes", "as_event", "as_groups", "z_value", "tally"]

KIND_ATTR = "curve_kind"  # DataFrame.attrs key: "survival" or "cumulative_incidence"


def as_times(time) -> np.ndarray:
    """Times as a float array; ValueError if empty, NaN, infinite or negative."""
    arr = np.asarray(time, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("no observations: time is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError("time contains NaN or infinite values")
    if np.any(arr < 0):
        raise ValueError("time contains negative values (times are days, >= 0)")
    return arr


def as_codes(status, n: int, name: str = "status") -> np.ndarray:
    """Integer status codes (0 = censored, 1..k = event types); ValueError otherwise."""
    raw = np.asarray(status).ravel()
    if raw.size != n:
        raise ValueError(f"time and {name} have different lengths ({n} and {raw.size})")
    try:
        as_float = raw.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be integer codes (0 = censored, 1..k = events)") from err
    if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
        raise ValueError(f"{name} must be integer codes without NaN (0 = censored, 1..k = events)")
    codes = as_float.astype(np.int64)
    if np.any(codes < 0):
        raise ValueError(f"{name} codes must be >= 0 (0 = censored, 1..k = events)")
    return codes


def as_event(event, n: int) -> np.ndarray:
    """Event indicator 0/1 as int array; ValueError for anything else."""
    codes = as_codes(event, n, name="event")
    if np.any(codes > 1):
        raise ValueError("event must be 0 (censored) or 1 (event)")
    return codes


def as_groups(group, n: int, name: str = "group") -> np.ndarray:
    """Group labels as an array of length n with no missing values."""
    arr = np.asarray(group, dtype=object).ravel()
    if arr.size != n:
        raise ValueError(f"time and {name} have different lengths ({n} and {arr.size})")
    if pd.isna(pd.Series(arr)).any():
        raise ValueError(f"{name} contains missing values")
    return arr


def z_value(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be between 0 and 1 (e.g. 0.95)")
    return float(stats.norm.ppf(1 - (1 - conf_level) / 2))


def tally(time: np.ndarray, codes: np.ndarray, n_codes: int):
    """Distinct sorted times, number at risk just before each, and counts per code.

    Returns (times, at_risk, counts) with counts[:, c] = number of subjects with status c
    at that time (c = 0..n_codes-1).
    """
    times, inverse = np.unique(time, return_inverse=True)
    counts = np.zeros((times.size, n_codes), dtype=np.int64)
    np.add.at(counts, (inverse, codes), 1)
    leaving = counts.sum(axis=1)
    at_risk = time.size - np.concatenate(([0], np.cumsum(leaving)[:-1]))
    return times, at_risk, counts
