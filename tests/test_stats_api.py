"""The statistics API as a whole: one vocabulary, one missing-value rule, cencode, one result type.

R values below come from R 4.2.2 with survival 3.5-3 and cmprsk 2.2-11 on the 16-patient data
frame ``EX`` (:func:`hsct_analysis.stats.datasets.load_competing_example`, the data of the Examples
in the fine_gray and cause_specific_cox docstrings):

    d <- data.frame(time = EX$time, status = EX$status, group = EX$group, age = EX$age)
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hsct_analysis.stats import (  # noqa: E402
    RegressionResult,
    cause_specific_cox,
    cumulative_incidence,
    cumulative_incidence_by,
    fine_gray,
    gray_test,
    kaplan_meier,
    kaplan_meier_by,
    logrank,
    median_followup,
)
from hsct_analysis.stats.datasets import load_competing_example  # noqa: E402

EX = load_competing_example()
EVENT = (EX["status"] > 0).astype(int)
RTOL = 1e-9


# ----------------------------------------------------------------------------- log-rank family
@pytest.mark.parametrize(
    "kwargs, chisq, observed, expected",
    [
        # survdiff(Surv(time, status > 0) ~ group, d)
        ({}, 1.556709339715, [3, 5, 3], [1.587576313, 6.110683761, 3.301739927]),
        # survdiff(..., rho = 1): observed and expected are weighted by S(t-)
        ({"rho": 1}, 2.944886122, [2.674107143, 2.755580357, 1.688988095], [1.185267857, 3.8828125, 2.050595238]),
        # survdiff(Surv(time, status > 0) ~ group + strata(age > 55), d, rho = 1): row sums
        (
            {"rho": 1, "strata": EX["age"] > 55},
            2.513037713,
            [2.75, 2.821428571, 1.851190476],
            [1.392857143, 4.107142857, 1.922619048],
        ),
    ],
)
def test_logrank_rho_and_strata_equal_survdiff(kwargs, chisq, observed, expected):
    res = logrank(EX["time"], EVENT, EX["group"], **kwargs)
    assert res.statistic == pytest.approx(chisq, rel=1e-9)
    np.testing.assert_allclose(res.observed, observed, rtol=1e-9)
    np.testing.assert_allclose(res.expected, expected, rtol=1e-9)
    assert res.df == 2 and res.rho == kwargs.get("rho", 0.0)


def test_logrank_stratified_variance_equals_survdiff():
    res = logrank(EX["time"], EVENT, EX["group"], strata=EX["age"] > 55, rho=1)
    r_var = [[0.7786989796, -0.5191326531, -0.2595663265],
             [-0.5191326531, 1.3282312925, -0.8090986395],
             [-0.2595663265, -0.8090986395, 1.0686649660]]  # fmt: skip
    np.testing.assert_allclose(res.variance.to_numpy(), r_var, rtol=1e-9)
    assert res.strata == 2


def test_strata_equal_sums_of_per_stratum_pieces():
    s = (EX["age"] > 55).to_numpy()
    both = logrank(EX["time"], EVENT, EX["group"], strata=s, rho=0.5)
    parts = [logrank(EX["time"][s == v], EVENT[s == v], EX["group"][s == v], rho=0.5) for v in (False, True)]
    np.testing.assert_allclose(both.observed, sum(p.observed for p in parts), rtol=1e-12)
    np.testing.assert_allclose(both.variance, sum(p.variance for p in parts), rtol=1e-12)


# ----------------------------------------------------------------------------- KM by group
def test_kaplan_meier_by_equals_one_curve_per_level():
    curves = kaplan_meier_by(EX["time"], EVENT, EX["group"], conf_type="log")
    assert list(curves) == ["a", "b", "c"]
    for level, curve in curves.items():
        one = kaplan_meier(EX["time"][EX["group"] == level], EVENT[EX["group"] == level], conf_type="log")
        pd.testing.assert_frame_equal(curve, one)


# ----------------------------------------------------------------------------- cencode
def _melanoma_style(status):
    """Recode 0 = censored, 1, 2 = causes as 2 = alive (censored), 1, 3 (MASS Melanoma's coding)."""
    return np.select([status == 0, status == 1, status == 2], [2, 1, 3])


def test_cencode_gives_the_same_answers_as_zero_coded_censoring():
    coded = _melanoma_style(EX["status"].to_numpy())
    a = cumulative_incidence(EX["time"], EX["status"], 1)
    b = cumulative_incidence(EX["time"], coded, 1, cencode=2)
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-15)
    np.testing.assert_allclose(a["variance"], b["variance"], rtol=1e-15)
    assert b.attrs["cencode"] == 2
    for c0, c2 in ((1, 1), (2, 3)):
        ga = gray_test(EX["time"], EX["status"], EX["group"], cause=c0)
        gb = gray_test(EX["time"], coded, EX["group"], cause=c2, cencode=2)
        assert ga.statistic == pytest.approx(gb.statistic, rel=1e-12)
    by = cumulative_incidence_by(EX["time"], coded, EX["group"], cause=3, cencode=2)
    by0 = cumulative_incidence_by(EX["time"], EX["status"], EX["group"], cause=2)
    for level in by0:
        np.testing.assert_allclose(by[level]["estimate"], by0[level]["estimate"], rtol=1e-15)
    recoded = EX.assign(status=coded)
    for fit in (fine_gray, cause_specific_cox):
        x = fit(EX, "time", "status", ["group", "age"], cause=2).summary
        y = fit(recoded, "time", "status", ["group", "age"], cause=3, cencode=2).summary
        np.testing.assert_allclose(x[["coef", "std_err"]], y[["coef", "std_err"]], rtol=1e-9)


def test_missing_censoring_code_warns():
    """Melanoma-style data passed without cencode: every patient would count as an event."""
    coded = _melanoma_style(EX["status"].to_numpy())
    with pytest.warns(UserWarning, match="cencode"):
        cumulative_incidence(EX["time"], coded, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cumulative_incidence(EX["time"], coded, 1, cencode=2)


def test_cause_equal_to_cencode_is_an_error():
    with pytest.raises(ValueError, match="cencode"):
        cumulative_incidence(EX["time"], EX["status"], cause=2, cencode=2)
    with pytest.raises(ValueError, match="cencode"):
        fine_gray(EX, "time", "status", ["age"], cause=0)


# ----------------------------------------------------------------------------- missing values
def _with_missing():
    data = EX.astype({"time": float, "age": float, "group": object})
    data.loc[1, "time"] = np.nan
    data.loc[4, "group"] = None
    data.loc[7, "age"] = np.nan
    return data


def test_one_missing_value_rule_for_every_function():
    """Drop the observation, record it; the result equals the one on complete cases."""
    data = _with_missing()
    ok = data.dropna()
    ev = (data["status"] > 0).astype(float)
    note = "2 observation(s) with a missing value dropped (time: 1, group: 1)"
    sel = data[["time", "group"]].notna().all(axis=1)
    km = kaplan_meier(data["time"], ev)
    assert km.attrs["notes"] == ["1 observation(s) with a missing value dropped (time: 1)"]
    lr = logrank(data["time"], ev, data["group"])
    assert lr.notes == [note]
    assert lr.statistic == pytest.approx(logrank(data["time"][sel], ev[sel], data["group"][sel]).statistic)
    gt = gray_test(data["time"], data["status"], data["group"])
    assert gt.notes == [note]
    cif = cumulative_incidence_by(data["time"], data["status"], data["group"])
    assert all(c.attrs["notes"] == [note] for c in cif.values())
    kmb = kaplan_meier_by(data["time"], ev, data["group"])
    assert all(c.attrs["notes"] == [note] for c in kmb.values())
    assert median_followup(data["time"], ev).maximum == 20
    for fit in (fine_gray, cause_specific_cox):
        res = fit(data, "time", "status", ["group", "age"])
        assert res.n == len(ok) == 13
        assert any("3 patient(s) with missing values were dropped" in n for n in res.notes)
        ref = fit(ok, "time", "status", ["group", "age"])
        np.testing.assert_allclose(res.summary["coef"], ref.summary["coef"], rtol=1e-12)


# ----------------------------------------------------------------------------- regression errors
@pytest.mark.parametrize("fit", [fine_gray, cause_specific_cox])
def test_unknown_covariate_names_the_column_and_what_exists(fit):
    with pytest.raises(ValueError, match=r"covariate\(s\) \['sex'\] not in data; columns are \['time', 'status'"):
        fit(EX, "time", "status", ["group", "sex"])
    with pytest.raises(ValueError, match="time column 'days' is not in data"):
        fit(EX, "days", "status", ["group"])
    with pytest.raises(ValueError, match="list of column names"):
        fit(EX, "time", "status", "group")


@pytest.mark.parametrize("fit", [fine_gray, cause_specific_cox])
def test_numeric_coded_group_must_be_declared(fit):
    coded = EX.assign(group=EX["group"].map({"a": 1, "b": 2, "c": 3}))
    with pytest.raises(ValueError, match=r"'group' is numeric with the integer values \[1, 2, 3\].*categorical="):
        fit(coded, "time", "status", ["group", "age"])
    as_levels = fit(coded, "time", "status", ["group", "age"], categorical=["group"]).summary
    as_text = fit(EX, "time", "status", ["group", "age"]).summary
    np.testing.assert_allclose(as_levels["coef"], as_text["coef"], rtol=1e-10)
    assert list(as_levels.index) == ["group[2]", "group[3]", "age"]
    linear = fit(coded, "time", "status", ["group", "age"], numeric=["group"]).summary
    assert list(linear.index) == ["group", "age"]
    # a 0/1 column is one term either way: no error
    assert list(
        fit(EX.assign(male=EX["age"] > 55).astype({"male": int}), "time", "status", ["male"]).summary.index
    ) == ["male"]


def test_options_are_shared_checked_and_each_model_adds_its_own():
    """Both regressions take RegressionOptions' keywords; a misspelt one is named, with the nearest."""
    with pytest.raises(ValueError, match=r"unknown option 'refrence' \(did you mean 'reference'\?\)"):
        fine_gray(EX, "time", "status", ["group"], refrence={"group": "b"})
    # fine_gray's own options reach its Newton-Raphson: one step cannot converge from 0
    assert not fine_gray(EX, "time", "status", ["group", "age"], max_iter=1).converged
    assert fine_gray(EX, "time", "status", ["group", "age"], gtol=1e-6).converged
    # cause_specific_cox hands every other keyword to lifelines (a ridge penalty shrinks the estimates)
    plain = cause_specific_cox(EX, "time", "status", ["group", "age"]).summary["coef"]
    ridge = cause_specific_cox(EX, "time", "status", ["group", "age"], penalizer=1.0).summary["coef"]
    assert np.all(np.abs(ridge) < np.abs(plain))
    with pytest.raises(TypeError, match="penalty"):
        cause_specific_cox(EX, "time", "status", ["group"], penalty=1.0)
    # the shared options mean the same in both: conf_level sets the width of the limits
    for fit in (fine_gray, cause_specific_cox):
        narrow = fit(EX, "time", "status", ["age"], conf_level=0.5).summary.loc["age"]
        wide = fit(EX, "time", "status", ["age"]).summary.loc["age"]
        assert wide["hr_lower"] < narrow["hr_lower"] < narrow["hr"] < narrow["hr_upper"] < wide["hr_upper"]


# ----------------------------------------------------------------------------- one result type
def test_both_regressions_return_one_result_type_with_the_same_summary():
    fg = fine_gray(EX, "time", "status", ["group", "age"])
    cs = cause_specific_cox(EX, "time", "status", ["group", "age"])
    assert type(fg) is type(cs) is RegressionResult
    assert list(fg.summary.columns) == list(cs.summary.columns) == [
        "coef", "std_err", "hr", "hr_lower", "hr_upper", "p", "reference", "separation"]  # fmt: skip
    assert fg.method == "fine-gray" and cs.method == "cause-specific cox"
    assert not hasattr(fg, "warnings") and not hasattr(cs, "warnings")
    # R: crr(time, status, model.matrix(~ group + age)[, -1]) and coxph(Surv(time, status == 1) ~ group + age)
    np.testing.assert_allclose(fg.summary["coef"], [-0.48891424523, -0.34094650569, -0.00856091553], rtol=1e-6)
    np.testing.assert_allclose(fg.summary["std_err"], [0.94780931990, 0.90032823315, 0.04425821107], rtol=1e-6)
    np.testing.assert_allclose(cs.summary["coef"], [-0.81872659177, -0.58324732600, -0.01039098737], rtol=1e-7)
    np.testing.assert_allclose(cs.summary["std_err"], [0.96297504863, 1.11172616054, 0.04710407025], rtol=1e-7)
    assert cs.loglik == pytest.approx(-13.3044701815, rel=1e-9)
    assert cs.loglik_null == pytest.approx(-13.7338665689, rel=1e-9)
    assert cs.competing_events == fg.competing_events == 4 and cs.censored == fg.censored == 5


def test_predict_fine_gray_equals_predict_crr_and_cause_specific_equals_aalen_johansen_of_breslow_hazards():
    profiles = pd.DataFrame({"group": ["a", "b"], "age": [50, 50]})
    fg = fine_gray(EX, "time", "status", ["group", "age"]).predict(profiles)
    # predict(crr(...), rbind(c(0, 0, 50), c(1, 0, 50))) at the last cause-1 time (18)
    np.testing.assert_allclose(fg.iloc[-1], [0.6765543492, 0.4995449119], rtol=1e-7)
    cs = cause_specific_cox(EX, "time", "status", ["group", "age"]).predict(profiles)
    assert list(cs.index) == list(fg.index) == [2, 6, 8, 10, 12, 14, 18]
    # R: cumulative hazards of survfit(coxph(Surv(time, status == k) ~ group + age), newdata, ctype = 1)
    # for k = 1, 2, combined as sum(S(t-) dH1) with S = cumprod(1 - dH1 - dH2): 0.5417343372 for "a"
    assert cs.iloc[-1, 0] == pytest.approx(0.5417343372, rel=1e-8)
    assert np.all(np.diff(cs.to_numpy(), axis=0) >= 0)


def test_predict_rejects_unknown_profiles():
    fit = cause_specific_cox(EX, "time", "status", ["group", "age"])
    with pytest.raises(ValueError, match="profiles lack the covariate 'age'"):
        fit.predict(pd.DataFrame({"group": ["a"]}))
    with pytest.raises(ValueError, match=r"level\(s\) \['z'\] were not in the fitted data"):
        fit.predict(pd.DataFrame({"group": ["z"], "age": [50]}))


def test_plot_draws_on_the_given_axes_and_changes_no_global_style():
    before = dict(plt.rcParams)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    fg = fine_gray(EX, "time", "status", ["group", "age"])
    cs = cause_specific_cox(EX, "time", "status", ["group", "age"])
    assert fg.plot(ax=ax1) is ax1 and cs.plot(ax=ax2) is ax2
    assert [t.get_text() for t in ax1.get_yticklabels()] == ["age", "group[c]", "group[b]"]
    assert ax1.get_xlabel() == "subdistribution hazard ratio (95% CI)"
    assert ax2.get_xlabel() == "cause-specific hazard ratio (95% CI)"
    assert dict(plt.rcParams) == before
    plt.close(fig)


def test_cause_specific_notes_only_what_the_final_fit_did():
    """On this data the first (full-step) fit fails and is discarded; its numeric warnings
    (5 of them before) must not be reported for the fit that is kept."""
    import pathlib

    data = pd.read_csv(pathlib.Path(__file__).parent / "data" / "cox_overshoot.csv")
    data["atg_type"] = pd.Categorical(data["atg_type"], categories=["ATG-F", "ATG-T", "ATG-P"])
    res = cause_specific_cox(data, "relapse_nrm_time", "relapse_nrm_status", ["atg_type"], cause=1)
    assert res.notes == []
    assert res.summary.loc["atg_type[ATG-P]", "coef"] == pytest.approx(2.06012171, rel=1e-6)


# ----------------------------------------------------------------------------- API reference page
def test_api_page_documents_every_public_function_and_each_has_a_runnable_example():
    """book/api.md (autodoc, listed in _toc.yml) names every export of hsct_analysis.stats;
    each exported function has a numpydoc Examples section (run by --doctest-modules)."""
    import inspect
    import pathlib

    import yaml

    import hsct_analysis.stats as stats

    root = pathlib.Path(__file__).parents[1]
    page = (root / "book" / "api.md").read_text()
    toc = (root / "_toc.yml").read_text()
    config = yaml.safe_load((root / "_config.yml").read_text())
    assert "file: book/api" in toc
    assert {"sphinx.ext.autodoc", "sphinx.ext.napoleon"} <= set(config["sphinx"]["extra_extensions"])
    for name in stats.__all__:
        obj = getattr(stats, name)
        assert name in page, name
        if inspect.isfunction(obj):
            doc = inspect.getdoc(obj)
            assert "Examples\n--------\n>>>" in doc and "Parameters\n----------" in doc, name


def test_distinct_times_equals_numpy_unique():
    """The estimators' fast distinct-times tally gives np.unique's arrays exactly: ties, one time, all equal,
    sorted and reversed input, integers, NaN (handed to np.unique) and an empty array."""
    from hsct_analysis.stats.counting import distinct_times

    rng = np.random.default_rng(7)
    cases = [np.round(rng.exponential(300.0, n)) for n in (1, 2, 5, 95, 400, 5000, 100000)]
    cases += [np.full(6, 3.0), np.arange(10.0), np.arange(10.0)[::-1], np.array([2, 1, 2, 3]), np.zeros(0)]
    cases += [np.array([5.0, np.nan, 1.0, 5.0, np.nan])]
    for time in cases:
        want, got = np.unique(time, return_inverse=True), distinct_times(time)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_gray_two_group_rank_rule_equals_matrix_rank():
    """A 1 x 1 covariance (two groups) is decided of full rank without a decomposition; the shortcut gives
    np.linalg.matrix_rank's answer (and R's qr rank's, the same for one column) on zero, tiny, negative and
    ordinary values."""
    from hsct_analysis.stats.chisquare import full_rank

    for v in (0.0, -0.0, 5e-324, 1e-300, -3.0, 0.25, 1e300):
        m = np.array([[v]])
        assert full_rank(m) == (np.linalg.matrix_rank(m) == 1) == full_rank(m, rule="qr"), v
    assert full_rank(np.eye(2)) and not full_rank(np.ones((2, 2)))
    for bad in (np.array([[np.nan]]), np.array([[np.inf]]), np.array([[1.0, np.nan], [np.nan, 1.0]])):
        assert not full_rank(bad) and not full_rank(bad, rule="qr")  # no usable covariance, no LinAlgError


def test_quadratic_form_equals_the_solve_to_the_last_bit():
    """The tests' chi-square statistic x' V^-1 x: with one degree of freedom x (x / v), equal bit for bit to
    x @ np.linalg.solve(V, x) on values spread over 17 orders of magnitude; larger V go to the solve; a singular
    1 x 1 V raises as the solve does."""
    from hsct_analysis.stats.chisquare import quadratic_form

    rng = np.random.default_rng(11)
    x = rng.standard_normal(20000) * np.exp(rng.uniform(-20, 20, 20000))
    v = np.abs(rng.standard_normal(20000)) * np.exp(rng.uniform(-20, 20, 20000))
    for a, b in zip(x, v):
        assert quadratic_form(np.array([a]), np.array([[b]])) == float(np.array([a]) @ np.linalg.solve([[b]], [a]))
    m = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert quadratic_form(np.array([1.0, 2.0]), m) == float(np.array([1.0, 2.0]) @ np.linalg.solve(m, [1.0, 2.0]))
    for a, b in [(-0.0, 1.0), (0.0, -1.0), (1e-200, -1e300)]:  # a zero keeps the dot product's sign (+)
        q, s = quadratic_form(np.array([a]), np.array([[b]])), float(np.array([a]) @ np.linalg.solve([[b]], [a]))
        assert (q, np.copysign(1.0, q)) == (s, np.copysign(1.0, s))
    with pytest.raises(np.linalg.LinAlgError):
        quadratic_form(np.array([1.0]), np.array([[0.0]]))


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0])
def test_a_stratum_without_events_adds_nothing_to_a_weighted_logrank(rho):
    """A stratum in which nobody has the event contributes nothing, also with Fleming-Harrington weights
    (rho > 0 once failed on its empty weight vector): the test equals the test of the other strata alone."""
    from hsct_analysis.stats import logrank

    t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 2, 4, 6])
    e = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0])
    g = np.array(["a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a"])
    s = np.array(["s1"] * 8 + ["s2"] * 3)
    both, alone = logrank(t, e, g, strata=s, rho=rho), logrank(t[:8], e[:8], g[:8], rho=rho)
    assert both.statistic == alone.statistic and both.p_value == alone.p_value and both.strata == 2
    np.testing.assert_array_equal(both.table["expected"], alone.table["expected"] + 0.0)


def test_a_singular_covariance_gives_an_undefined_test_with_a_note():
    """Where no contrast between the groups has a variance (everyone at risk dies at one time, or each group
    alone in its stratum) R's survdiff stops ("system is exactly singular"); here log-rank and Gray's test
    return NaN with a note that says why, not a linear-algebra traceback."""
    from hsct_analysis.stats import gray_test, logrank
    from hsct_analysis.stats.chisquare import SINGULAR_NOTE

    cases = [
        (np.array([5.0, 5.0]), np.array([1, 1]), np.array(["a", "b"]), None),
        (np.array([1.0, 5, 5]), np.array([1, 1, 1]), np.array(["b", "a", "c"]), np.array([1, 1, 2])),
    ]
    for t, e, g, s in cases:
        for res in (logrank(t, e, g, strata=s), gray_test(t, e, g, strata=s)):
            assert np.isnan(res.statistic) and np.isnan(res.p_value) and res.notes[-1] == SINGULAR_NOTE


def test_a_cox_model_of_one_patient_is_a_clear_error():
    """One complete case is no model: a clear message, not scipy's from inside lifelines."""
    from hsct_analysis.stats import cause_specific_cox

    with pytest.raises(ValueError, match="at least 2 complete cases; 1 given"):
        cause_specific_cox(pd.DataFrame({"t": [3.0], "s": [1], "x": [1.0]}), "t", "s", ["x"])


def test_a_covariate_that_never_varies_where_events_happen_is_not_estimable_in_both_models():
    """One event, with one patient at risk: the likelihood is flat in b, so no hazard ratio (NaN), not an
    infinite one; the cause-specific model said +inf where lifelines gave up (NaN coefficient), Fine-Gray NaN."""
    from hsct_analysis.stats import cause_specific_cox, fine_gray

    data = pd.DataFrame({"t": [1.0, 2.0, 7.0], "s": [0, 0, 1], "b": [0, 1, 1]})
    for fit in (cause_specific_cox(data, "t", "s", ["b"]), fine_gray(data, "t", "s", ["b"])):
        row = fit.summary.loc["b"]
        assert np.isnan(row["coef"]) and np.isnan(row["hr"]) and bool(row["separation"])
        assert any("not estimable: b does not vary" in note for note in fit.notes)


def test_value_at_counts_those_at_risk_at_t_itself():
    """R's summary(fit, times = t) reports n.risk = patients whose time is >= t; value_at's at_risk is the same
    at, between and before the curve's times (it gave the earlier time's count between two times), and its
    counts are those at t (0 between times); the estimate is the last one at or before t."""
    from hsct_analysis.stats import cumulative_incidence, kaplan_meier, value_at

    rng = np.random.default_rng(5)
    for _ in range(60):
        n = int(rng.integers(1, 15))
        time = rng.integers(1, 8, n).astype(float)
        status = rng.integers(0, 3, n)
        for curve in (kaplan_meier(time, (status > 0).astype(int)), cumulative_incidence(time, status)):
            for t in np.arange(0.0, time.max() + 0.25, 0.5):
                row = value_at(curve, t)
                assert row["at_risk"] == np.sum(time >= t), t
                leaving = np.sum(time == t) if t in curve.index else 0
                assert sum(row[c] for c in ("events", "competing_events", "censored") if c in row.index) == leaving
                before = curve.index[curve.index <= t]
                want = curve.loc[before[-1], "estimate"] if len(before) else (1.0 if "std_err" in curve else 0.0)
                assert row["estimate"] == want
