"""Scorecard tolerance rules on hand-made rows, and the pinned pass rates of data/cohort.csv."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.paper import registry as published
from hsct_analysis.paper import scorecard
from hsct_analysis.paper.scorecard import within_tolerance
from hsct_analysis.paper.synth import calibration

ROOT = Path(__file__).resolve().parents[1]

# Pass rates reached by the committed cohort (floors: they may rise, never fall, but for a trade the calibration
# makes on purpose). Conflicts are counted per estimate since the headline-first calibration: the CI bounds of a
# conflicting estimate count (the old cohort scored 0.845 under this rule, 0.902 when those bounds were left out).
# The headline push brought one more headline claim in (63 of 68) for one more non-conflicting printing out (42 of
# 874, 0.9519; it was 0.953) and overall 0.867 (0.873): the non-conflicting floor is now the calibration's own
# target (calibration.TARGET_SHARE), which ranks a headline claim below it.
FLOOR_OVERALL = 0.867
FLOOR_NON_CONFLICTING = calibration.TARGET_SHARE
FLOOR_COUNTS = 1.0


@pytest.mark.parametrize(
    "kind, stat, unit, published_, reproduced, ok",
    [
        ("count", "value", "n", 56, 56, True),
        ("count", "value", "n", 56, 55, False),
        ("percent", "value", "%", 58.9, 58.947, True),  # 56/95 rounds to the printed 58.9
        ("percent", "value", "%", 59.0, 58.947, False),
        ("percent", "value", "%", 5.3, 5.2632, True),
        ("km", "value", "%", 55.3, 56.29, True),
        ("km", "value", "%", 55.3, 56.31, False),
        ("cif", "value", "%", 10.5, 9.51, True),
        ("cif", "value", "%", 10.5, 9.49, False),
        ("km", "lower", "%", 44.3, 46.29, True),
        ("km", "upper", "%", 66.1, 68.11, False),
        ("median", "value", "days", 623, 624, True),
        ("median", "value", "days", 623, 624.5, False),
        ("range", "min", "years", 2.7, 2.79, True),
        ("range", "max", "years", 51.7, 51.85, False),
        ("median", "value", "x10^8/kg", 8.6, 8.7, True),
        ("p", "value", "p", 0.03, 0.045, True),
        ("p", "value", "p", 0.03, 0.055, False),  # wrong side of 0.05
        ("p", "value", "p", 0.382, 0.19, False),  # more than a factor 2 off
        ("p", "value", "p", 0.382, 0.20, True),
        ("p", "value", "p", 0.06, 0.049, False),
        ("hr", "value", "ratio", 4.10, 5.12, True),
        ("hr", "value", "ratio", 4.10, 5.13, False),
        ("hr", "value", "ratio", 4.10, 3.29, True),
        ("hr", "lower", "ratio", 1.64, 2.18, True),
        ("hr", "upper", "ratio", 10.24, 7.69, False),
        ("km", "value", "%", 55.3, float("nan"), False),
    ],
)
def test_tolerance_rules(kind, stat, unit, published_, reproduced, ok):
    assert within_tolerance(kind, stat, unit, published_, reproduced) is ok


def test_p_printed_below_threshold():
    assert within_tolerance("p", "value", "p", 0.001, 0.0004, printed="<0.001")
    assert not within_tolerance("p", "value", "p", 0.001, 0.002, printed="<0.001")


def _tiny_cohort() -> pd.DataFrame:
    """Four hand-made patients: two deaths (days 100 and 300), two censored (200, 400)."""
    return pd.DataFrame(
        {
            "followup_days": [100.0, 200.0, 300.0, 400.0],
            "dead": [1, 0, 1, 0],
            "relapse_days": [np.nan] * 4,
            "sex": ["male", "female", "male", "female"],
            "os_time": [100.0, 200.0, 300.0, 400.0],
            "os_event": [1, 0, 1, 0],
        }
    )


def test_reproduce_hand_made_rows():
    reg = pd.DataFrame(
        [
            {
                "id": "a",
                "kind": "count",
                "stat": "value",
                "variable": "sex",
                "category": "male",
                "value": 2,
                "unit": "n",
                "denominator": 4,
            },
            {
                "id": "b",
                "kind": "percent",
                "stat": "value",
                "variable": "sex",
                "category": "male",
                "value": 50.0,
                "unit": "%",
                "denominator": 4,
            },
            {
                "id": "c",
                "kind": "km",
                "stat": "value",
                "endpoint": "os",
                "time_days": 250.0,
                "value": 75.0,
                "unit": "%",
            },
            {
                "id": "d",
                "kind": "km",
                "stat": "value",
                "endpoint": "os",
                "time_days": 350.0,
                "value": 37.5,
                "unit": "%",
            },
            {"id": "e", "kind": "median", "stat": "value", "variable": "followup_days", "value": 250, "unit": "days"},
            {
                "id": "f",
                "kind": "km",
                "stat": "value",
                "endpoint": "os",
                "time_days": 350.0,
                "value": 40.0,
                "unit": "%",
                "status": "inconsistent",
            },
        ]
    )
    card = scorecard.reproduce(_tiny_cohort(), reg).set_index("id")
    assert card.loc["a", "reproduced"] == 2 and card.loc["a", "passed"]
    assert card.loc["b", "reproduced"] == 50.0 and card.loc["b", "passed"]
    # KM: 1 - 1/4 = 75 % after day 100; then x (1 - 1/2) = 37.5 % after day 300
    assert card.loc["c", "reproduced"] == pytest.approx(75.0)
    assert card.loc["d", "reproduced"] == pytest.approx(37.5)
    assert card.loc["e", "reproduced"] == 250.0
    assert not card.loc["f", "passed"] and card.loc["f", "conflict"]
    rates = scorecard.pass_rates(card.reset_index())
    assert rates["overall"] == pytest.approx(5 / 6)
    assert rates["non_conflicting"] == 1.0


@pytest.fixture(scope="module")
def card():
    return scorecard.scorecard_for(ROOT / "data" / "cohort.csv")  # with the screening log beside it


def test_every_registry_row_is_scored(card):
    assert len(card) == len(published.load_registry())
    assert set(card.columns) >= {"published", "reproduced", "difference", "tolerance", "passed", "conflict", "method"}


def test_pass_rates_do_not_fall(card):
    rates = scorecard.pass_rates(card)
    assert rates["overall"] >= FLOOR_OVERALL
    assert rates["non_conflicting"] >= FLOOR_NON_CONFLICTING
    assert rates["counts"] >= FLOOR_COUNTS


def test_summary_and_worst(card):
    s = scorecard.summary(card)
    assert int(s["entries"].sum()) == len(card)
    worst = scorecard.worst(card, k=10)
    assert len(worst) == 10
    assert (worst["miss"] > 0).all()


def test_committed_scorecard_matches_the_cohort(card):
    committed = pd.read_csv(ROOT / "data" / "scorecard.csv")
    assert committed["passed"].sum() == card["passed"].sum()


def test_chapter_8_glues_every_number_of_the_relapse_argument_and_only_those():
    """The section on why the synthetic cohort has 9 relapses reads its numbers from
    :func:`~hsct_analysis.book.scorecard_view.relapse_bound_text`: every key the chapter cites is produced, with the
    argument's figures on the bundled registry and one placeholder on any other cohort."""
    import re

    from hsct_analysis.book import scorecard_view

    cited = set(re.findall(r"\{glue:text\}`(rb_[a-z_]+)`", (ROOT / "notebooks" / "08_scorecard.ipynb").read_text()))
    text = scorecard_view.relapse_bound_text(published.load_registry())
    assert cited == set(text)
    assert (text["rb_n"], text["rb_printed_count"], text["rb_count"]) == ("95", "10", "9")
    assert (text["rb_nrm_floor"], text["rb_ri_ceiling"], text["rb_lfs_floor"]) == ("41.58", "9.62", "48.8")
    assert (text["rb_printed_floor"], text["rb_count_floor"]) == ("10.53", "9.47")
    elsewhere = scorecard_view.relapse_bound_text(None)
    assert set(elsewhere) == cited and set(elsewhere.values()) == {scorecard_view.RELAPSE_BOUND_ELSEWHERE}
