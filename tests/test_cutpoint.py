"""Maximally selected log-rank statistics: hand-checkable scores and the corrected p-value."""

import numpy as np
import pytest
from scipy import stats

from hsct_analysis.stats import cutpoint


def test_logrank_scores_by_hand():
    # four deaths on days 1..4: H = 1/4, 7/12, 13/12, 25/12
    scores = cutpoint.logrank_scores([1, 2, 3, 4], [1, 1, 1, 1])
    assert scores == pytest.approx([3 / 4, 5 / 12, -1 / 12, -13 / 12], abs=1e-12)
    assert scores.sum() == pytest.approx(0.0, abs=1e-12)


def test_tied_times_share_one_hazard_step():
    # two events on day 5 among 3 at risk, then a censoring: H(5) = 2/3
    scores = cutpoint.logrank_scores([5, 5, 9], [1, 1, 0])
    assert scores == pytest.approx([1 / 3, 1 / 3, -2 / 3], abs=1e-12)


def test_hand_checkable_cut():
    # x = time: the lowest-x patients die first. Sum of squared scores = 23/12.
    res = cutpoint.maximally_selected_logrank([1, 2, 3, 4], [1, 1, 1, 1], [1, 2, 3, 4], min_prop=0.25)
    scan = res.scan["statistic"]
    assert list(scan.index) == [1.0, 2.0, 3.0]
    assert scan[1.0] == pytest.approx(-0.75 * np.sqrt(48 / 23), abs=1e-12)
    assert scan[2.0] == pytest.approx(-7 / np.sqrt(23), abs=1e-12)
    assert scan[3.0] == pytest.approx(-(13 / 12) * np.sqrt(48 / 23), abs=1e-12)
    assert res.cut == 3.0
    assert res.statistic == pytest.approx(1.5650, abs=1e-4)
    assert res.p_naive == pytest.approx(2 * stats.norm.sf(res.statistic), abs=1e-12)


def test_min_prop_limits_the_cuts():
    x = np.arange(20)
    scan = cutpoint.scan_cuts(np.arange(1, 21), np.ones(20), x, min_prop=0.2)
    assert scan["n_low"].min() == 4 and scan["n_high"].min() == 4
    assert len(scan) == 13


def test_lausen_schumacher_formula_value():
    b, L = 3.0, np.log(81)
    expected = stats.norm.pdf(b) * (b - 1 / b) * L + 4 * stats.norm.pdf(b) / b
    assert cutpoint.lausen_schumacher_p(3.0, 0.1) == pytest.approx(expected, rel=1e-12)
    assert cutpoint.lausen_schumacher_p(3.0, 0.1) == pytest.approx(0.0578, abs=1e-4)


def test_corrected_p_is_monotone_and_bounded():
    b = np.linspace(0.0, 6.0, 601)
    p = cutpoint.lausen_schumacher_p(b, 0.1)
    assert np.all(np.diff(p) <= 1e-15)
    assert p.max() <= 1.0 and p.min() > 0
    # and it is never below the naive p-value of the same statistic, strictly above for b > 1.5
    naive = 2 * stats.norm.sf(b[1:])
    assert np.all(p[1:] >= naive) and np.all(p[1:][b[1:] > 1.5] > naive[b[1:] > 1.5])


def test_published_p_becomes_larger():
    b = cutpoint.statistic_for_p(0.001)
    assert b == pytest.approx(3.2905, abs=1e-4)
    assert cutpoint.lausen_schumacher_p(b, 0.1) == pytest.approx(0.0255, abs=5e-4)


def test_permutation_p_under_null_is_not_small_and_above_naive():
    rng = np.random.default_rng(7)
    n = 80
    t, e, x = rng.exponential(500, n), (rng.random(n) < 0.7).astype(int), rng.normal(size=n)
    res = cutpoint.maximally_selected_logrank(t, e, x, n_perm=999, seed=1)
    assert res.p_permutation > res.p_naive
    assert res.p_lausen > res.p_naive
    # Lausen-Schumacher and the permutation p agree to within 0.15 here
    assert abs(res.p_lausen - res.p_permutation) < 0.15


def test_permutation_is_deterministic_by_seed():
    rng = np.random.default_rng(3)
    t, e, x = rng.exponential(500, 40), np.ones(40), rng.normal(size=40)
    a = cutpoint.permutation_max(t, e, x, n_perm=50, seed=9)
    b = cutpoint.permutation_max(t, e, x, n_perm=50, seed=9)
    assert np.array_equal(a, b) and a.shape == (50,)


def test_bootstrap_recovers_a_strong_cut():
    rng = np.random.default_rng(11)
    n = 200
    x = rng.uniform(0, 100, n)
    hazard = np.where(x > 60, 10.0, 1.0) / 1000
    t = rng.exponential(1 / hazard)
    boots = cutpoint.bootstrap_cutpoint(t, np.ones(n), x, n_boot=100, seed=2)
    assert boots.size == 100
    assert 50 < boots.median() < 70


def test_permutation_standardization_has_unit_variance():
    # over random relabellings the standardized statistic at a fixed cut has E[Z^2] = 1
    rng = np.random.default_rng(5)
    n = 60
    t, e = rng.exponential(400, n), (rng.random(n) < 0.6).astype(int)
    z = [cutpoint.scan_cuts(t, e, rng.permutation(n), min_prop=0.1).loc[44, "statistic"] for _ in range(3000)]
    assert np.mean(np.square(z)) == pytest.approx(1.0, abs=0.08)
    assert np.mean(z) == pytest.approx(0.0, abs=0.06)


def test_missing_values_follow_the_package_rule_dropped_and_noted():
    rng = np.random.default_rng(3)
    t, e, x = rng.exponential(100, 40), rng.integers(0, 2, 40).astype(float), rng.uniform(0, 200, 40)
    x_na, e_na = x.copy(), e.copy()
    x_na[[2, 5]] = np.nan
    e_na[7] = np.nan
    res = cutpoint.maximally_selected_logrank(t, e_na, x_na)
    keep = np.ones(40, dtype=bool)
    keep[[2, 5, 7]] = False
    ref = cutpoint.maximally_selected_logrank(t[keep], e[keep], x[keep])
    assert res.notes == ["3 observation(s) with a missing value dropped (event: 1, x: 2)"]
    assert res.cut == ref.cut and res.statistic == ref.statistic and ref.notes == []
