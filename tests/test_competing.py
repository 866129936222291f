"""Cumulative incidence and Gray's test against R cmprsk::cuminc and against hand arithmetic.

Fixtures: tests/reference/ref_*.json from make_reference.R (cmprsk 2.2-11). Tolerance:
relative 1e-6 with an absolute floor of 1e-10.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsct_analysis.stats.competing import (
    cumulative_incidence,
    cumulative_incidence_by,
    gray_test,
)
from hsct_analysis.stats.survival import kaplan_meier, value_at
from r_fixtures import FIXTURES, REF, close, group_data, load

Z95 = 1.959963984540054


def curve_cases():
    for path in FIXTURES:
        for i, curve in enumerate(load(path)["cuminc"]):
            yield pytest.param(path, i, id=f"{path.stem}-{curve['group'] or 'all'}-cause{curve['cause']}")


def test_cases_cover_the_brief():
    refs = [load(p) for p in FIXTURES]
    statuses = [np.array(r["data"]["status"]) for r in refs]
    assert any(s.max() == 3 for s in statuses)  # three causes
    assert any((s == 0).mean() >= 0.8 for s in statuses)  # heavy censoring
    assert any(r["data"]["strata"] for r in refs)  # strata
    assert any(
        c["group"] is not None and max(c["est"]) == 0 for r in refs for c in r["cuminc"]
    )  # a group without events of the cause
    assert sum(len(r["cuminc"]) for r in refs) >= 50


# ----------------------------------------------------------------------------- vs R
@pytest.mark.parametrize("path, index", list(curve_cases()))
def test_cumulative_incidence_matches_cuminc(path, index):
    ref = load(path)
    r = ref["cuminc"][index]
    time, status = group_data(ref, r)
    cif = cumulative_incidence(time, status, cause=r["cause"])
    rows = [value_at(cif, t) for t in r["time"]]
    close([row["estimate"] for row in rows], r["est"])
    close([row["variance"] for row in rows], r["var"])


def test_cuminc_grid_is_our_index():
    """R's grid (0, the cause's event times, the last time) is a subset of our index."""
    ref = load(REF / "ref_large_2000.json")
    cif = cumulative_incidence(ref["data"]["time"], ref["data"]["status"], cause=2)
    r = next(c for c in ref["cuminc"] if c["group"] is None and c["cause"] == 2)
    assert set(r["time"][1:]) <= set(cif.index)
    close(cif.loc[r["time"][1:], "estimate"], r["est"][1:])


def gray_cases():
    for path in FIXTURES:
        for t in load(path)["tests"]:
            yield pytest.param(
                path, t, id=f"{path.stem}-cause{t['cause']}-rho{t['rho']}" + ("-strata" if t["stratified"] else "")
            )


@pytest.mark.parametrize("path, r", list(gray_cases()))
def test_gray_test_matches_cuminc_tests(path, r):
    data = load(path)["data"]
    res = gray_test(
        data["time"],
        data["status"],
        data["group"],
        cause=r["cause"],
        rho=r["rho"],
        strata=data["strata"] if r["stratified"] else None,
    )
    assert res.df == r["df"]
    if r["stat"] == -1:  # R's code for a singular variance matrix
        assert math.isnan(res.statistic) and math.isnan(res.p_value)
    else:
        close([res.statistic], [r["stat"]])
        close([res.p_value], [r["pv"]])


def test_gray_strata_changes_the_answer():
    data = load(REF / "ref_strata.json")["data"]
    plain = gray_test(data["time"], data["status"], data["group"])
    strat = gray_test(data["time"], data["status"], data["group"], strata=data["strata"])
    assert abs(plain.statistic - strat.statistic) > 1e-3


# ----------------------------------------------------------------------------- by hand
# Five patients (days, status): (2, relapse), (3, relapse), (3, censored), (5, NRM), (8, censored)
HAND_T = [2, 3, 3, 5, 8]
HAND_S = [1, 1, 0, 2, 0]


def test_cumulative_incidence_by_hand():
    relapse = cumulative_incidence(HAND_T, HAND_S, cause=1)
    nrm = cumulative_incidence(HAND_T, HAND_S, cause=2)
    # relapse: day 2: 1/5; day 3: + S(3-) * 1/4 = 4/5 * 1/4 -> 0.4
    np.testing.assert_allclose(relapse["estimate"], [0.2, 0.4, 0.4, 0.4], rtol=1e-12)
    # NRM: day 5: S(5-) = 4/5 * 3/4 = 0.6, one of 2 at risk dies -> 0.6 * 1/2 = 0.3
    np.testing.assert_allclose(nrm["estimate"], [0, 0, 0.3, 0.3], atol=1e-15)
    # cmprsk's (Gray's) variance, worked through its three running sums v1, v2, v3:
    # day 2: weight w = S(t-)^2 d / n^2 = 1/25; with only cause-1 events so far every sum
    # gets w * (1 + F/S(t))^2 ... which collapses to v = w = 0.04 at the first event.
    np.testing.assert_allclose(relapse["variance"].iloc[0], 1 / 25, rtol=1e-12)
    # day 3: w = 0.8^2 / 4^2 = 0.04, S(t) = 0.6, F = 0.4; v1 = v2 = v3 = 1/16 + 0.04 (5/3)^2
    # (1/16 = day 2's 0.04 * (1 + 0.2/0.8)^2), and v = v1 + F^2 v3 - 2 F v2 = v1 (1 - F)^2
    x = 1 / 16 + 0.04 * (5 / 3) ** 2
    np.testing.assert_allclose(relapse["variance"].iloc[1], x * (1 - 0.4) ** 2, rtol=1e-12)
    assert list(relapse["at_risk"]) == [5, 4, 2, 1]
    # relapse + NRM + event-free survival = 1 at every time
    km = kaplan_meier(HAND_T, [int(s > 0) for s in HAND_S])
    np.testing.assert_allclose(relapse["estimate"] + nrm["estimate"] + km["estimate"], 1.0, rtol=1e-12)


def test_log_interval_is_symmetric_on_the_log_scale():
    cif = cumulative_incidence(HAND_T, HAND_S, cause=1)
    f, v = 0.4, cif["variance"].iloc[1]
    np.testing.assert_allclose(cif["lower"].iloc[1], math.exp(math.log(f) - Z95 * math.sqrt(v) / f), rtol=1e-12)
    np.testing.assert_allclose(
        cif["upper"].iloc[1], min(1.0, math.exp(math.log(f) + Z95 * math.sqrt(v) / f)), rtol=1e-12
    )
    loglog = cumulative_incidence(HAND_T, HAND_S, cause=1, conf_type="log-log")
    k = Z95 * math.sqrt(v) / (f * math.log(f))
    np.testing.assert_allclose(
        [loglog["lower"].iloc[1], loglog["upper"].iloc[1]], [f ** math.exp(-k), f ** math.exp(k)], rtol=1e-12
    )
    arcsine = cumulative_incidence(HAND_T, HAND_S, cause=1, conf_type="arcsine")
    half = Z95 * math.sqrt(v) / (2 * math.sqrt(f * (1 - f)))
    np.testing.assert_allclose(arcsine["lower"].iloc[1], math.sin(math.asin(math.sqrt(f)) - half) ** 2, rtol=1e-12)
    plain = cumulative_incidence(HAND_T, HAND_S, cause=1, conf_type="plain")
    np.testing.assert_allclose(plain["upper"].iloc[1], f + Z95 * math.sqrt(v), rtol=1e-12)


def test_cifs_of_all_causes_add_up_to_one_minus_km():
    ref = load(REF / "ref_three_causes.json")
    t, s = ref["data"]["time"], np.array(ref["data"]["status"])
    total = sum(cumulative_incidence(t, s, cause=k)["estimate"] for k in (1, 2, 3))
    km = kaplan_meier(t, (s > 0).astype(int))
    np.testing.assert_allclose(total, 1 - km["estimate"], rtol=1e-12, atol=1e-14)


def test_agrees_with_lifelines_aalen_johansen():
    from lifelines import AalenJohansenFitter

    ref = load(REF / "ref_four_groups.json")  # continuous times, no ties
    t, s = np.array(ref["data"]["time"]), np.array(ref["data"]["status"])
    ajf = AalenJohansenFitter(calculate_variance=False).fit(t, s, event_of_interest=1)
    ours = cumulative_incidence(t, s, cause=1)
    theirs = ajf.cumulative_density_.iloc[:, 0]
    np.testing.assert_allclose(ours["estimate"].to_numpy(), theirs.loc[ours.index].to_numpy(), rtol=1e-9)


def test_cumulative_incidence_by_splits_groups():
    curves = cumulative_incidence_by(HAND_T, HAND_S, ["a", "b", "a", "b", "a"], cause=1)
    assert list(curves) == ["a", "b"]
    # group a: days 2 (relapse), 3 (censored), 8 (censored) -> 1/3
    assert curves["a"]["estimate"].iloc[-1] == pytest.approx(1 / 3)
    assert curves["b"]["estimate"].iloc[-1] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- edges
def test_all_censored_and_absent_cause():
    cif = cumulative_incidence([3, 5, 9], [0, 0, 0], cause=1)
    assert cif["estimate"].tolist() == [0.0, 0.0, 0.0]
    assert cif["variance"].tolist() == [0.0, 0.0, 0.0]
    assert cif["lower"].isna().all() and cif["upper"].isna().all()
    res = gray_test([1, 2, 3, 4], [2, 0, 2, 0], ["a", "a", "b", "b"], cause=1)
    assert math.isnan(res.statistic) and res.df == 1


def test_value_at_on_a_cif():
    cif = cumulative_incidence(HAND_T, HAND_S, cause=1)
    assert value_at(cif, 1.5)["estimate"] == 0.0 and value_at(cif, 1.5)["variance"] == 0.0
    assert value_at(cif, 3.5)["estimate"] == pytest.approx(0.4)
    assert value_at(cif, 9).isna().all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(time=[], status=[]), "empty"),
        (dict(time=[1, 2, 3], status=[1, 0]), "different lengths"),
        (dict(time=[1, -1], status=[1, 0]), "negative"),
        (dict(time=[1, np.inf], status=[1, 0]), "infinite"),
        (dict(time=[1, 2], status=[1.5, 0]), "integer"),
        (dict(time=[1, 2], status=[1, 0], cause=0), "cencode"),
        (dict(time=[1, 2], status=[1, 0], cause=1.5), "cause"),
        (dict(time=[1, 2], status=[1, 0], conf_type="logit"), "conf_type"),
    ],
)
def test_invalid_input_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cumulative_incidence(**kwargs)


def test_gray_test_input_checks():
    with pytest.raises(ValueError, match="one group"):
        gray_test([1, 2, 3], [1, 2, 0], ["a", "a", "a"])
    with pytest.raises(ValueError, match="different lengths"):
        gray_test([1, 2, 3], [1, 2, 0], ["a", "b"])
    # a missing group drops that observation (the package's missing-value rule) and says so
    res = gray_test([1, 2, 3, 4], [1, 2, 0, 1], ["a", None, "b", "a"])
    assert res.notes == ["1 observation(s) with a missing value dropped (group: 1)"]


# ----------------------------------------------------------------------------- survfit variance
# tests/reference/ms_*.json: R survival 3.5-3 survfit(Surv(time, factor(status, levels = 0:K)) ~ 1,
# conf.type = "log"), the multi-state Aalen-Johansen with its infinitesimal-jackknife std.err, on the
# data of each ref_*.json (the bundled cohort as frozen in its fixture), overall and per group.
MS_FIXTURES = sorted(REF.glob("ms_*.json"))


def ms_cases():
    for path in MS_FIXTURES:
        for i, c in enumerate(load(path)["curves"]):
            yield pytest.param(path, i, id=f"{path.stem}-{c['group'] or 'all'}-cause{c['cause']}")


def test_ms_fixtures_cover_the_brief():
    names = {p.stem for p in MS_FIXTURES}
    assert {
        "ms_ties_between_causes",
        "ms_heavy_censoring",
        "ms_three_causes",
        "ms_strata",
        "ms_large_2000",
        "ms_cohort_relapse_nrm",
        "ms_no_censoring",
    } <= names
    refs = {p.stem: load(p) for p in MS_FIXTURES}
    assert len(refs["ms_large_2000"]["data"]["time"]) == 2000
    assert max(refs["ms_three_causes"]["data"]["status"]) == 3
    assert np.mean(np.array(refs["ms_heavy_censoring"]["data"]["status"]) == 0) >= 0.8
    assert len(refs["ms_cohort_relapse_nrm"]["data"]["time"]) == 95
    assert sum(len(r["curves"]) for r in refs.values()) >= 80


@pytest.mark.parametrize("path, index", list(ms_cases()))
def test_survfit_variance_matches_r_multistate(path, index):
    ref = load(path)
    r = ref["curves"][index]
    time, status = group_data(ref, r)
    cif = cumulative_incidence(time, status, cause=r["cause"], variance="survfit")
    np.testing.assert_array_equal(cif.index.to_numpy(), np.array(r["time"], dtype=float))
    np.testing.assert_array_equal(cif["at_risk"], r["n_risk"])
    close(cif["estimate"], r["pstate"])
    close(np.sqrt(cif["variance"]), r["std_err"])
    close(cif["lower"], r["lower"])
    close(cif["upper"], r["upper"])


def _weighted_aj(time, status, weights, cause, at):
    """Aalen-Johansen F(at) with case weights, written out time by time (for the jackknife check)."""
    surv, cif = 1.0, 0.0
    for s in np.unique(time[time <= at]):
        at_risk = weights[time >= s].sum()
        dk = weights[(time == s) & (status == cause)].sum()
        d = weights[(time == s) & (status > 0)].sum()
        cif += surv * dk / at_risk
        surv *= 1 - d / at_risk
    return cif


def test_survfit_variance_is_the_sum_of_squared_weight_derivatives():
    """The infinitesimal jackknife by definition: sum_i (dF/dw_i)^2, by central differences."""
    ref = load(REF / "ref_hand8.json")
    time = np.array(ref["data"]["time"], dtype=float)
    status = np.array(ref["data"]["status"])
    cif = cumulative_incidence(time, status, cause=1, variance="survfit")
    for t in cif.index:
        grads = []
        for i in range(time.size):
            w_up, w_down = np.ones(time.size), np.ones(time.size)
            w_up[i], w_down[i] = 1 + 1e-6, 1 - 1e-6
            grads.append((_weighted_aj(time, status, w_up, 1, t) - _weighted_aj(time, status, w_down, 1, t)) / 2e-6)
        assert cif.loc[t, "variance"] == pytest.approx(np.sum(np.square(grads)), rel=1e-6)


def test_survfit_variance_by_hand():
    # no censoring: F = k / n and the variance is binomial, F (1 - F) / n; 6 relapses of 10
    t = np.arange(1, 11)
    s = [1, 2, 1, 1, 2, 2, 1, 2, 1, 1]
    cif = cumulative_incidence(t, s, cause=1, variance="survfit")
    f = cif["estimate"].to_numpy()
    np.testing.assert_allclose(cif["variance"], f * (1 - f) / 10, rtol=1e-12, atol=1e-15)
    assert f[-1] == pytest.approx(0.6)
    np.testing.assert_allclose(cif["lower"].iloc[-1], 0.6 * math.exp(-Z95 * math.sqrt(0.024) / 0.6), rtol=1e-12)
    # the five-patient cohort: day 2 is before any censoring, so 0.2 * 0.8 / 5 = 0.032. At day 3
    # (F = 0.4; the censoring at day 3 comes after the events) dF/dw_i is 0.12 for the two
    # relapses and -0.08 for the other three: 2 * 0.0144 + 3 * 0.0064 = 0.048 (R: 0.2190890^2)
    relapse = cumulative_incidence(HAND_T, HAND_S, cause=1, variance="survfit")
    np.testing.assert_allclose(relapse["variance"].iloc[:2], [0.032, 0.048], rtol=1e-12)
    # it differs from cmprsk's (Gray's) variance, which stays the default
    gray = cumulative_incidence(HAND_T, HAND_S, cause=1)
    assert gray.attrs["variance"] == "cmprsk" and relapse.attrs["variance"] == "survfit"
    assert gray["variance"].iloc[1] == pytest.approx(0.0625, rel=1e-12)


def test_survfit_variance_at_100000_agrees_with_cmprsks():
    # speed: benchmarks/competing_risks.py (medians against R), not a wall-clock assertion here
    rng = np.random.default_rng(1)
    n = 100_000
    t = np.ceil(rng.exponential(800, n))
    s = rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])
    cif = cumulative_incidence(t, s, cause=1, variance="survfit")
    # both variances estimate the same asymptotic variance: with n = 100,000 they agree to 0.1 %
    gray = cumulative_incidence(t, s, cause=1)
    for day in (100, 800, 1600):
        assert cif.loc[day, "variance"] == pytest.approx(gray.loc[day, "variance"], rel=1e-3)
    # and, censoring adding to it, it exceeds the binomial F (1 - F) / n (by 30 % at day 800)
    f = cif.loc[800, "estimate"]
    assert 1.2 < cif.loc[800, "variance"] / (f * (1 - f) / n) < 1.4


def test_invalid_variance_raises():
    with pytest.raises(ValueError, match="variance"):
        cumulative_incidence(HAND_T, HAND_S, variance="greenwood")
