"""Table 3 (univariate) and Table 4 (multivariable) logic, without building a book.

Each number the chapter code produces is checked against the statistics layer called directly on the
subgroup (itself checked against R), and the edge cases are checked by their stated behaviour."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from hsct_analysis.book import multivariate, univariate
from hsct_analysis.cohort import load_cohort, plain_numbers
from hsct_analysis.cohort.factors import factor
from hsct_analysis.stats import competing, survival

COHORT = Path(__file__).resolve().parents[1] / "data" / "cohort.csv"
THREE_YEARS = 1095.75


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return plain_numbers(load_cohort(COHORT))


@pytest.fixture(scope="module")
def table(cohort) -> pd.DataFrame:
    return univariate.table3(cohort, factors=["cart_interval_90", "atg_type"])


@pytest.mark.parametrize("name", ["cart_interval_90", "atg_type"])
def test_table3_estimates_equal_the_curves_of_each_subgroup(cohort, table, name):
    levels = factor(cohort, name)
    for level in levels.dropna().unique():
        sub = cohort[levels == level]
        rows = table[(table["factor"] == name) & (table["level"] == level)].set_index("endpoint")
        assert rows.loc["os", "n"] == len(sub)
        km = survival.value_at(survival.kaplan_meier(sub["os_time"], sub["os_event"], conf_type="arcsine"), THREE_YEARS)
        assert rows.loc["os", "estimate"] == pytest.approx(100 * km["estimate"], abs=1e-12)
        assert rows.loc["os", "lower"] == pytest.approx(100 * km["lower"], abs=1e-12)
        cif = survival.value_at(
            competing.cumulative_incidence(sub["relapse_nrm_time"], sub["relapse_nrm_status"], cause=2), THREE_YEARS
        )
        assert rows.loc["nrm", "estimate"] == pytest.approx(100 * cif["estimate"], abs=1e-12)
        assert rows.loc["nrm", "upper"] == pytest.approx(100 * cif["upper"], abs=1e-12)


def test_table3_p_values_are_the_log_rank_and_gray_tests(cohort, table):
    groups = factor(cohort, "cart_interval_90")
    keep = groups.notna()
    data, g = cohort[keep], groups[keep].astype(str)
    lr = survival.logrank(data["lfs_time"], data["lfs_event"], g)
    gray = competing.gray_test(data["relapse_nrm_time"], data["relapse_nrm_status"], g, cause=1)
    rows = table[table["factor"] == "cart_interval_90"].set_index("endpoint")
    assert rows.loc["lfs", "p"].iloc[0] == pytest.approx(lr.p_value, rel=1e-12)
    assert rows.loc["relapse", "p"].iloc[0] == pytest.approx(gray.p_value, rel=1e-12)
    assert set(rows.loc["lfs", "test"]) == {"Log-rank"} and set(rows.loc["relapse", "test"]) == {"Gray's test"}


def test_a_factor_with_one_observed_level_has_no_p_and_says_why(cohort):
    one = cohort.assign(days_cart_to_second_hsct=30)  # everybody within 90 days
    out = univariate.table3(one, factors=["cart_interval_90"])
    assert out["p"].isna().all()
    assert out["note"].str.startswith("only one level observed").all()
    assert set(out["n"]) == {len(one)}


def test_paper_layout_puts_the_p_value_on_the_first_level_and_masks_small_groups(table):
    wide = univariate.paper_layout(table, min_cell=20)
    atg = wide.xs(wide.index.get_level_values(0)[wide.index.get_level_values(1) == "ATG-F"][0], level=0)
    p_column = next(c for c in wide.columns if c.startswith("p (LFS"))
    assert atg[p_column].iloc[0] != "" and (atg[p_column].iloc[1:] == "").all()
    shown = wide["n"].astype(str)
    assert all(s.startswith("<") or s == "*" or int(s) >= 20 for s in shown)


def test_paper_layout_hides_a_small_groups_size_and_estimates(table):
    """With min_cell, a factor's group sizes are one line whose total is known: a small size is masked together with
    another one, so that the total less the sizes shown does not give it back; and a group whose size is masked shows
    no estimate (a survival of 3 patients tells how many died)."""
    wide = univariate.paper_layout(table, min_cell=20)
    plain = univariate.paper_layout(table)
    estimates = [c for c in wide.columns if c.endswith("(95% CI)")]
    masked = wide["n"].map(lambda n: isinstance(n, str))
    assert masked.any()
    for heading in wide.index.get_level_values(0).unique():
        sizes = wide.loc[heading, "n"]
        assert sum(isinstance(n, str) for n in sizes) != 1  # never one masked size alone in its line
    small = wide["n"].map(lambda n: isinstance(n, str) and n.startswith("<"))
    assert small.any() and (small != masked).any()  # some small groups, and some masked beside them
    assert (wide.loc[small, estimates] == "not shown (fewer than 20 patients)").all().all()
    assert (wide.loc[masked & ~small, estimates] == "not shown (its size is masked)").all().all()
    assert (wide.loc[~masked, estimates] == plain.loc[~masked, estimates]).all().all()
    assert (plain["n"].map(lambda n: isinstance(n, str))).sum() == 0


def test_screening_selects_exactly_the_factors_at_or_below_the_threshold(cohort):
    screened = multivariate.screen(cohort, "lfs", threshold=0.15)
    for name, row in screened.iterrows():
        p, _ = univariate.comparison_p(cohort, "lfs", name)
        assert (np.isnan(p) and np.isnan(row["p"])) or row["p"] == pytest.approx(p, rel=1e-12)
        assert row["selected"] == bool(np.isfinite(p) and p <= 0.15)


def test_cox_model_of_table4_equals_an_independent_lifelines_fit(cohort):
    model = multivariate.fit_endpoint(cohort, "lfs", ["cart_interval_90"])
    assert model.method.startswith("Cox") and model.unavailable == ""
    frame = multivariate.model_frame(cohort, "lfs", ["cart_interval_90"]).dropna()
    data = pd.DataFrame(
        {
            "time": frame["time"],
            "event": (frame["status"] == 1).astype(int),
            "late": (frame["cart_interval_90"] == ">90").astype(int),
        }
    )
    ref = CoxPHFitter().fit(data, "time", "event")
    term = next(t for t in model.summary.index if t.startswith("cart_interval_90"))
    assert model.summary.loc[term, "hr"] == pytest.approx(float(np.exp(ref.params_["late"])), rel=1e-5)
    assert model.n == len(data) and model.events == int(data["event"].sum())


def test_competing_endpoint_gets_fine_gray_and_cause_specific_models(cohort):
    model = multivariate.fit_endpoint(cohort, "nrm", ["cart_interval_90"])
    assert model.method.startswith("Fine-Gray")
    assert model.summary is not None and model.cause_specific is not None and model.ph is not None
    assert model.events == int((cohort["relapse_nrm_status"] == 2).sum())


def test_no_factor_passing_screening_is_said_plainly(cohort):
    model = multivariate.fit_endpoint(cohort, "os", threshold=1e-12)
    assert model.summary is None and "no factor reached p <=" in model.unavailable


def test_event_counts_add_up_per_level(cohort):
    counts = multivariate.event_counts(cohort, "relapse", "atg_type")
    assert (counts["patients"] == counts["events"] + counts["competing"] + counts["censored"]).all()
    known = factor(cohort, "atg_type").notna()
    assert counts["events"].sum() == int((cohort.loc[known, "relapse_nrm_status"] == 1).sum())


def test_censoring_the_reference_levels_events_produces_flagged_separation(cohort):
    counts = multivariate.event_counts(cohort, "relapse", "atg_type")
    reference = counts.index[0]
    refit = multivariate.refit_without_events(cohort, "relapse", "atg_type", reference)
    assert refit.attrs["recoded"] == int(counts.loc[reference, "events"])
    assert refit["separation"].all()
    text = multivariate.describe_hrs(refit)
    assert text.count("not estimable (separation)") == len(refit)


def test_table4_withholds_the_hazard_ratios_of_small_levels(cohort):
    """Privacy rule 7 on the paper layout: > 90 days (11 patients) and ATG-P (7) show no HR, interval or p at
    min_cell 12; every other term is as without the rule; the forest plots and the separation text follow."""
    models = multivariate.table4(cohort)
    assert models["lfs"].sizes["cart_interval_90[>90]"] == (11, 84) and models["lfs"].sizes["atg_type[ATG-P]"][0] == 7
    plain, masked = multivariate.layout(models), multivariate.layout(models, min_cell=12)
    small = [key for key in masked.index if key[1] in ("> 90", "ATG-P")]
    assert len(small) == 2
    for column in masked.columns:
        for key in masked.index:
            if key in small and masked.loc[key, column] != "" and not column.startswith("p ("):
                assert masked.loc[key, column] == "not shown (fewer than 12 patients)", (key, column)
            elif key in small:
                assert masked.loc[key, column] == "", (key, column)  # no p
            else:
                assert masked.loc[key, column] == plain.loc[key, column], (key, column)
    assert (masked == "not shown (fewer than 12 patients)").sum().sum() == 5  # LFS, OS, NRM > 90; LFS, RI ATG-P
    fig = multivariate.forest(models["lfs"], "cox", 12)
    drawn = {line.get_gid() for ax in fig.axes for line in ax.lines if line.get_gid()}
    withheld = [t for ax in fig.axes for t in ax.texts if (t.get_gid() or "").startswith("withheld:")]
    assert len(withheld) == 2 and len([g for g in drawn if g.startswith("hr:")]) == 2  # CAR-T source, ATG-T
    found = multivariate.separation_example(cohort, "relapse", "atg_type", min_cell=12)
    assert "ATG-P vs ATG-F: not shown (fewer than 12 patients)" in found["atg_fg_text"]
    assert "ATG-P vs ATG-F: not shown" in found["atg_whatif_text"]
    assert (
        "ATG-P vs ATG-F: 13.05 (2.42-70.42)"
        in multivariate.separation_example(cohort, "relapse", "atg_type")["atg_fg_text"]
    )


def test_the_proportional_hazards_checks_of_withheld_terms_are_withheld_too(cohort):
    models = multivariate.table4(cohort)
    plain, plain_min = multivariate.ph_table(models)
    masked, masked_min = multivariate.ph_table(models, 12)
    small = masked["Term"].str.contains("ATG-P|> 90")
    assert small.sum() == 5 and (masked.loc[small, "p"] == "").all()
    assert (masked.loc[small, "Test statistic"] == "not shown (fewer than 12 patients)").all()
    assert masked.loc[~small].equals(plain.loc[~small])
    assert "ATG-P" not in masked_min and "> 90" not in masked_min
    # where a withheld term has the smallest p of all, the text names the smallest p shown instead
    models["lfs"].ph.loc["atg_type[ATG-P]", "p"] = 1e-4
    plain, plain_min = multivariate.ph_table(models)
    masked, masked_min = multivariate.ph_table(models, 12)
    assert "ATG-P" in plain_min
    assert "ATG-P" not in masked_min and "> 90" not in masked_min and masked_min


def test_complete_cases_say_how_many_patients_each_model_uses(cohort):
    """LFS's and RI's models enter CAR-T source, unknown for 10 patients: 85 of 95, masked under min_cell 12
    (95 - 85 = 10)."""
    models = multivariate.table4(cohort)
    assert int((cohort["cart_source"] == "unknown").sum()) == 10 and models["lfs"].n == 85
    assert multivariate.complete_cases(models) == "LFS 85 of 95; OS 95 of 95; RI 85 of 95; NRM 95 of 95"
    assert multivariate.complete_cases(models, 12).startswith("LFS * of 95; OS 95 of 95")


def test_table3_sizes_count_the_patients_without_a_level(cohort):
    """CAR-T source is unknown for 10 patients (Table 1 shows them, masked under min_cell 12): autologous 57 and
    allogeneic 28 beside a cohort of 95 would give them back, so one of the two sizes is masked too."""
    table = univariate.table3(cohort, factors=["cart_source", "sex"])
    assert table.attrs["unrecorded"] == {"cart_source": 10, "sex": 0}
    plain = univariate.paper_layout(table)["n"]
    masked = univariate.paper_layout(table, min_cell=12)["n"]
    source = [masked[k] for k in masked.index if k[0] == "CAR-T cell source"]
    assert sorted(plain[k] for k in plain.index if k[0] == "CAR-T cell source") == [28, 57]
    assert "*" in source and sum(isinstance(v, str) for v in source) == 1
    assert [masked[k] for k in masked.index if k[0] == "Patient sex"] == [56, 39]  # nothing to protect there


def test_table3_withholds_the_p_across_a_small_group(cohort):
    """Rule 7 in Table 3: > 90 days holds 11 patients, so at min_cell 12 the 90-day p-values (and the paper's beside
    them, whose mark would tell) are not shown; the 60-day cut's groups (38, 57) keep theirs."""
    table = univariate.table3(cohort)
    layout = univariate.paper_layout(table, min_cell=12)
    p_columns = [c for c in layout.columns if c.startswith("p (")]
    ninety = layout.xs("CAR-T to second HSCT (days), ≤ 90 vs > 90", level=0)
    assert (ninety[p_columns].iloc[0] == "not shown (a group has fewer than 12 patients)").all()
    sixty = layout.xs("CAR-T to second HSCT (days), ≤ 60 vs > 60", level=0)
    assert not sixty[p_columns].iloc[0].str.startswith("not shown").any()
