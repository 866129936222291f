"""Cause-specific Cox regression against R coxph(Surv(time, status == cause) ~ ., ties = "efron")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.stats.cause_specific import cause_specific_cox
from hsct_analysis.stats.fine_gray import fine_gray

REFERENCE = Path(__file__).parent / "reference"
RTOL = 1e-6


def load_fixture(name: str) -> tuple[dict, pd.DataFrame]:
    """The fixture and its data, factors with R's level order."""
    fixture = json.loads((REFERENCE / f"crr_{name}.json").read_text())
    data = pd.DataFrame(fixture["data"])
    for column, levels in (fixture["levels"] or {}).items():
        data[column] = pd.Categorical(data[column], categories=levels)
    return fixture, data


def coxph_cases():
    for name in ["small", "heavy_censoring", "large"]:
        fixture, _ = load_fixture(name)
        for fit in fixture["fits"]:
            if "coxph" in fit:
                yield pytest.param(name, fit["cause"], id=f"{name}-cause{fit['cause']}")


@pytest.mark.parametrize("name,cause", list(coxph_cases()))
def test_equals_r_coxph_efron(name, cause):
    fixture, data = load_fixture(name)
    ref = next(f["coxph"] for f in fixture["fits"] if f["cause"] == cause)
    result = cause_specific_cox(data, "time", "status", fixture["covariates"], cause=cause)
    table = result.summary.loc[ref["terms"]]
    np.testing.assert_allclose(table["coef"], ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(table["std_err"], ref["se"], rtol=RTOL)
    np.testing.assert_allclose(table["p"], ref["p"], rtol=RTOL)
    np.testing.assert_allclose(result.loglik, ref["loglik"], rtol=1e-10)
    np.testing.assert_allclose(table["hr"], np.exp(ref["coef"]), rtol=RTOL)
    assert result.events == int((data["status"] == cause).sum())


def test_competing_causes_count_as_censored():
    fixture, data = load_fixture("heavy_censoring")
    recoded = data.assign(status=np.where(data["status"] == 2, 2, 0))
    a = cause_specific_cox(data, "time", "status", fixture["covariates"], cause=2).summary
    b = cause_specific_cox(recoded, "time", "status", fixture["covariates"], cause=2).summary
    np.testing.assert_allclose(a["coef"], b["coef"], rtol=1e-12)
    np.testing.assert_allclose(a["std_err"], b["std_err"], rtol=1e-12)


def test_same_terms_and_reference_as_fine_gray():
    fixture, data = load_fixture("heavy_censoring")
    data["group"] = data["group"].astype(str)  # object dtype: reference = first sorted level
    csc = cause_specific_cox(data, "time", "status", ["group", "male"], reference={"group": "B"})
    fg = fine_gray(data, "time", "status", ["group", "male"], reference={"group": "B"})
    assert list(csc.summary.index) == list(fg.summary.index) == ["group[A]", "group[C]", "male"]
    assert list(csc.summary.columns) == list(fg.summary.columns)
    assert csc.reference == fg.reference == {"group": "B"}


def test_level_without_events_is_flagged_not_reported():
    fixture, data = load_fixture("separation")
    result = cause_specific_cox(data, "time", "status", fixture["covariates"], cause=1)
    row = result.summary.loc["group[C]"]
    assert row["separation"] and row["hr"] == 0.0 and np.isnan(row["p"])
    assert any("group" in w and "separation" in w for w in result.notes)
    assert not result.summary.loc[["group[B]", "male"], "separation"].any()
    assert np.isfinite(result.summary.loc[["group[B]", "male"], "std_err"]).all()


def test_estimable_terms_under_separation_equal_the_limit_fit_in_r():
    fixture, data = load_fixture("separation")
    ref = fixture["coxph_limit"]  # R coxph without group C, whose coefficient runs to -infinity
    result = cause_specific_cox(data, "time", "status", fixture["covariates"], cause=1)
    table = result.summary.loc[ref["terms"]]
    np.testing.assert_allclose(table["coef"], ref["coef"], rtol=RTOL)
    np.testing.assert_allclose(table["std_err"], ref["se"], rtol=RTOL)
    assert result.n == len(data) and any("left out" in w for w in result.notes)


def test_full_newton_overshoot_recovers_r_coxph():
    """Full Newton steps from zero diverge on this small, unbalanced data (3 of 7 ATG-P
    patients relapse); the damped-then-polished fit must still equal R:
    coxph(Surv(relapse_nrm_time, relapse_nrm_status == 1) ~ atg_type) with survival 3.5-3."""
    import pathlib

    data = pd.read_csv(pathlib.Path(__file__).parent / "data" / "cox_overshoot.csv")
    data["atg_type"] = pd.Categorical(data["atg_type"], categories=["ATG-F", "ATG-T", "ATG-P"])
    res = cause_specific_cox(data, "relapse_nrm_time", "relapse_nrm_status", ["atg_type"], cause=1)
    r_coef = {"atg_type[ATG-T]": 0.07768437, "atg_type[ATG-P]": 2.06012171}
    r_se = {"atg_type[ATG-T]": 0.7642565, "atg_type[ATG-P]": 0.7834579}
    for term, value in r_coef.items():
        assert res.summary.loc[term, "coef"] == pytest.approx(value, rel=1e-6)
        assert res.summary.loc[term, "std_err"] == pytest.approx(r_se[term], rel=1e-6)
    assert res.loglik == pytest.approx(-39.76329, rel=1e-6)


@pytest.mark.parametrize("name,cause", list(coxph_cases()))
def test_array_estimates_equal_r_coxph_efron(name, cause):
    """efron_estimates (numpy Newton-Raphson, no data frames) against R coxph on the same fixtures."""
    from hsct_analysis.stats.cause_specific import cox_estimates
    from hsct_analysis.stats.regression import RegressionOptions

    fixture, data = load_fixture(name)
    ref = next(f["coxph"] for f in fixture["fits"] if f["cause"] == cause)
    design, cause = RegressionOptions().design(data, "time", "status", fixture["covariates"], cause)
    fit = cox_estimates(design, cause)
    assert fit is not None and fit.converged
    where = [design.term_names.index(t) for t in ref["terms"]]
    np.testing.assert_allclose(fit.coef[where], ref["coef"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fit.std_err[where], ref["se"], rtol=1e-9)
    np.testing.assert_allclose(fit.loglik, ref["loglik"], rtol=1e-12)


def test_array_estimates_leave_separation_to_the_full_fit():
    from hsct_analysis.stats.cause_specific import cox_estimates, efron_estimates
    from hsct_analysis.stats.regression import RegressionOptions

    fixture, data = load_fixture("separation")
    design, cause = RegressionOptions().design(data, "time", "status", fixture["covariates"], 1)
    assert cox_estimates(design, cause) is None
    # the bare estimator does not pretend: a level without events never converges
    event = (design.status == cause).astype(int)
    assert not efron_estimates(design.time, event, design.x, max_iter=25).converged


def test_the_check_against_the_own_newton_raphson_never_breaks_a_fit():
    """The restart from the package's own Newton-Raphson applies only where that fit is regular (finite standard
    errors) and is kept only if lifelines gets higher: on two small, separated designs of the review (one raised
    LinAlgError, one lost every coefficient to NaN) the fits are what lifelines alone gives."""
    import warnings

    from hsct_analysis.stats.cause_specific import efron_estimates

    a = pd.DataFrame(
        {
            "time": [7.0, 1.0, 2.0, 10.0, 6.0, 7.0, 2.0, 9.0, 10.0, 9.0, 11.0],
            "status": [1, 1, 1, 2, 1, 1, 0, 2, 1, 1, 0],
            "f": ["a", "c", "c", "b", "c", "a", "a", "c", "b", "a", "b"],
        }
    )
    b = pd.DataFrame(
        {
            "time": [1.0, 5.0, 10.0, 3.0, 5.0, 8.0, 10.0, 4.0, 4.0, 6.0],
            "status": [2, 1, 0, 0, 0, 1, 2, 1, 0, 2],
            "x1": [2.24, 2.12, -1.86, -6.7, -0.6, 1.96, 0.28, 0.96, -1.66, -1.86],
            "f": ["c", "a", "a", "a", "b", "c", "c", "b", "b", "a"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_a = cause_specific_cox(a, "time", "status", ["f"], categorical=["f"])
        fit_b = cause_specific_cox(b, "time", "status", ["x1", "f"], categorical=["f"])
    assert fit_a.converged and fit_a.summary["coef"].iloc[0] == -np.inf
    assert fit_a.summary["coef"].iloc[1] == pytest.approx(0.411, abs=1e-3)
    assert fit_b.converged and np.all(np.isinf(fit_b.summary["coef"]))
    # a singular information at the end of the steps is no maximum: not converged, rather than LinAlgError
    x = pd.get_dummies(a["f"], drop_first=True, dtype=float).to_numpy()
    own = efron_estimates(a["time"].to_numpy(), (a["status"] == 1).to_numpy().astype(int), x)
    assert not (own.converged and np.all(np.isfinite(own.std_err)))
