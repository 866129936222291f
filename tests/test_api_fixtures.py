"""The statistics API against R (tests/reference/api_*.json from api_reference.R; schema in FIXTURES.md).

- ``logrank(time, event, group, strata, rho)`` = ``survdiff`` (chisq, df, p, observed, expected, var);
- ``kaplan_meier_by`` = ``survfit(Surv(time, event) ~ group)`` in all four conf.types;
- ``fine_gray`` = ``crr`` and ``cause_specific_cox`` = ``coxph(ties = "efron")`` with a 3-level factor
  under a named reference, alone and with a numeric covariate; ``predict`` = ``predict.crr``;
- MASS Melanoma (2 = alive): ``cencode=2`` = ``cuminc(..., cencode = 2)``;
- ``stats.chisquare.qr_rank`` = ``qr(m)$rank``, the rank rule of Gray's test in ``cuminc``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.stats import (
    cause_specific_cox,
    cumulative_incidence,
    cumulative_incidence_by,
    fine_gray,
    gray_test,
    kaplan_meier_by,
    logrank,
)
from r_fixtures import REF, as_float, close_to_survfit, load

RTOL, ATOL = 1e-9, 1e-12
#: lifelines' Newton-Raphson (FIT_OPTIONS) against coxph(eps = 1e-12): agreement to about 1e-8
COX_RTOL = 1e-7
SURVIVAL = sorted(REF.glob("api_survival_*.json"))
REGRESSION = sorted(REF.glob("api_regression_*.json"))
CONF_TYPES = {"plain": "plain", "log": "log", "log-log": "log-log", "arcsin": "arcsine"}


def close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(as_float(np.ravel(actual)), as_float(np.ravel(expected)), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- survdiff
@pytest.mark.parametrize("path", SURVIVAL, ids=lambda p: p.stem)
def test_logrank_equals_survdiff(path):
    ref = load(path)
    data = ref["data"]
    for r in ref["survdiff"]:
        strata = data["strata"] if r["stratified"] else None
        res = logrank(data["time"], data["event"], data["group"], strata=strata, rho=r["rho"])
        assert list(res.table.index) == r["groups"]
        assert res.df == r["df"]
        close(res.statistic, r["chisq"], atol=1e-12)
        close(res.table["n"], r["n"])
        close(res.observed, r["observed"])
        close(res.expected, r["expected"])
        close(res.variance.to_numpy(), r["variance"], atol=1e-12)
        if r["df"] > 0:
            close(res.p_value, r["p"], atol=1e-15)


@pytest.mark.parametrize("path", SURVIVAL, ids=lambda p: p.stem)
def test_kaplan_meier_by_equals_survfit_by_group(path):
    ref = load(path)
    data = ref["data"]
    for conf_r, conf_py in CONF_TYPES.items():
        curves = kaplan_meier_by(data["time"], data["event"], data["group"], conf_type=conf_py)
        assert [str(k) for k in curves] == [r["group"] for r in ref["km_by"]]
        for r, curve in zip(ref["km_by"], curves.values()):
            close_to_survfit(curve, r, conf_r, RTOL, ATOL)


# ----------------------------------------------------------------------------- Melanoma, cencode = 2
def _on_grid(curve: pd.DataFrame, times) -> pd.DataFrame:
    """Right-continuous step values of a curve at ``times`` (0 before its first time)."""
    idx = np.searchsorted(curve.index.to_numpy(float), np.asarray(times, float), side="right") - 1
    out = curve.iloc[np.maximum(idx, 0)][["estimate", "variance"]].to_numpy().copy()
    out[idx < 0] = 0.0
    return pd.DataFrame(out, columns=["estimate", "variance"])


@pytest.mark.parametrize("block", ["cencode_2", "recoded_0"])
def test_melanoma_cumulative_incidence_with_cencode_equals_cuminc(block):
    ref = load(REF / "api_melanoma.json")
    data = ref["data"]
    r = ref[block]
    status = data["status"] if block == "cencode_2" else data["status_recoded"]
    for curve_ref in r["curves"]:
        if curve_ref["group"] is None:
            curve = cumulative_incidence(data["time"], status, curve_ref["cause"], cencode=r["cencode"])
        else:
            by = cumulative_incidence_by(data["time"], status, data["ulcer"], curve_ref["cause"], cencode=r["cencode"])
            curve = by[curve_ref["group"]]
        got = _on_grid(curve, curve_ref["time"])
        close(got["estimate"], curve_ref["est"])
        close(got["variance"], curve_ref["var"])
    overall = cumulative_incidence(data["time"], status, 1, cencode=r["cencode"])
    assert overall["estimate"].iloc[-1] == pytest.approx(0.33871750891435, rel=1e-12)
    for t in r["tests"]:
        res = gray_test(
            data["time"],
            status,
            data["ulcer"],
            cause=t["cause"],
            rho=t["rho"],
            strata=data["sex"] if t["stratified"] else None,
            cencode=r["cencode"],
        )
        close(res.statistic, t["stat"])
        close(res.p_value, t["p"], atol=1e-15)
        assert res.df == t["df"]


def test_melanoma_without_cencode_is_the_wrong_answer_and_warns():
    data = load(REF / "api_melanoma.json")["data"]
    with pytest.warns(UserWarning, match="cencode"):
        wrong = cumulative_incidence(data["time"], data["status"], 1)
    assert wrong["estimate"].iloc[-1] == pytest.approx(0.278, abs=5e-4)


# ----------------------------------------------------------------------------- regressions
def _cases():
    for path in REGRESSION:
        ref = load(path)
        for model in ref["models"]:
            for fit in model["fits"]:
                yield pytest.param(
                    path, model["model"], fit["cause"], id=f"{path.stem}-{model['model']}-{fit['cause']}"
                )


def _setup(path, model_name, cause):
    ref = load(path)
    model = next(m for m in ref["models"] if m["model"] == model_name)
    fit = next(f for f in model["fits"] if f["cause"] == cause)
    return pd.DataFrame(ref["data"]), model, fit, ref["cencode"]


@pytest.mark.parametrize("path, model_name, cause", list(_cases()))
def test_fine_gray_equals_crr(path, model_name, cause):
    data, model, fit, cencode = _setup(path, model_name, cause)
    r = fit["crr"]
    res = fine_gray(
        data,
        "time",
        "status",
        model["covariates"],
        cause=cause,
        cencode=cencode,
        reference=model["references"],
        gtol=1e-12,
        max_iter=200,
    )
    assert list(res.summary.index) == r["terms"]
    rtol = RTOL if r["converged"] else 1e-8  # see FIXTURES.md, Surprises
    close(res.summary["coef"], r["coef"], rtol=rtol)
    close(res.summary["std_err"], r["se"], rtol=rtol)
    close(res.summary["hr_lower"], r["hr_lower"], rtol=rtol)
    close(res.summary["hr_upper"], r["hr_upper"], rtol=rtol)
    close(res.summary["p"], r["p"], rtol=1e-7, atol=1e-15)
    close(res.loglik, r["loglik"])
    close(res.loglik_null, r["loglik_null"])
    assert res.n == r["n"] and res.events == r["n_events"]
    pred = r["predict"]
    profiles = pd.DataFrame(pred["profiles"])
    curves = res.predict(profiles)
    close(curves.index, pred["time"])
    close(curves.to_numpy().T, pred["cif"], rtol=max(rtol, 1e-9))


@pytest.mark.parametrize("path, model_name, cause", list(_cases()))
def test_cause_specific_cox_equals_coxph_efron(path, model_name, cause):
    data, model, fit, cencode = _setup(path, model_name, cause)
    r = fit["coxph_efron"]
    res = cause_specific_cox(
        data, "time", "status", model["covariates"], cause=cause, cencode=cencode, reference=model["references"]
    )
    assert list(res.summary.index) == r["terms"]
    close(res.summary["coef"], r["coef"], rtol=COX_RTOL)
    close(res.summary["std_err"], r["se"], rtol=COX_RTOL)
    close(res.loglik, r["loglik"])
    close(res.loglik_null, r["loglik_null"])
    assert res.n == r["n"] and res.events == r["n_events"]


def test_qr_rank_equals_r_qr():
    """Gray's test is computed only where the covariance has full rank by R's qr() (LINPACK dqrdc2, tol 1e-7),
    cmprsk's rule: the package's qr_rank gives R's rank on every matrix of the fixture, near-singular ones
    included (where the singular-value rule of np.linalg.matrix_rank differs from R on about a third)."""
    from hsct_analysis.stats.chisquare import full_rank, qr_rank

    cases = load(REF / "qr_rank.json")["cases"]
    assert len(cases) >= 200
    differ = 0
    for case in cases:
        m = np.array(case["matrix"], dtype=float)
        assert qr_rank(m) == case["rank"], case["label"]
        assert full_rank(m, rule="qr") == (case["rank"] == len(m)), case["label"]
        differ += np.linalg.matrix_rank(m) != case["rank"]
    assert differ > 0  # the fixture holds the cases where the two rules part


def test_cause_specific_cox_reaches_the_maximum_where_full_newton_steps_stop_short():
    """On four patients lifelines' full Newton steps stopped short of coxph's maximum (log-likelihood -2.56
    against -1.83) and the fit still said converged. The package's own Newton-Raphson with step halving finds the
    maximum, lifelines restarts from there and reaches coxph's estimates; |coef| > 8 with |z| < 1 is then
    reported as possible separation (the package's rule), with the estimate coxph gives in the note."""
    ref = load(REF / "api_cox_short_of_maximum.json")
    fit = cause_specific_cox(pd.DataFrame(ref["data"]), "time", "status", ["x1", "b"])
    assert fit.converged and abs(fit.iterations - ref["iter"]) <= 1  # the two count the last, confirming step apart
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    np.testing.assert_allclose(fit.fitter.params_.to_numpy(), ref["coef"], rtol=COX_RTOL)
    np.testing.assert_allclose(fit.fitter.standard_errors_.to_numpy(), ref["std_err"], rtol=COX_RTOL)
    assert any("ran off to coef=14.7" in note for note in fit.notes)
