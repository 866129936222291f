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
#: The example studies (data/examples/NAME/study.yml) and the tolerance of their fixtures (ex_*.json).
EXAMPLES = Path(__file__).parents[1] / "data" / "examples"
EXAMPLE_TOL = dict(rtol=1e-9, atol=1e-12)


def load(path: Path) -> dict:
    """One fixture: the dataset and R's results."""
    return json.loads(path.read_text())


def example_fixture(name: str) -> dict:
    """The R fixture tests/reference/ex_NAME.json of an example study."""
    return load(REF / f"ex_{name}.json")


def as_float(values) -> np.ndarray:
    """JSON numbers with null as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def close(actual, expected) -> None:
    """Assert equality to R within RTOL (ATOL near 0), NaNs in the same places."""
    np.testing.assert_allclose(as_float(actual), as_float(expected), rtol=RTOL, atol=ATOL)


def group_data(ref: dict, curve: dict) -> tuple[np.ndarray, np.ndarray]:
    """``time`` and ``status`` of a fixture's data, restricted to ``curve["group"]`` when it names one."""
    time = np.array(ref["data"]["time"], dtype=float)
    status = np.array(ref["data"]["status"])
    if curve["group"] is not None:
        keep = np.array(ref["data"]["group"]) == curve["group"]
        time, status = time[keep], status[keep]
    return time, status


def close_to_survfit(km, r: dict, conf: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    """A Kaplan-Meier curve equals R ``survfit``'s (times, counts, estimate, std_err, ``conf`` limits)
    within ``rtol`` (``atol`` near 0), NaNs in the same places."""

    def close(actual, expected) -> None:
        np.testing.assert_allclose(as_float(actual), as_float(expected), rtol=rtol, atol=atol)

    close(km.index, r["time"])
    for column, r_name in (("at_risk", "n_risk"), ("events", "n_event"), ("censored", "n_censor")):
        close(km[column], r[r_name])
    close(km["estimate"], r["surv"])
    close(km["std_err"], r["std_err"])
    close(km["lower"], r[f"lower_{conf}"])
    close(km["upper"], r[f"upper_{conf}"])
