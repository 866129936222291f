"""Simulated power of the log-rank test."""

import numpy as np
import pytest
from lifelines.statistics import logrank_test

from hsct_analysis.paper import models, study_period
from hsct_analysis.stats import power

PAPER = study_period.power_design()  # the paper's 90-day comparison: 84 vs 11, 3-year LFS 53.9%, 303-1901 days


def test_vectorised_logrank_equals_lifelines():
    t, e, g = power.simulate_studies(**PAPER, hr=2.0, n_sim=5, seed=4)
    chi2 = power.logrank_untied(t, e, g)
    for i in range(5):
        m = g[i] == 1
        ref = logrank_test(t[i][~m], t[i][m], e[i][~m], e[i][m]).test_statistic
        assert chi2[i] == pytest.approx(ref, rel=1e-10)


def test_size_under_null_balanced():
    r = power.simulate_power(**{**PAPER, "n_groups": (50, 50)}, hr=1.0, n_sim=4000, seed=1)
    se = np.sqrt(0.05 * 0.95 / 4000)
    assert abs(r.power - 0.05) < 3 * se


def test_size_under_null_paper_groups():
    # 84 vs 11: the log-rank test is close to, if slightly above, its nominal level
    r = power.simulate_power(**PAPER, hr=1.0, n_sim=4000, seed=2)
    assert 0.035 < r.power < 0.07


def test_deterministic_by_seed():
    a = power.simulate_power(**PAPER, hr=2.0, n_sim=200, seed=5)
    b = power.simulate_power(**PAPER, hr=2.0, n_sim=200, seed=5)
    c = power.simulate_power(**PAPER, hr=2.0, n_sim=200, seed=6)
    assert np.array_equal(a.p_values, b.p_values)
    assert not np.array_equal(a.p_values, c.p_values)


def test_power_increases_with_hr():
    tab = power.power_table([1.0, 1.5, 2.0, 4.1], **PAPER, n_sim=400, seed=3)
    assert tab["power"].is_monotonic_increasing
    assert tab.loc[4.1, "power"] > 0.85
    assert tab.loc[1.5, "power"] < 0.35


def test_censoring_matches_range():
    t, e, _ = power.simulate_studies(**{**PAPER, "censor_days": (303, 1901)}, hr=1.0, n_sim=50, seed=0)
    assert t[e == 0].min() >= 303 and t.max() <= 1901


def test_n_parameters():
    assert models.n_parameters(models.PAPER_MODELS["LFS"]) == 5
    assert models.n_parameters(models.PAPER_MODELS["NRM"]) == 1
    assert models.n_parameters(models.SCREENED_FACTORS) == 14


def test_hazard_ratio_untied_equals_observed_over_expected():
    from hsct_analysis.stats import survival

    t, e, g = power.simulate_studies(**PAPER, hr=3.0, n_sim=3, seed=8)
    hr = power.hazard_ratio_untied(t, e, g)
    for i in range(3):
        tab = survival.logrank(t[i], e[i], g[i]).table
        oe = tab["observed"] / tab["expected"]
        assert hr[i] == pytest.approx(oe[1.0] / oe[0.0], rel=1e-10)


def test_the_paper_design_comes_from_the_registry_and_the_study_period():
    """84 and 11 patients (Table 3), 3-year LFS 53.9% in the <=90-day group, follow-up 303-1901 days."""
    assert PAPER["n_groups"] == (84, 11)
    assert np.exp(-PAPER["baseline_hazard"] * 3 * 365.25) == pytest.approx(0.539, rel=1e-12)
    assert PAPER["censor_days"] == (303.0, 1901.0)
    with pytest.raises(TypeError):
        power.StudyDesign(hr=2.0)  # the study's shape has no default in the stats layer
