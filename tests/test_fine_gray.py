"""Fine-Gray regression against R cmprsk::crr fixtures (tests/reference/crr_reference.R)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from hsct_analysis.stats.fine_gray import censoring_km_before, fine_gray

REFERENCE = Path(__file__).parent / "reference"
FIXTURES = ["small", "heavy_censoring", "large"]
RTOL = 1e-6


def load_fixture(name: str) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The fixture, its data and its covariate profiles, factors with R's level order."""
    fixture = json.loads((REFERENCE / f"crr_{name}.json").read_text())
    data, profiles = pd.DataFrame(fixture["data"]), pd.DataFrame(fixture["profiles"])
    for column, levels in (fixture["levels"] or {}).items():
        data[column] = pd.Categorical(data[column], categories=levels)
        profiles[column] = pd.Categorical(profiles[column], categories=levels)
    return fixture, data, profiles


def crr_cases(names):
    for name in names:
        fixture, _, _ = load_fixture(name)
        for fit in fixture["fits"]:
            yield pytest.param(name, fit["cause"], id=f"{name}-cause{fit['cause']}")


@pytest.mark.parametrize("name,cause", list(crr_cases(FIXTURES)))
def test_coefficients_and_sandwich_se_equal_crr(name, cause):
    fixture, data, _ = load_fixture(name)
    ref = next(f["crr"] for f in fixture["fits"] if f["cause"] == cause)
    result = fine_gray(data, "time", "status", fixture["covariates"], cause=cause)
    table = result.summary.loc[ref["terms"]]
    assert result.converged and ref["converged"]
    np.testing.assert_allclose(table["coef"], ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(table["std_err"], ref["se"], rtol=RTOL)
    np.testing.assert_allclose(table["p"], ref["p"], rtol=RTOL)
    np.testing.assert_allclose(result.loglik, ref["loglik"], rtol=1e-10)
    np.testing.assert_allclose(result.loglik_null, ref["loglik_null"], rtol=1e-10)
    assert not table["separation"].any()
    # the sandwich SE is not the naive inverse-information SE, which also equals crr's
    naive = np.sqrt(np.diag(np.linalg.inv(result.information.loc[ref["terms"], ref["terms"]])))
    assert not np.allclose(naive, table["std_err"], rtol=1e-3)
    np.testing.assert_allclose(naive, ref["naive_se"], rtol=RTOL)


@pytest.mark.parametrize("name,cause", list(crr_cases(FIXTURES)))
def test_predicted_cif_equals_predict_crr(name, cause):
    fixture, data, profiles = load_fixture(name)
    ref = next(f["crr"] for f in fixture["fits"] if f["cause"] == cause)
    curves = fine_gray(data, "time", "status", fixture["covariates"], cause=cause).predict(profiles)
    np.testing.assert_array_equal(curves.index.to_numpy(), ref["predict_time"])
    np.testing.assert_allclose(curves.to_numpy(), np.array(ref["predict_cif"]).T, rtol=RTOL, atol=1e-12)
    assert curves.index.name == "time"
    assert (np.diff(curves.to_numpy(), axis=0) >= 0).all()


def test_separation_is_detected_and_not_reported_as_a_number():
    fixture, data, _ = load_fixture("separation")
    ref = fixture["fits"][0]["crr"]
    result = fine_gray(data, "time", "status", fixture["covariates"], cause=1)
    table = result.summary
    # R reports an absurd finite estimate with a small SE: HR about exp(-24.6)
    assert ref["coef"][1] < -20 and ref["se"][1] < 1
    assert table.loc["group[C]", "separation"]
    assert table.loc["group[C]", "coef"] == -np.inf and table.loc["group[C]", "hr"] == 0.0
    assert np.isnan(table.loc["group[C]", ["std_err", "hr_lower", "hr_upper", "p"]].astype(float)).all()
    assert any("group" in w and "C" in w and "separation" in w for w in result.notes)
    # the estimable terms still equal crr's
    ok = ["group[B]", "male"]
    assert not table.loc[ok, "separation"].any()
    np.testing.assert_allclose(table.loc[ok, "coef"], [ref["coef"][0], ref["coef"][2]], rtol=RTOL)
    np.testing.assert_allclose(table.loc[ok, "std_err"], [ref["se"][0], ref["se"][2]], rtol=RTOL)


def _toy(n=300, seed=7):
    rng = np.random.default_rng(seed)
    group = rng.choice(["ATG-F", "ATG-T", "ATG-P"], n)
    age = rng.normal(40, 10, n).round(1)
    t1 = rng.exponential(400 / np.exp(0.4 * (group == "ATG-T") + 0.02 * (age - 40)))
    t2 = rng.exponential(600, n)
    c = rng.exponential(900, n)
    t = np.ceil(np.minimum.reduce([t1, t2, c]))
    status = np.where(c <= np.minimum(t1, t2), 0, np.where(t1 <= t2, 1, 2))
    return pd.DataFrame({"time": t, "status": status, "atg_type": group, "age": age})


def test_reference_level_with_no_events_flags_every_level_of_that_covariate():
    data = _toy()
    data.loc[(data["atg_type"] == "ATG-F") & (data["status"] == 1), "status"] = 2
    result = fine_gray(data, "time", "status", ["atg_type", "age"], reference={"atg_type": "ATG-F"})
    table = result.summary
    assert table.loc[["atg_type[ATG-P]", "atg_type[ATG-T]"], "separation"].all()
    assert (table.loc[["atg_type[ATG-P]", "atg_type[ATG-T]"], "hr"] == np.inf).all()
    assert not table.loc["age", "separation"] and np.isfinite(table.loc["age", "std_err"])


def test_covariate_ordering_every_event_is_flagged():
    data = _toy(100)
    # every cause-1 failure has the highest 'score' in its risk set: earlier failures score higher
    data["score"] = np.where(data["status"] == 1, 10_000 - data["time"], 0.0)
    result = fine_gray(data, "time", "status", ["score", "age"])
    assert result.summary.loc["score", "separation"]
    assert result.summary.loc["score", "hr"] == np.inf
    assert any("score" in w for w in result.notes)
    # what is left for age is degenerate: said so, not given a p-value
    assert np.isnan(result.summary.loc["age", "p"]) and any("age" in w for w in result.notes)


def test_censoring_km_before_by_hand():
    time_ = np.array([1.0, 2, 2, 3, 4])
    censored = np.array([False, True, False, True, False])
    # G(1-)=G(2-)=1; one of 4 at risk censored at 2 -> 3/4; one of 2 censored at 3 -> 3/8
    np.testing.assert_allclose(censoring_km_before(time_, censored), [1, 1, 1, 0.75, 0.375])


def test_without_competing_events_or_ties_equals_cox():
    rng = np.random.default_rng(3)
    n = 150
    x = rng.normal(size=n)
    t = rng.exponential(1 / np.exp(0.7 * x)) * 365 + rng.uniform(0, 1e-3, n)
    c = rng.exponential(2, n) * 365
    data = pd.DataFrame({"time": np.minimum(t, c), "status": (t <= c).astype(int), "x": x})
    fg = fine_gray(data, "time", "status", ["x"])
    cox = CoxPHFitter().fit(
        data, "time", "status", fit_options={"step_size": 1.0, "precision": 1e-20, "r_precision": 1e-14}
    )
    np.testing.assert_allclose(fg.summary.loc["x", "coef"], cox.params_["x"], rtol=1e-8)
    np.testing.assert_allclose(fg.loglik, cox.log_likelihood_, rtol=1e-10)


def test_reference_swap_negates_the_coefficient():
    data = _toy()
    data = data[data["atg_type"] != "ATG-P"]
    a = fine_gray(data, "time", "status", ["atg_type"], reference={"atg_type": "ATG-F"}).summary
    b = fine_gray(data, "time", "status", ["atg_type"], reference={"atg_type": "ATG-T"}).summary
    np.testing.assert_allclose(a.loc["atg_type[ATG-T]", "coef"], -b.loc["atg_type[ATG-F]", "coef"], rtol=1e-9)
    np.testing.assert_allclose(a.loc["atg_type[ATG-T]", "std_err"], b.loc["atg_type[ATG-F]", "std_err"], rtol=1e-9)
    assert a.loc["atg_type[ATG-T]", "reference"] == "ATG-F" and b.loc["atg_type[ATG-F]", "reference"] == "ATG-T"


def test_default_reference_is_first_sorted_level_and_units_rescale():
    data = _toy()
    years = fine_gray(data, "time", "status", ["atg_type", "age"])
    assert list(years.summary.index) == ["atg_type[ATG-P]", "atg_type[ATG-T]", "age"]
    assert years.reference == {"atg_type": "ATG-F"}
    data["age_decades"] = data["age"] / 10
    decades = fine_gray(data, "time", "status", ["atg_type", "age_decades"]).summary
    np.testing.assert_allclose(decades.loc["age_decades", "coef"], 10 * years.summary.loc["age", "coef"], rtol=1e-8)
    np.testing.assert_allclose(
        decades.loc["age_decades", "std_err"], 10 * years.summary.loc["age", "std_err"], rtol=1e-8
    )
    np.testing.assert_allclose(decades.loc["age_decades", "p"], years.summary.loc["age", "p"], rtol=1e-8)


def test_missing_values_are_dropped_and_counted():
    data = _toy()
    data.loc[:9, "age"] = np.nan
    result = fine_gray(data, "time", "status", ["atg_type", "age"])
    assert result.n == len(data) - 10
    assert result.events + result.competing_events + result.censored == result.n
    assert any("10 patient" in w for w in result.notes)


def test_confidence_interval_is_wald_on_log_scale():
    result = fine_gray(_toy(), "time", "status", ["atg_type", "age"], conf_level=0.90)
    row = result.summary.loc["atg_type[ATG-T]"]
    np.testing.assert_allclose(row["hr_lower"], np.exp(row["coef"] - 1.6448536269514722 * row["std_err"]), rtol=1e-12)
    np.testing.assert_allclose(row["hr_upper"], np.exp(row["coef"] + 1.6448536269514722 * row["std_err"]), rtol=1e-12)


def test_baseline_profile_prediction_is_one_minus_exp_minus_hazard():
    result = fine_gray(_toy(), "time", "status", ["age"])
    profile = pd.DataFrame({"age": [0.0]}, index=["age 0"])
    cif = result.predict(profile)["age 0"]
    np.testing.assert_allclose(cif, 1 - np.exp(-result.baseline_cumulative_hazard()), rtol=1e-12)


def test_100k_patients_fit_in_little_memory():
    # speed: benchmarks/competing_risks.py (medians against R), not a wall-clock assertion here
    rng = np.random.default_rng(11)
    n = 100_000
    data = pd.DataFrame({"x": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    t1 = rng.exponential(1000 / np.exp(0.5 * data["x"]))
    t2, c = rng.exponential(1500, n), rng.exponential(2000, n)
    data["time"] = np.ceil(np.minimum.reduce([t1, t2, c]))
    data["status"] = np.where(c <= np.minimum(t1, t2), 0, np.where(t1 <= t2, 1, 2))
    tracemalloc.start()
    result = fine_gray(data, "time", "status", ["x", "g"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2e9
    assert abs(result.summary.loc["x", "coef"] - 0.5) < 0.1  # subdistribution HR attenuated towards 1


@pytest.mark.parametrize("name", ["small", "heavy_censoring", "large", "separation"])
def test_array_estimates_are_fine_grays_own(name):
    """fine_gray_estimates (for refits of one design) gives fine_gray's numbers, separation included."""
    from hsct_analysis.stats.fine_gray import fine_gray_estimates
    from hsct_analysis.stats.regression import RegressionOptions, wald_columns

    fixture = json.loads((Path(__file__).parent / "reference" / f"crr_{name}.json").read_text())
    data = pd.DataFrame(fixture["data"])
    for column, levels in (fixture["levels"] or {}).items():
        data[column] = pd.Categorical(data[column], categories=levels)
    full = fine_gray(data, "time", "status", fixture["covariates"], cause=1).summary
    design, cause = RegressionOptions().design(data, "time", "status", fixture["covariates"], 1)
    coef, std_err, flagged, _ = fine_gray_estimates(design, cause)
    columns = wald_columns(coef, std_err, flagged, 0.95)
    for column in ("coef", "std_err", "hr", "hr_lower", "hr_upper", "p"):
        np.testing.assert_array_equal(columns[column], full[column].to_numpy())
    assert sorted(flagged) == [j for j, s in enumerate(full["separation"]) if s]
