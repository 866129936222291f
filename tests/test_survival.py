"""Kaplan-Meier, log-rank and reverse-KM follow-up against R and against hand arithmetic.

The R answers come from tests/reference/make_reference.R (survival 3.5-3), stored as
tests/reference/ref_*.json. Every column is compared with a relative tolerance of 1e-6 and
an absolute floor of 1e-10 for values near 0; NaN (R's NA/NaN/Inf, written as null) must
sit at the same places.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.stats.survival import kaplan_meier, logrank, median_followup, value_at
from r_fixtures import FIXTURES, REF, close, close_to_survfit, load

R_NAME = {"arcsine": "arcsin", "log": "log", "log-log": "log-log", "plain": "plain"}


def km_input(ref: dict):
    data = ref["data"]
    return np.array(data["time"], dtype=float), (np.array(data["status"]) > 0).astype(int)


def test_there_are_enough_fixtures():
    assert len(FIXTURES) >= 11
    sizes = [len(load(p)["data"]["time"]) for p in FIXTURES]
    assert min(sizes) <= 5 and max(sizes) >= 2000
    assert sum(p.stat().st_size for p in REF.glob("*.json")) < 3e6


# ----------------------------------------------------------------------------- vs R
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("conf_type", list(R_NAME))
def test_kaplan_meier_matches_survfit(path, conf_type):
    ref = load(path)
    time, event = km_input(ref)
    km = kaplan_meier(time, event, conf_type=conf_type)
    r = ref["km"]
    close_to_survfit(km, r, R_NAME[conf_type])


@pytest.mark.parametrize("path", [p for p in FIXTURES if load(p)["survdiff"]], ids=lambda p: p.stem)
def test_logrank_matches_survdiff(path):
    ref = load(path)
    time, event = km_input(ref)
    result = logrank(time, event, ref["data"]["group"])
    r = ref["survdiff"]
    close([result.statistic], [r["chisq"]])
    assert result.df == r["df"]
    close([result.p_value], [r["p"]])
    assert list(result.table.index) == r["groups"]
    close(result.observed, r["observed"])
    close(result.expected, r["expected"])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_median_followup_matches_reverse_km(path):
    ref = load(path)
    time, event = km_input(ref)
    fu = median_followup(time, event)
    r = ref["followup"]
    close(
        [fu.median, fu.lower, fu.upper, fu.minimum, fu.maximum],
        [r["median"], r["lower"], r["upper"], r["min"], r["max"]],
    )


# ----------------------------------------------------------------------------- by hand
# Five patients (days): 2 death, 3 death, 3 censored, 5 death, 8 censored.
HAND_T = [2, 3, 3, 5, 8]
HAND_E = [1, 1, 0, 1, 0]


def test_kaplan_meier_by_hand():
    km = kaplan_meier(HAND_T, HAND_E)
    assert list(km.index) == [2, 3, 5, 8]
    assert list(km["at_risk"]) == [5, 4, 2, 1]
    s2 = 4 / 5  # 1 death among 5 at risk
    s3 = s2 * 3 / 4  # 1 death among 4 (the censoring at day 3 counts as still at risk)
    s5 = s3 * 1 / 2  # 1 death among the 2 left
    np.testing.assert_allclose(km["estimate"], [s2, s3, s5, s5], rtol=1e-12)
    # Greenwood: Var S = S^2 * sum d / (n (n - d))
    g3 = 1 / (5 * 4) + 1 / (4 * 3)
    np.testing.assert_allclose(km["std_err"].iloc[1], s3 * math.sqrt(g3), rtol=1e-12)
    # log interval: S * exp(+-1.96 * sqrt(g)), upper clipped at 1
    z = 1.959963984540054
    log_km = kaplan_meier(HAND_T, HAND_E, conf_type="log")
    np.testing.assert_allclose(log_km["lower"].iloc[1], s3 * math.exp(-z * math.sqrt(g3)), rtol=1e-12)
    assert log_km["upper"].iloc[1] == 1.0
    # arcsine interval: asin(sqrt S) -+ z/2 * sqrt(g) * sqrt(S / (1 - S))
    half = 0.5 * z * math.sqrt(g3) * math.sqrt(s3 / (1 - s3))
    lo = math.sin(math.asin(math.sqrt(s3)) - half) ** 2
    np.testing.assert_allclose(km["lower"].iloc[1], lo, rtol=1e-12)


def test_kaplan_meier_reaching_zero_and_starting_at_one_gives_nan_limits():
    km = kaplan_meier([1, 2, 3], [0, 1, 1])
    assert km["estimate"].tolist() == [1.0, 0.5, 0.0]
    assert np.isnan(km["lower"].iloc[0]) and np.isnan(km["upper"].iloc[0])  # S = 1, arcsine
    assert np.isnan(km["std_err"].iloc[2]) and np.isnan(km["lower"].iloc[2])  # S = 0
    plain = kaplan_meier([1, 2, 3], [0, 1, 1], conf_type="plain")
    assert plain["lower"].iloc[0] == 1.0 and plain["upper"].iloc[0] == 1.0


def test_all_censored_gives_ones():
    km = kaplan_meier([4, 7, 9], [0, 0, 0], conf_type="log")
    assert km["estimate"].tolist() == [1.0, 1.0, 1.0]
    assert km["std_err"].tolist() == [0.0, 0.0, 0.0]
    arcsine = kaplan_meier([4, 7, 9], [0, 0, 0])
    assert arcsine["lower"].isna().all()


def test_logrank_by_hand():
    # Group a: deaths at 1 and 3; group b: death at 2, censored at 4.
    res = logrank([1, 3, 2, 4], [1, 1, 1, 0], ["a", "a", "b", "b"])
    # day 1: 4 at risk (2 a), E_a = 2/4; day 2: 3 at risk (1 a), E_a = 1/3; day 3: 2 at risk (1 a), 1/2
    e_a = 2 / 4 + 1 / 3 + 1 / 2
    v = (2 / 4) * (2 / 4) + (1 / 3) * (2 / 3) + (1 / 2) * (1 / 2)  # d=1: n_a n_b / n^2
    np.testing.assert_allclose(res.expected["a"], e_a, rtol=1e-12)
    np.testing.assert_allclose(res.statistic, (2 - e_a) ** 2 / v, rtol=1e-12)
    assert res.df == 1


def test_median_followup_by_hand():
    # Reverse KM: the censorings (alive) at 4, 6, 10 are the 'events'; deaths at 2 and 8 censor.
    fu = median_followup([2, 4, 6, 8, 10], [1, 0, 0, 1, 0])
    # reverse S: day 4: 3/4; day 6: 3/4 * 2/3 = 1/2 -> exactly 0.5, then day 10 drops to 0
    # R takes the midpoint of 6 and 10 when the curve sits exactly on 0.5.
    assert fu.median == 8.0
    assert (fu.minimum, fu.maximum) == (2.0, 10.0)


# ----------------------------------------------------------------------------- value_at
def test_value_at_steps_and_edges():
    km = kaplan_meier(HAND_T, HAND_E)
    assert value_at(km, 4.9)["estimate"] == pytest.approx(0.6)
    assert value_at(km, 5)["estimate"] == pytest.approx(0.3)
    assert value_at(km, 8)["estimate"] == pytest.approx(0.3)
    before = value_at(km, 1)
    assert before["estimate"] == 1.0 and before["std_err"] == 0.0 and before["at_risk"] == 5
    assert np.isnan(before["lower"]) and np.isnan(before["upper"])
    after = value_at(km, 8.01)  # past the last follow-up: never extrapolated
    assert after.isna().all()
    plain = km.copy()
    plain.attrs = {}  # kind inferred from the columns when attrs are lost
    assert value_at(plain, 0)["estimate"] == 1.0


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "time, event, message",
    [
        ([], [], "empty"),
        ([1, 2], [1], "different lengths"),
        ([1, -2], [1, 0], "negative"),
        ([1, np.inf], [1, 0], "infinite"),
        ([1, 2], [1, 0.5], "integer"),
        ([1, 2], [1, 2], "0 \\(censored\\) or 1"),
        ([1, 2], ["a", 1], "integer"),
    ],
)
def test_invalid_input_raises(time, event, message):
    with pytest.raises(ValueError, match=message):
        kaplan_meier(time, event)


def test_bad_conf_type_and_single_group():
    with pytest.raises(ValueError, match="conf_type"):
        kaplan_meier([1, 2], [1, 0], conf_type="logit")
    with pytest.raises(ValueError, match="one group"):
        logrank([1, 2, 3], [1, 0, 1], ["a", "a", "a"])


def test_accepts_series_and_lists_alike():
    t, e = pd.Series(HAND_T, dtype=float), pd.Series(HAND_E)
    pd.testing.assert_frame_equal(kaplan_meier(t, e), kaplan_meier(HAND_T, np.array(HAND_E)))


def test_logrank_drops_groups_without_expected_events():
    # group a is censored (days 0.5, 0.6) before the first death: like survdiff, it drops out
    t = [1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    e = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1]
    g = ["b"] * 5 + ["c"] * 5
    with_a = logrank(t + [0.5, 0.6], e + [0, 0], g + ["a", "a"])
    without = logrank(t, e, g)
    assert with_a.df == 1 and with_a.expected["a"] == 0
    np.testing.assert_allclose(with_a.statistic, without.statistic, rtol=1e-12)
    np.testing.assert_allclose(with_a.statistic, 4.913849, rtol=1e-6)  # R survdiff, printed
