"""The example study files on the real KMsurv cohorts, read through the study file, against R.

The fixtures are tests/reference/ex_*.json (tests/reference/examples_reference.R, R survival and
cmprsk on the same CSV files); see tests/reference/FIXTURES.md. Everything here goes through
``hsct_analysis.cohort.study`` (column and code mapping, time unit, factors) and then the
statistics layer, so a mapping error shows up as a disagreement with R.
"""

from __future__ import annotations

import numpy as np
import pytest

from hsct_analysis.cohort import study as st
from hsct_analysis.stats import competing, survival
from r_fixtures import EXAMPLE_TOL, EXAMPLES, as_float, example_fixture

TOL = EXAMPLE_TOL
fixture = example_fixture


@pytest.fixture(scope="module")
def bmt():
    return st.read_cohort(EXAMPLES / "bmt" / "study.yml")


def km_rows(time, status, times, conf_type="log"):
    curve = survival.kaplan_meier(time, status, conf_type=conf_type)
    return [survival.value_at(curve, t) for t in times]


def check_km(cohort, name, at, times, conf_type="log", group=None):
    data = cohort.endpoints[name]
    keep = np.ones(data.time.size, bool) if group is None else (cohort.factors[group[0]] == group[1]).to_numpy()
    rows = km_rows(data.time[keep], data.status[keep], times, conf_type)
    np.testing.assert_allclose([r["estimate"] for r in rows], at["surv"], **TOL)
    np.testing.assert_allclose([r["std_err"] for r in rows], at["std_err"], **TOL)
    rname = {"arcsine": "arcsin"}.get(conf_type, conf_type)
    np.testing.assert_allclose([r["lower"] for r in rows], as_float(at[f"lower_{rname}"]), **TOL)
    np.testing.assert_allclose([r["upper"] for r in rows], as_float(at[f"upper_{rname}"]), **TOL)
    # R's n.risk at t: patients whose time is >= t, and value_at's at_risk
    np.testing.assert_array_equal([np.sum(data.time[keep] >= t) for t in times], at["n_risk"])
    np.testing.assert_array_equal([r["at_risk"] for r in rows], at["n_risk"])


def test_bmt_event_counts_equal_the_readme_and_r(bmt):
    ref = fixture("bmt")
    assert len(bmt.ids) == ref["dataset"]["rows"] == 137
    assert bmt.endpoints["os"].counts() == {0: 56, 1: 81}
    assert bmt.endpoints["lfs"].counts() == {0: 54, 1: 83}
    assert bmt.endpoints["relapse"].counts() == {0: 54, 1: 42, 2: 41}
    assert bmt.endpoints["agvhd"].counts() == {0: 46, 1: 26, 2: 65}
    assert bmt.endpoints["cgvhd"].counts()[1] == 61
    assert bmt.endpoints["platelet_engraftment"].counts()[1] == 120
    overall = next(c for c in ref["km"]["os"]["curves"] if c["group"] is None)
    assert sum(overall["n_event"]) == 81
    assert bmt.factors["disease"].value_counts().to_dict() == {"AML low risk": 54, "AML high risk": 45, "ALL": 38}


def test_bmt_times_are_the_fixture_days(bmt):
    # the study asks for 1, 2, 3 years = 365.25, 730.5, 1095.75 days; bmt times are whole days, so
    # the step functions there equal R's at days 365, 730, 1095.
    assert np.array_equal(np.floor(bmt.study.times_days), fixture("bmt")["times"])


@pytest.mark.parametrize("endpoint, key", [("os", "os"), ("lfs", "dfs")])
def test_bmt_km_equals_r(bmt, endpoint, key):
    ref = fixture("bmt")
    labels = ref["group_labels"]
    for at in ref["km"][key]["at"]:
        group = None if at["group"] is None else ("disease", at["group"])
        assert at["group"] is None or at["group"] in labels.values()
        check_km(bmt, endpoint, at, at["time"], bmt.study.km_ci, group)


@pytest.mark.parametrize("endpoint, key", [("relapse", "relapse_nrm"), ("nrm", "relapse_nrm"), ("agvhd", "agvhd")])
def test_bmt_cumulative_incidence_equals_cmprsk(bmt, endpoint, key):
    ref = fixture("bmt")["cuminc"][key]
    kind, cause = bmt.endpoint_kind(endpoint)
    assert kind == "cif"
    data = bmt.endpoints[endpoint]
    for at in ref["at"]:
        if at["cause"] != cause:
            continue
        keep = (
            np.ones(data.time.size, bool) if at["group"] is None else (bmt.factors["disease"] == at["group"]).to_numpy()
        )
        curve = competing.cumulative_incidence(data.time[keep], data.status[keep], cause=cause)
        rows = [survival.value_at(curve, t) for t in at["time"]]
        np.testing.assert_allclose([r["estimate"] for r in rows], at["est"], **TOL)
        np.testing.assert_allclose([r["variance"] for r in rows], at["var"], **TOL)


def test_bmt_gray_test_by_disease_group_equals_cmprsk(bmt):
    ref = fixture("bmt")["cuminc"]["relapse_nrm"]["tests"]
    data = bmt.endpoints["relapse"]
    group = bmt.factors["disease"].astype(str).to_numpy()
    for row in ref:
        if row["stratified"]:
            continue
        result = competing.gray_test(data.time, data.status, group, cause=row["cause"], rho=row["rho"])
        np.testing.assert_allclose(result.statistic, row["stat"], **TOL)
        np.testing.assert_allclose(result.p_value, row["p"], rtol=1e-7)


def test_hodg_km_by_graft_and_disease_equals_r():
    cohort = st.read_cohort(EXAMPLES / "hodg" / "study.yml")
    ref = fixture("hodg")
    assert cohort.endpoints["dfs_lymphoma"].counts() == {0: 17, 1: 26}
    assert cohort.factors["graft"].value_counts().to_dict() == {"auto": 27, "allo": 16}
    for factor in ("graft", "disease"):
        assert sorted(ref["group_labels"][factor].values()) == sorted(cohort.factors[factor].cat.categories)
        for at in ref["km"][factor]["at"]:
            group = None if at["group"] is None else (factor, at["group"])
            check_km(cohort, "dfs_lymphoma", at, at["time"], cohort.study.km_ci, group)


def test_alloauto_months_equal_r():
    """The study's time unit (months) converts to days; R's estimates at 12, 24, 36 months agree."""
    cohort = st.read_cohort(EXAMPLES / "alloauto" / "study.yml")
    ref = fixture("alloauto")
    assert ref["time_unit"] == "months" and cohort.study.times == tuple(ref["times"])
    labels = {"allo": "allogeneic", "auto": "autologous"}  # R's labels -> the study's
    for at in ref["km"]["type"]["at"]:
        group = None if at["group"] is None else ("transplant", labels[at["group"]])
        assert at["time"] == ref["times"]
        check_km(cohort, "lfs_any", at, cohort.study.times_days, cohort.study.km_ci, group)
