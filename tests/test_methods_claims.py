"""The key claim of each Methods page, asserted on the bundled (synthetic) cohort."""

from pathlib import Path

import numpy as np
import pytest

from hsct_analysis.cohort import load_cohort
from hsct_analysis.paper import models, study_period
from hsct_analysis.paper.registry import load_registry, lookup
from hsct_analysis.stats import competing, cutpoint, landmark, power, survival

COHORT = Path(__file__).resolve().parents[1] / "data" / "cohort.csv"
YEAR = 365.25


@pytest.fixture(scope="module")
def cohort():
    return load_cohort(COHORT)


# km_greenwood -------------------------------------------------------------------------
def test_arcsine_ci_inside_unit_interval_while_plain_can_leave_it(cohort):
    curve = survival.kaplan_meier(cohort["os_time"], cohort["os_event"], conf_type="arcsine")
    ok = curve["lower"].notna()
    assert ((curve.loc[ok, "lower"] >= 0) & (curve.loc[ok, "upper"] <= 1)).all()
    # unclipped plain interval estimate +- 1.96 SE leaves [0, 1] early on (S near 1)
    assert (curve["estimate"] + 1.959964 * curve["std_err"]).max() > 1
    # and for the paper's >90-day 3-year LFS (registry: 18.2%, arcsine 2.1-45.1%) it goes below 0:
    # the SE implied by the printed arcsine interval, used in a plain interval, crosses zero.
    registry = load_registry()
    row = {
        r["stat"]: r["value"] / 100
        for _, r in lookup(
            registry, endpoint="lfs", factor="cart_interval_90", level=">90", time_days=1095.75
        ).iterrows()
    }
    p, lo = row["value"], row["lower"]
    se = (np.arcsin(np.sqrt(p)) - np.arcsin(np.sqrt(lo))) / 1.959964 * 2 * np.sqrt(p * (1 - p))
    assert p - 1.959964 * se < 0


def test_ci_scales_share_the_estimate_and_differ_in_limits(cohort):
    at3 = {
        ct: survival.value_at(survival.kaplan_meier(cohort["os_time"], cohort["os_event"], conf_type=ct), 3 * YEAR)
        for ct in ("plain", "log", "log-log", "arcsine")
    }
    estimates = {round(r["estimate"], 12) for r in at3.values()}
    assert len(estimates) == 1
    assert at3["log"]["upper"] > at3["arcsine"]["upper"] > at3["log-log"]["upper"]


def test_reverse_km_follow_up_exceeds_naive_median(cohort):
    fu = survival.median_followup(cohort["os_time"], cohort["os_event"])
    assert fu.median > np.median(cohort["os_time"])


# competing_risks ----------------------------------------------------------------------
def test_one_minus_km_relapse_exceeds_cif_at_3_years(cohort):
    t, s = cohort["relapse_nrm_time"], cohort["relapse_nrm_status"]
    km = survival.value_at(survival.kaplan_meier(t, (s == 1).astype(int)), 3 * YEAR)["estimate"]
    cif = survival.value_at(competing.cumulative_incidence(t, s, cause=1), 3 * YEAR)["estimate"]
    assert 1 - km > cif + 1e-3


def test_aalen_johansen_ri_plus_nrm_equals_one_minus_lfs_everywhere(cohort):
    t, s = cohort["relapse_nrm_time"], cohort["relapse_nrm_status"]
    lfs = survival.kaplan_meier(cohort["lfs_time"], cohort["lfs_event"])
    ri = competing.cumulative_incidence(t, s, cause=1)
    nrm = competing.cumulative_incidence(t, s, cause=2)
    gaps = [
        1
        - survival.value_at(lfs, x)["estimate"]
        - survival.value_at(ri, x)["estimate"]
        - survival.value_at(nrm, x)["estimate"]
        for x in lfs.index
    ]
    assert np.max(np.abs(gaps)) < 1e-12


def test_paper_breaks_the_identity():
    from hsct_analysis.paper import registry as published

    reg = published.load_registry()

    def v(ep):
        return float(
            published.lookup(reg, endpoint=ep, time_days=3 * YEAR, factor="", stat="value", canonical=True)[
                "value"
            ].iloc[0]
        )

    assert 100 - v("lfs") == pytest.approx(50.2, abs=1e-9)
    assert v("relapse") + v("nrm") == pytest.approx(54.1, abs=1e-9)


# comparing_groups ----------------------------------------------------------------------
def test_one_relapse_hazard_and_different_nrm_split_the_two_tests():
    """The simulated pair: the log-rank test of relapse (NRM censored) finds nothing, Gray's test of its incidence
    does, and the relapse incidence is lower where NRM is higher."""
    from hsct_analysis.book import pages

    pair = pages.competing_risks_pair()
    t, s, g = pair["time"], pair["status"], pair["group"]
    assert survival.logrank(t, (s == 1).astype(int), g).p_value > 0.2
    assert competing.gray_test(t, s, g, cause=1).p_value < 0.01
    at = {name: competing.cumulative_incidence(t[g == name], s[g == name], cause=1) for name in ("low NRM", "high NRM")}
    three_years = {name: curve.loc[curve.index <= 3 * YEAR, "estimate"].iloc[-1] for name, curve in at.items()}
    assert three_years["high NRM"] < three_years["low NRM"] - 0.15
    assert pair.equals(pages.competing_risks_pair())  # the page's numbers are the same every build


# cutpoint -----------------------------------------------------------------------------
def test_selected_cut_corrected_p_exceeds_naive(cohort):
    res = cutpoint.maximally_selected_logrank(
        cohort["lfs_time"], cohort["lfs_event"], cohort["days_cart_to_second_hsct"], min_prop=0.1, n_perm=199, seed=1
    )
    assert res.p_lausen > res.p_naive
    assert res.p_permutation > res.p_naive
    assert 0.1 * 95 <= res.scan.loc[res.cut, "n_high"] <= 0.9 * 95


def test_paper_grouping_is_inside_the_search_and_not_the_best_by_chance_only(cohort):
    scan = cutpoint.scan_cuts(cohort["lfs_time"], cohort["lfs_event"], cohort["days_cart_to_second_hsct"])
    at_90 = scan.loc[scan.index <= 90].iloc[-1]
    assert at_90["n_high"] == int((cohort["days_cart_to_second_hsct"] > 90).sum())
    assert abs(at_90["statistic"]) <= scan["statistic"].abs().max()


def test_paper_p_0001_becomes_about_0025():
    assert cutpoint.lausen_schumacher_p(cutpoint.statistic_for_p(0.001), 0.1) == pytest.approx(0.0255, abs=1e-3)


# time_zero ----------------------------------------------------------------------------
def test_long_interval_patients_have_guaranteed_survival_from_cart(cohort):
    from_cart = landmark.shift_origin(cohort, "days_cart_to_second_hsct", "os_time")
    late = cohort["days_cart_to_second_hsct"] > 90
    assert from_cart[late].min() > 90


def test_shifting_origin_to_cart_lowers_the_long_interval_hazard_ratio_under_no_effect(cohort):
    rng = np.random.default_rng(1)
    interval = cohort["days_cart_to_second_hsct"].to_numpy()
    diffs = []
    for _ in range(200):
        s = rng.permutation(interval)
        g = (s > 90).astype(int)
        a = survival.logrank(cohort["os_time"], cohort["os_event"], g)
        b = survival.logrank(s + cohort["os_time"], cohort["os_event"], g)
        diffs.append((b.observed[1] - b.expected[1]) - (a.observed[1] - a.expected[1]))
    # from CAR-T the long-interval group has fewer excess events than from HSCT
    assert np.mean(diffs) < 0


def test_landmark_excludes_early_events(cohort):
    with_cart = cohort.assign(t=landmark.shift_origin(cohort, "days_cart_to_second_hsct", "os_time"))
    lm = landmark.landmark(with_cart, 180, time="t")
    assert (lm["t"] > 0).all()
    assert lm.attrs["excluded"] == int((with_cart["t"] <= 180).sum()) > 0


# power --------------------------------------------------------------------------------
def test_power_for_reported_and_modest_hazard_ratios():
    lo = power.simulate_power(**study_period.power_design(), hr=1.5, n_sim=400, seed=1).power
    hi = power.simulate_power(**study_period.power_design(), hr=4.10, n_sim=400, seed=1).power
    assert lo < 0.35 < 0.85 < hi


def test_events_per_variable_of_paper_models(cohort):
    epv = models.events_per_variable(cohort)
    assert epv.loc["LFS", "parameters"] == 5
    assert epv.loc["LFS", "epv"] == pytest.approx(cohort["lfs_event"].sum() / 5)
    assert epv.loc["RI", "epv"] < 10  # relapse model: too few events for 2 coefficients
