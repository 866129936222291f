"""The book of a study without a paper (hsct_analysis.book.study_report) against R, and on degenerate cohorts.

R's values are tests/reference/ex_{bmt,hodg}_report.json (examples_reference.R: survival and cmprsk on the
same CSVs with the codings of data/examples/*/study.yml; see FIXTURES.md). The degenerate cohorts are small
study files written here: each shape that makes an analysis impossible must give a rendered sentence, never
an exception. No text of this module's output may speak of a paper or of a synthetic cohort.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest

from hsct_analysis.book import study_report as sr
from hsct_analysis.cohort import study as st
from r_fixtures import EXAMPLE_TOL, EXAMPLES, as_float, example_fixture

TOL = EXAMPLE_TOL


def fixture(name: str) -> dict:
    return example_fixture(f"{name}_report")


@pytest.fixture(scope="module")
def bmt():
    return st.read_cohort(EXAMPLES / "bmt" / "study.yml")


@pytest.fixture(scope="module")
def hodg():
    return st.read_cohort(EXAMPLES / "hodg" / "study.yml")


@pytest.fixture(scope="module", params=["bmt", "hodg"])
def example(request, bmt, hodg):
    return {"bmt": bmt, "hodg": hodg}[request.param], fixture(request.param)


# ------------------------------------------------------------------------------------------ against R


def test_times_are_the_fixture_days(example):
    cohort, ref = example
    # bmt asks for 1, 2, 3 years (365.25... days) and its times are whole days: R's 365, 730, 1095 give the same steps
    assert np.array_equal(np.floor(cohort.study.times_days), ref["times"])


def test_estimates_and_counts_equal_r(example):
    cohort, ref = example
    est = sr.estimates(cohort)
    assert sorted(est["endpoint"].unique()) == sorted(ref["endpoints"])
    for name, r in ref["endpoints"].items():
        part = est[est["endpoint"] == name]
        assert part["patients"].iloc[0] == r["patients"]
        assert part["events"].iloc[0] == r["events"]
        assert part["censored"].iloc[0] == r["censored"]
        for column in ("estimate", "std_err", "lower", "upper"):
            np.testing.assert_allclose(
                part[column].to_numpy(float), as_float(r[column]), **TOL, err_msg=f"{name} {column}"
            )


def test_univariate_equals_r(example):
    cohort, ref = example
    uni = sr.univariate(cohort)
    for name, block in ref["univariate"].items():
        part = uni[uni["endpoint"] == name]
        for factor, p in block["p"].items():
            got = part.loc[part["factor"] == factor, "p"].unique()
            assert len(got) == 1
            np.testing.assert_allclose(got[0], p, rtol=1e-7, err_msg=f"{name} {factor}")
        assert len(block["levels"]) == len(part)
        for r in block["levels"]:
            row = part[(part["factor"] == r["factor"]) & (part["level"] == r["level"])].iloc[0]
            assert (row["n"], row["events"]) == (r["n"], r["events"])
            for column in ("estimate", "lower", "upper"):
                got = [row[f"{column}_{k}"] for k in range(len(ref["times"]))]
                np.testing.assert_allclose(
                    got, as_float(r[column]), **TOL, err_msg=f"{name} {r['factor']} {r['level']}"
                )


def test_multivariable_screening_and_models_equal_r(example):
    cohort, ref = example
    checked = 0
    for name, block in ref["multivariable"].items():
        result = sr.multivariable(cohort, name)
        assert result.factors == block["entered"], name
        assert not result.notices
        names = {"cox": sr.MODEL_NAMES["cox"], "fine_gray": sr.MODEL_NAMES["fine_gray"],
                 "cause_specific": sr.MODEL_NAMES["cause_specific"]}  # fmt: skip
        assert sorted(result.models) == sorted(names[m] for m in block["models"])
        for model, r in block["models"].items():
            summary = result.models[names[model]].summary.loc[r["terms"]]
            for ours, theirs in (("coef", "coef"), ("std_err", "se"), ("hr", "hr"), ("hr_lower", "hr_lower"),
                                 ("hr_upper", "hr_upper"), ("p", "p")):  # fmt: skip
                np.testing.assert_allclose(summary[ours].to_numpy(float), r[theirs], rtol=1e-6, atol=1e-9,
                                           err_msg=f"{name} {model} {ours}")  # fmt: skip
                checked += 1
    assert checked > 0


def test_median_followup_equals_r(example):
    cohort, ref = example
    fu = sr.followup(cohort)
    assert (fu["median"], fu["lower"], fu["upper"]) == (
        ref["followup"]["median"], ref["followup"]["lower"], ref["followup"]["upper"],
    )  # fmt: skip


def test_tables_print_the_r_numbers(bmt):
    ref = fixture("bmt")
    table = sr.endpoint_table(bmt, min_cell=1)
    os_ = ref["endpoints"]["os"]
    first = sr.time_labels(bmt)[0]
    cell = table.loc["Overall survival", first]
    expected = f"{100 * os_['estimate'][0]:.1f} ({100 * os_['lower'][0]:.1f}-{100 * os_['upper'][0]:.1f})"
    assert cell == expected
    assert table.loc["Overall survival", "Events"] == os_["events"] == 81
    uni, notices = sr.univariate_table(bmt, "os", min_cell=1)
    assert notices == []
    p = ref["univariate"]["os"]["p"]["disease"]
    assert uni.loc[("Disease group", "ALL"), "p (log-rank)"] == ("<0.001" if p < 0.001 else f"{p:.3f}")
    result = sr.multivariable(bmt, "os")
    model = sr.model_table(result, sr.MODEL_NAMES["cox"])
    r = ref["multivariable"]["os"]["models"]["cox"]
    i = r["terms"].index("fab[yes]")
    assert model.loc[("FAB grade 4 or 5 (AML)", "yes"), "HR (95% CI)"] == (
        f"{r['hr'][i]:.2f} ({r['hr_lower'][i]:.2f}-{r['hr_upper'][i]:.2f})"
    )
    assert model.loc[("FAB grade 4 or 5 (AML)", "no"), "HR (95% CI)"] == "1 (reference)"
    assert list(model.index.get_level_values(1)[:3]) == ["ALL", "AML low risk", "AML high risk"]  # study order


def test_baseline_tables_follow_the_study_file(bmt, hodg):
    ((title, table),) = sr.baseline_tables(bmt, min_cell=1)
    assert title == "Patients, donors and transplants"
    column = table.columns[0]
    assert column == "All patients (n=137)"
    assert table.loc[("Disease group, n (%)", "ALL"), column] == "38 (27.7%)"
    ages = pd.read_csv(EXAMPLES / "bmt" / "bmt.csv")["z1"]
    q1, q3 = ages.quantile([0.25, 0.75])
    assert table.loc[("Patient age (years)", "median (IQR)"), column] == f"{ages.median():.1f} ({q1:.1f}-{q3:.1f})"
    waits = pd.read_csv(EXAMPLES / "bmt" / "bmt.csv")["z7"]
    assert table.loc[("Diagnosis to transplant (days)", "median (range)"), column] == (
        f"{waits.median():.1f} ({waits.min():.1f}-{waits.max():.1f})"
    )
    # with the study's min_cell (5) the range gives way to the IQR (its ends are single patients)
    ((_, masked),) = sr.baseline_tables(bmt)
    assert ("Diagnosis to transplant (days)", "median (IQR)") in masked.index
    ((_, h),) = sr.baseline_tables(hodg)
    assert h.loc[("Graft, n (%)", "autologous"), h.columns[0]] == "27 (62.8%)"


def test_small_counts_are_masked(bmt):
    table, _ = sr.univariate_table(bmt, "agvhd", min_cell=10)
    events = table["Events"]
    assert (events == "<10").any()
    # a masked count never stands alone in its factor: it could be recovered from the total
    for factor in table.index.get_level_values(0).unique():
        hidden = events.loc[factor].isin(["<10", "*"]).sum()
        assert hidden in (0,) or hidden >= 2
    assert sr.privacy_note(bmt, 10) is not None and sr.privacy_note(bmt, 1) is None


def test_a_group_whose_size_is_masked_shows_no_estimate(bmt):
    """A group whose size is masked shows no estimate: "fewer than N patients" for a small one, "its size is masked"
    for one masked beside it (that group is not small: the text must not say it is)."""
    table, _ = sr.univariate_table(bmt, "agvhd", min_cell=40)
    sizes = table["Patients"]
    estimates = [c for c in table.columns if c not in ("Patients", "Events") and not c.startswith("p (")]
    small, beside = sizes.eq("<40"), sizes.eq("*")
    assert small.any() and beside.any()
    assert (table.loc[small, estimates] == "not shown (fewer than 40 patients)").all().all()
    assert (table.loc[beside, estimates] == "not shown (its size is masked)").all().all()


def test_hazard_ratios_of_small_levels_are_withheld(bmt):
    """Privacy rule 7: no HR, interval or p where the level or its reference holds fewer than min_cell patients
    (bmt's LFS model: ALL, the disease reference, has 38 patients; FAB yes 45 against 92; MTX yes 40 against 97)."""
    hr = "HR (95% CI)"
    plain = sr.model_table(sr.multivariable(bmt, "lfs", min_cell=1), sr.MODEL_NAMES["cox"])
    result = sr.multivariable(bmt, "lfs", min_cell=40)
    table = sr.model_table(result, sr.MODEL_NAMES["cox"])
    by_level = {level: row for (_, level), row in table.iterrows()}
    for level in ("AML high risk", "AML low risk"):
        assert plain.xs(level, level=1).iloc[0, 0].count("(") == 1  # an estimate without the rule
        assert (
            by_level[level][hr] == "not shown (the reference has fewer than 40 patients)" and by_level[level]["p"] == ""
        )
    assert by_level["ALL"][hr] == "1 (reference)"
    shown = table[[not t.startswith("not shown") for t in table[hr]]]
    assert len(shown) == len(table) - 2  # FAB and MTX (40 is not fewer than 40) keep theirs
    smaller = sr.model_table(sr.multivariable(bmt, "lfs", min_cell=46), sr.MODEL_NAMES["cox"])
    # AML high risk (45), FAB yes (45), MTX yes (40) are small themselves; AML low risk (54) has the small reference
    assert (smaller[hr] == "not shown (fewer than 46 patients)").sum() == 3
    assert (smaller[hr] == "not shown (the reference has fewer than 46 patients)").sum() == 1
    fig = sr.forest_plot(result, sr.MODEL_NAMES["cox"])
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("not shown (the reference has fewer than 40 patients)") == 2
    assert len([line for ax in fig.axes for line in ax.lines if (line.get_gid() or "").startswith("hr:")]) == 2
    assert sr.multivariable(bmt, "lfs").min_cell == bmt.study.min_cell  # None: the study file's threshold


def test_figures_are_drawn(bmt):
    fig = sr.endpoint_figure(bmt, "os")
    assert isinstance(fig, matplotlib.figure.Figure)
    fig = sr.endpoint_figure(bmt, "relapse", "disease", min_cell=1)
    assert isinstance(fig, matplotlib.figure.Figure)
    result = sr.multivariable(bmt, "relapse")
    assert isinstance(sr.forest_plot(result, sr.MODEL_NAMES["fine_gray"]), matplotlib.figure.Figure)


# ------------------------------------------------------------------------------------------ degenerate cohorts


def write_study(tmp_path: Path, rows: list[dict], factors: str = "", extra: str = "", endpoints: str = "") -> Path:
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    endpoints = endpoints or "  standard: [os, relapse, nrm]\n"
    text = (
        textwrap.dedent(
            """\
        title: A small study
        cohort:
          file: c.csv
          time_unit: days
          time_zero: day of the transplant
          id: id
          followup: fu
          dead: {column: dead, codes: {1: dead, 0: alive}}
          events:
            relapse: {time: rt, column: rel, codes: {1: relapse, 0: none}}
        endpoints:
        """
        )
        + endpoints
        + textwrap.dedent(
            """\
        estimates:
          times: [100, 200]
        """
        )
        + factors
        + extra
    )
    (tmp_path / "study.yml").write_text(text)
    return tmp_path / "study.yml"


FACTORS = """\
risk_factors:
  factors:
    arm:
      column: arm
      label: Arm
      levels: {a: A, b: B}
      reference: A
  multivariable:
    screening_p: 0.5
    forced: [arm]
    models: [fine_gray, cause_specific]
"""


def patients(n=12, dead=None, rel=None, arm=None):
    rows = []
    for i in range(n):
        fu = 30 + 25 * i
        rows.append({
            "id": i + 1, "fu": fu, "dead": (i % 3 == 0) if dead is None else dead(i),
            "rt": fu if rel is None or not rel(i) else fu - 10, "rel": 0 if rel is None else int(rel(i)),
            "arm": ("a" if i % 2 else "b") if arm is None else arm(i),
        })  # fmt: skip
    for r in rows:
        r["dead"] = int(r["dead"])
    return rows


def every_text(cohort, min_cell=None) -> list[str]:
    """Every text the study book's chapters print, from every function of the module."""
    out = [str(sr.about(cohort, min_cell)), str(sr.followup_text(cohort, min_cell))]
    for title, table in sr.baseline_tables(cohort, min_cell):
        out += [title, table.to_html() if isinstance(table, pd.DataFrame) else str(table)]
    t = sr.endpoint_table(cohort, min_cell)
    out.append(t.to_html() if isinstance(t, pd.DataFrame) else str(t))
    out += [str(n) for n in sr.endpoint_notices(cohort)]
    for name in cohort.study.endpoint_names:
        out.append(_text_of(sr.endpoint_figure(cohort, name, min_cell=min_cell)))
    for name in cohort.study.factor_endpoints:
        table, notices = sr.univariate_table(cohort, name, min_cell)
        out += [table.to_html() if isinstance(table, pd.DataFrame) else str(table)] + [str(n) for n in notices]
        for factor in cohort.study.factors:
            out.append(_text_of(sr.endpoint_figure(cohort, name, factor, min_cell)))
        result = sr.multivariable(cohort, name)
        out.append(sr.screening_table(result).to_html())
        out += [str(n) for n in result.notices] + result.notes
        for model in result.models:
            out.append(sr.model_table(result, model).to_html())
            out.append(_text_of(sr.forest_plot(result, model)))
    return out


def _text_of(item) -> str:
    if isinstance(item, matplotlib.figure.Figure):
        return " ".join(t.get_text() for ax in item.axes for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label])
    return str(item)


def notices_of(cohort) -> list[str]:
    text = every_text(cohort, 1)
    return [t for t in text if "is not available" in t]


def test_one_level_of_the_factor(tmp_path):
    cohort = st.read_cohort(write_study(tmp_path, patients(arm=lambda i: "a"), FACTORS))
    cmp = sr.compare(cohort, "os", "arm")
    assert np.isnan(cmp.p) and "only one level is observed (A)" in cmp.note
    table, notices = sr.univariate_table(cohort, "os", 1)
    assert table.loc[("Arm", "B"), "Patients"] == 0 and table.loc[("Arm", "B"), "100 days"] == "no patients"
    texts = [n.sentence for n in notices]
    assert "Arm: B is not available: no patient has this level; it is left out of the comparison." in texts
    assert any("only one level is observed" in t for t in texts)
    fig = sr.endpoint_figure(cohort, "os", "arm", 1)
    assert isinstance(fig, sr.Notice) and "fewer than two levels" in fig.why
    result = sr.multivariable(cohort, "os")
    assert not result.models
    assert any("every entered factor has a single level" in n.why for n in result.notices)


def test_a_figure_by_a_factor_few_patients_lack_is_withheld(tmp_path):
    """Privacy rule 6: with 3 patients whose arm is not recorded, a figure by arm under min_cell 5 would give them
    back (the cohort's 40 less the curves' numbers at risk at time 0, 19 and 18); the univariate table masks an
    arm's size for the same reason. With min_cell 3 the figure is drawn."""
    rows = patients(40, arm=lambda i: "" if i < 3 else ("a" if i % 2 else "b"))
    cohort = st.read_cohort(write_study(tmp_path, rows, FACTORS))
    fig = sr.endpoint_figure(cohort, "os", "arm", 5)
    assert isinstance(fig, sr.Notice) and fig.why.startswith("fewer than 5 patients have no recorded Arm")
    table, _ = sr.univariate_table(cohort, "os", 5)
    assert sorted(table["Patients"], key=str) == ["*", 19]  # 18 masked beside the 3, which 40 - 19 - 18 gives
    assert isinstance(sr.endpoint_figure(cohort, "os", "arm", 3), matplotlib.figure.Figure)
    assert isinstance(sr.endpoint_figure(cohort, "os", "arm", 1), matplotlib.figure.Figure)


@pytest.mark.parametrize("key", ["time", "status"])
def test_a_factor_may_be_called_time_or_status(tmp_path, key):
    """A factor's key is the user's word: "time" or "status" validated and then broke the models (their columns
    shared the model's table with the factor's)."""
    factors = FACTORS.replace("    arm:\n", f"    {key}:\n").replace("forced: [arm]", f"forced: [{key}]")
    cohort = st.read_cohort(write_study(tmp_path, patients(40), factors))
    result = sr.multivariable(cohort, "os", min_cell=1)
    assert result.models and not result.notices and result.factors == [key] and result.n == 40
    assert sr.model_table(result, next(iter(result.models))).index.get_level_values(1).tolist() == ["A", "B"]


def test_a_p_across_a_small_group_is_withheld(tmp_path):
    """Privacy rule 7 (9 on the own-data page): the log-rank p of an arm of 3 patients against 37 tells whether the 3
    died, as their hazard ratio would; under min_cell 5 it is not shown, without it it is."""
    cohort = st.read_cohort(write_study(tmp_path, patients(40, arm=lambda i: "a" if i < 3 else "b"), FACTORS))
    column = "p (log-rank)"
    assert sr.univariate_table(cohort, "os", 5)[0][column].iloc[0] == "not shown (a group has fewer than 5 patients)"
    shown = sr.univariate_table(cohort, "os", 1)[0][column].iloc[0]
    assert shown != "" and not shown.startswith("not shown")


def test_no_events_of_the_endpoint(tmp_path):
    cohort = st.read_cohort(write_study(tmp_path, patients(), FACTORS))  # nobody relapses
    assert sr.estimates(cohort).query("endpoint == 'relapse'")["estimate"].tolist() == [0.0, 0.0]
    whys = [n.why for n in sr.endpoint_notices(cohort)]
    assert "no patient had the event (relapse), so the estimate stays at 0% and has no spread" in whys
    cmp = sr.compare(cohort, "relapse", "arm")
    assert np.isnan(cmp.p) and "had the event (relapse)" in cmp.note
    result = sr.multivariable(cohort, "relapse")
    assert not result.models and result.notices and "had the event (relapse)" in result.notices[0].why
    assert isinstance(sr.endpoint_figure(cohort, "relapse"), matplotlib.figure.Figure)  # a flat curve at 0%


def test_no_deaths(tmp_path):
    rel = lambda i: i % 2 == 0  # noqa: E731
    cohort = st.read_cohort(write_study(tmp_path, patients(dead=lambda i: False, rel=rel), FACTORS))
    whys = [n.why for n in sr.endpoint_notices(cohort)]
    assert "no patient had the event (death), so the estimate stays at 100% and has no spread" in whys
    assert (
        "no patient had the event (death without relapse (NRM)), so the estimate stays at 0% and has no spread" in whys
    )
    result = sr.multivariable(cohort, "os")
    assert not result.models and "had the event (death)" in result.notices[0].why
    # relapse happens only in arm B: the Fine-Gray model flags separation instead of an absurd HR
    rel_result = sr.multivariable(cohort, "relapse")
    assert not rel_result.models
    assert all("no hazard ratio is estimable" in n.why or "could not be fitted" in n.why for n in rel_result.notices)
    fu = sr.followup_text(cohort)
    assert isinstance(fu, sr.Text) and "Median follow-up" in str(fu)


def test_all_censored_and_all_dead(tmp_path):
    everyone = st.read_cohort(write_study(tmp_path, patients(dead=lambda i: True), FACTORS))
    fu = sr.followup(everyone)
    assert isinstance(fu, sr.Notice) and "every patient had the event of overall survival" in fu.why
    whys = [n.why for n in sr.endpoint_notices(everyone)]
    assert "every patient had an event; the estimates are the plain proportions of patients" in whys
    assert sr.estimates(everyone).query("endpoint == 'os'")["estimate"].iloc[0] == pytest.approx(9 / 12)


def test_one_group_study_without_factors(tmp_path):
    cohort = st.read_cohort(write_study(tmp_path, patients()))
    table, notices = sr.univariate_table(cohort, "os")
    assert isinstance(table, sr.Notice) and table.why == "the study file declares no risk factor"
    result = sr.multivariable(cohort, "os")
    assert (
        result.notices[0].why == "the study file does not request one (its risk factors have no multivariable section)"
    )
    assert "none declared" in str(sr.about(cohort))


def test_no_factor_passes_the_screening(tmp_path):
    factors = FACTORS.replace("screening_p: 0.5", "screening_p: 0.0001").replace("    forced: [arm]\n", "")
    cohort = st.read_cohort(write_study(tmp_path, patients(), factors))
    result = sr.multivariable(cohort, "os")
    assert result.notices[0].why == "no factor reached p <= 0.0001 in the screening and none is forced"


def test_a_study_without_vital_status_and_survival_endpoint(tmp_path):
    rows = [{"id": i, "t": 10 * (i + 1), "ev": i % 3, "g": "x" if i % 2 else "y"} for i in range(9)]
    pd.DataFrame(rows).to_csv(tmp_path / "c.csv", index=False)
    (tmp_path / "study.yml").write_text(textwrap.dedent("""\
        title: Only a competing endpoint
        cohort: {file: c.csv, time_unit: days, time_zero: day 0, id: id}
        endpoints:
          custom:
            thing:
              label: The thing
              time: t
              event: {column: ev, codes: [1]}
              competing:
                - {label: the other thing, column: ev, codes: [2]}
        """))  # fmt: skip
    cohort = st.read_cohort(tmp_path / "study.yml")
    fu = sr.followup(cohort)
    assert isinstance(fu, sr.Notice) and "neither vital status" in fu.why
    assert "the other thing" in str(sr.about(cohort))
    assert isinstance(sr.endpoint_table(cohort), pd.DataFrame)
    # a custom endpoint is named by its label on the axis and by its codes and column in prose, not "ev = 1"
    assert "cumulative incidence of 1 in column ev" in str(sr.about(cohort)) and "ev = 1" not in str(sr.about(cohort))
    ylabel = sr.endpoint_figure(cohort, "thing").axes[0].get_ylabel()
    assert ylabel == "Cumulative incidence of the thing (%)"


def test_user_text_is_escaped(tmp_path):
    factors = FACTORS.replace("label: Arm", "label: '<b>Arm</b> & $x$'")
    path = write_study(tmp_path, patients(rel=lambda i: i % 4 == 1), factors)
    text = path.read_text().replace("title: A small study", "title: '<script>alert(1)</script>'")
    path.write_text(text)
    cohort = st.read_cohort(path)
    about = str(sr.about(cohort))
    assert "<script>" not in about and r"\<script\>" in about
    table, _ = sr.univariate_table(cohort, "os", 1)
    html = table.to_html()
    assert "<b>Arm</b>" not in html and "&lt;b&gt;Arm&lt;/b&gt;" in html
    fig = sr.endpoint_figure(cohort, "os", "arm", 1)
    assert isinstance(fig, matplotlib.figure.Figure)


@pytest.mark.slow  # runs the whole pipeline several times (seconds each)
@pytest.mark.parametrize("study", ["bmt", "hodg", "alloauto"])
def test_no_paper_or_synthetic_wording(study, tmp_path):
    cohort = st.read_cohort(EXAMPLES / study / "study.yml")
    for min_cell in (None, 1):
        for text in every_text(cohort, min_cell):
            assert not re.search(r"synthetic|paper|Cao|published", text, re.I), text[:200]


def test_degenerate_outputs_have_no_paper_wording_either(tmp_path):
    cohort = st.read_cohort(write_study(tmp_path, patients(arm=lambda i: "a"), FACTORS))
    texts = every_text(cohort, 1)
    assert any("is not available" in t for t in texts)
    for text in texts:
        assert not re.search(r"synthetic|paper", text, re.I), text[:200]


def test_a_cohort_smaller_than_min_cell_shows_no_estimate(tmp_path):
    """Rule 7 on the endpoint table: 3 patients under min_cell 5 read "<5", and their survival would say how many
    died: every estimate reads "not shown"."""
    cohort = st.read_cohort(write_study(tmp_path, patients(n=3)))
    plain, masked = sr.endpoint_table(cohort, 1), sr.endpoint_table(cohort, 5)
    times = [c for c in masked.columns if c.endswith(" days")]
    assert len(times) == 2 and (masked["Patients"] == "<5").all()
    assert (masked[times] == "not shown (fewer than 5 patients)").all().all()
    assert not plain[times].isin(["not shown (fewer than 5 patients)"]).any().any()


def test_unrecorded_factor_values_cannot_be_recovered_from_the_univariate_table_or_a_model(tmp_path):
    """2 of 30 patients have no arm: the baseline table shows them as "<5", and the cohort's patients and events
    are shown too, so neither the levels' sizes nor the model's n (nor their events) may add up to the rest."""
    rows = patients(n=30)
    for row in rows[:2]:
        row["arm"] = ""
    cohort = st.read_cohort(write_study(tmp_path, rows, FACTORS))
    plain, _ = sr.univariate_table(cohort, "os", 1)
    assert plain["Patients"].tolist() == [14, 14] and plain["Events"].tolist() == [5, 4]  # 28 of 30: 2 unrecorded
    table, _ = sr.univariate_table(cohort, "os", 5)
    for column in ("Patients", "Events"):
        assert sum(isinstance(v, str) for v in table[column]) >= 1, column  # no column adds up to the rest
    result = sr.multivariable(cohort, "os", 5)
    assert (result.n, result.events) == (28, 9)
    assert sr.model_counts(cohort, result, 5) == ("*", "*")
    assert sr.model_counts(cohort, result, 1) == (28, 9)


def test_model_counts_mask_what_subtraction_would_reveal():
    from hsct_analysis.book import privacy

    assert privacy.model_counts(85, 42, 95, 45, 5) == (85, "*")  # 45 - 42 = 3 events left out
    assert privacy.model_counts(85, 42, 95, 50, 5) == (85, 42)
    assert privacy.model_counts(92, 42, 95, 50, 5) == ("*", 42)  # 3 patients left out
    assert privacy.model_counts(85, 83, 95, 90, 5) == (85, "*")  # 2 without the event
    assert privacy.model_counts(85, 3, 95, 3, 5) == (85, "<5")
    assert privacy.model_counts(85, 3, 95, 3, None) == (85, 3)
