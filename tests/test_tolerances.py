"""One set of tolerance rules: the scorecard's pass/fail and the calibration's miss agree."""

import numpy as np
import pytest

from hsct_analysis.paper import scorecard, tolerances
from hsct_analysis.paper.synth import calibration


@pytest.mark.parametrize(
    "kind, stat, unit, published, printed",
    [
        ("km", "value", "%", 49.8, ""),
        ("cif", "lower", "%", 33.9, ""),
        ("median", "value", "days", 623, ""),
        ("range", "max", "years", 52.8, ""),
        ("p", "value", "p", 0.03, ""),
        ("p", "value", "p", 0.342, ""),
        ("p", "value", "p", 0.001, "<0.001"),
        ("hr", "value", "ratio", 4.10, ""),
        ("hr", "upper", "ratio", 10.24, ""),
    ],
)
def test_scaled_miss_within_one_exactly_when_the_scorecard_passes(kind, stat, unit, published, printed):
    factors = np.exp(np.linspace(-1.5, 1.5, 301)) if kind in ("p", "hr") else None
    values = published * factors if factors is not None else published + np.linspace(-5, 5, 301)
    for v in values:
        passed = tolerances.within_tolerance(kind, stat, unit, published, v, printed)
        x = tolerances.scaled_miss(kind, stat, unit, published, v, printed)
        assert passed == (x <= 1 + 1e-9), (v, x)


def test_the_scorecard_and_the_calibration_read_the_same_rules():
    assert scorecard.within_tolerance is tolerances.within_tolerance
    assert scorecard.tolerance_text("km", "value", "%") == "+-1 pp"
    # the calibration's penalty is the squared scaled miss: one tolerance out costs 1
    assert calibration.entry_penalty("km", "value", 50.0, 51.0) == pytest.approx(1.0)
    assert calibration.entry_penalty("hr", "value", 4.10, 4.10 * 1.25) == pytest.approx(1.0)
    assert calibration.entry_penalty("p", "value", 0.03, 0.06) > 1  # wrong side of 0.05
    assert calibration.entry_penalty("km", "value", 50.0, float("nan")) == calibration.PENALTY_CAP
