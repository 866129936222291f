"""Tests of hsct_analysis.paper.estimator: hand-made cohorts, the batch simulation against the
library estimators, determinism, and the verdict on the paper's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.paper import estimator as pm
from hsct_analysis.stats import competing

# Hand cohort with censoring: day 1 censored, day 2 NRM, days 3 and 4 relapse, day 5 censored.
TIME_C = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
STATUS_C = np.array([0, 2, 1, 1, 0])
# Without censoring before the events: day 1 NRM, days 2 and 3 relapse, one event-free (day 9).
TIME_U = np.array([1.0, 2.0, 3.0, 9.0])
STATUS_U = np.array([2, 1, 1, 0])


def _frame(time, status) -> pd.DataFrame:
    return pd.DataFrame({"relapse_nrm_time": time, "relapse_nrm_status": status})


def test_one_minus_km_hand_numbers_with_censoring():
    naive = pm.one_minus_km(TIME_C, STATUS_C, cause=1)["estimate"]
    # at risk 3 on day 3, 2 on day 4: 1 - 2/3 and 1 - (2/3)(1/2)
    assert naive.loc[3.0] == pytest.approx(1 / 3)
    assert naive.loc[4.0] == pytest.approx(2 / 3)
    aj = competing.cumulative_incidence(TIME_C, STATUS_C, cause=1)["estimate"]
    # AJ: (3/4)(1/3) = 1/4 on day 3, + (1/2)(1/2) = 1/2 on day 4
    assert aj.loc[4.0] == pytest.approx(0.5)
    assert np.all(naive.to_numpy() >= aj.reindex(naive.index).to_numpy() - 1e-12)
    assert (naive - aj).max() == pytest.approx(1 / 6)


def test_one_minus_km_equals_aj_without_competing_events():
    time, status = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 1, 1, 0])
    naive = pm.one_minus_km(time, status, cause=1)["estimate"]
    aj = competing.cumulative_incidence(time, status, cause=1)["estimate"]
    assert np.allclose(naive.to_numpy(), aj.to_numpy())
    assert naive.loc[3.0] == pytest.approx(2 / 3)


def test_one_minus_km_overstates_even_without_censoring_when_a_competing_event_comes_first():
    naive = pm.one_minus_km(TIME_U, STATUS_U, cause=1)["estimate"].loc[3.0]
    aj = competing.cumulative_incidence(TIME_U, STATUS_U, cause=1)["estimate"].loc[3.0]
    assert aj == pytest.approx(2 / 4)  # k/n
    assert naive == pytest.approx(2 / 3)  # 1 - (2/3)(1/2)


def test_one_minus_km_log_ci_hand_numbers():
    # 3 events among 9, nobody censored (the MRD-positive NRM row): 33.3 (13.2-84.0)
    ci = pm.one_minus_km(np.arange(1.0, 10.0), np.array([1, 1, 1, 0, 0, 0, 0, 0, 0]), cause=1).loc[3.0]
    assert 100 * ci["estimate"] == pytest.approx(33.33, abs=0.01)
    assert round(100 * ci["lower"], 1) == 13.2
    assert round(100 * ci["upper"], 1) == 84.0


def test_identity_gap_naive_is_product_and_aj_is_zero():
    gaps = pm.identity_test(_frame(TIME_U, STATUS_U), time_days=3.0).set_index("candidate")["gap"]
    assert gaps["aalen_johansen"] == pytest.approx(0.0, abs=1e-9)
    # naive RI 2/3, naive NRM 1/4: gap = (2/3)(1/4) = 1/6
    assert gaps["one_minus_km"] == pytest.approx(100 / 6)
    assert gaps["crude_proportion"] == pytest.approx(0.0, abs=1e-9)
    assert gaps["complete_case"] == pytest.approx(0.0, abs=1e-9)


def test_batch_simulation_matches_library_estimators():
    rng = np.random.default_rng(7)
    time, status = pm._simulate_cohorts(40, 3, rng, 0.105, 0.436, 0.498, pm.ENTRY_LAST)
    batch = pm._batch_gaps(time, status, pm.THREE_YEARS_DAYS)
    for i in range(3):
        lib = pm.identity_test(_frame(time[i], status[i])).set_index("candidate")
        for name in pm.CANDIDATES:
            assert batch[name][i] == pytest.approx(lib.loc[name, "gap"], abs=1e-9), name
        assert batch["censored_fraction"][i] == pytest.approx(lib["censored_fraction"].iloc[0])


def test_simulation_is_deterministic_by_seed():
    a = pm.simulate_gaps(40, 50, seed=5)
    b = pm.simulate_gaps(40, 50, seed=5)
    c = pm.simulate_gaps(40, 50, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["one_minus_km"], c["one_minus_km"])


def test_gap_by_censoring_shapes():
    sims = pm.simulate_gaps(95, 300, seed=1)
    table = pm.gap_by_censoring(sims)
    assert np.allclose(table["aalen_johansen"], 0.0, atol=1e-9)
    assert (table["one_minus_km"] > 2.0).all()
    assert (table["crude_proportion"] < 0).all()
    assert table["complete_case"].is_monotonic_increasing
    uncensored = pm.gap_by_censoring(pm.simulate_gaps(11, 300, seed=1, uncensored=True))
    assert list(uncensored["cohorts"]) == [300]
    assert uncensored["complete_case"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert uncensored["one_minus_km"].iloc[0] > 5.0


def test_naive_identity_rejected_by_uncensored_groups():
    res = pm.naive_identity_residuals().set_index("group")
    assert res.loc["atg_type ATG-P", "predicted_gap"] == pytest.approx(42.9 * 28.6 / 100)
    assert res.loc["atg_type ATG-P", "gap"] == pytest.approx(0.1)
    assert res.loc["cart_interval_90 >90", "residual"] == pytest.approx(0.0 - 18.2 * 63.6 / 100)


def test_ci_check_binomial_variance_reproduces_printed_limits():
    check = pm.ci_check()
    assert len(check) == 5
    assert np.allclose(check["binomial_lower"], check["lower"])
    assert np.allclose(check["binomial_upper"], check["upper"])
    atg = check.set_index(["group", "endpoint"]).loc[("atg_type ATG-P", "relapse")]
    assert atg["cmprsk_lower_max"] < atg["lower"]  # 16.7 < 18.2: no event order gives cmprsk's CI


def test_sign_test_counts():
    s = pm.sign_test()
    assert (s["positive"], s["negative"], s["within_rounding"]) == (22, 2, 1)
    assert s["p_value"] < 1e-4


def test_conclusion_no_candidate_matches_and_naive_is_closest():
    verdict = pm.conclusion(n_sim=100, seed=11)
    assert verdict["pattern_match"] == "none"
    assert verdict["closest_in_censored_groups"] == "one_minus_km"
    assert verdict["ci_variance"] == "binomial (Greenwood-type)"
    table = pm.summary(n_sim=100, seed=11).set_index("candidate")
    assert table.loc["aalen_johansen", "gap_censored_predicted"] == pytest.approx(0.0, abs=1e-9)
    assert 3.0 < table.loc["one_minus_km", "gap_censored_predicted"] < 8.0
    assert table.loc["one_minus_km", "gap_uncensored_predicted"] > 5.0
