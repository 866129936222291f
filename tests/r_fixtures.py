"""Shared access to the R reference fixtures (tests/reference/ref_*.json, from make_reference.R).

Values are compared with a relative tolerance of 1e-6 and an absolute floor of 1e-10 for
values near 0; R's NA/NaN/Inf are stored as null and must sit at the same places.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REF = Path(__file__).parent / "reference"
FIXTURES = sorted(REF.glob("ref_*.json"))
RTOL, ATOL = 1e-6, 1e-10


def load(path: Path) -> dict:
    """One fixture: the dataset and R's results."""
    return json.loads(path.read_text())


def as_float(values) -> np.ndarray:
    """JSON numbers with null as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def close(actual, expected) -> None:
    """Assert equality to R within RTOL (ATOL near 0), NaNs in the same places."""
    np.testing.assert_allclose(as_float(actual), as_float(expected), rtol=RTOL, atol=ATOL)
