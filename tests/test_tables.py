"""Publication tables: every assertion is a number or a printed string worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from hsct_analysis.book import tables

# --- formatters ----------------------------------------------------------------------


def test_format_p_examples():
    assert tables.format_p(0.0004) == "<0.001"
    assert tables.format_p(0.003) == "0.003"
    assert tables.format_p(0.03) == "0.030"
    assert tables.format_p(0.001) == "0.001"
    assert tables.format_p(0.99991) == ">0.999"
    assert tables.format_p(float("nan")) == "NA"
    assert tables.format_p_statement(0.0004) == "p < 0.001"
    assert tables.format_p_statement(0.0123) == "p = 0.012"
    with pytest.raises(ValueError):
        tables.format_p(1.2)


def test_format_estimate_in_percent():
    assert tables.format_estimate(0.539, 0.418, 0.658) == "53.9 (41.8-65.8)"
    assert tables.format_estimate(0.5, 0.25, 0.75, digits=0) == "50 (25-75)"
    assert tables.format_estimate(1.0, float("nan"), float("nan")) == "100.0"
    assert tables.format_estimate(None, 0.1, 0.2) == "NA"


def test_format_hr_and_separation():
    assert tables.format_hr(4.10, 1.64, 10.24) == "4.10 (1.64-10.24)"
    assert tables.format_hr(0.4, 0.19, 0.85) == "0.40 (0.19-0.85)"
    assert tables.format_hr(math.exp(25), 0.0, math.inf) == "not estimable"
    assert tables.format_hr(math.inf, float("nan"), float("nan")) == "not estimable"
    assert tables.format_hr(2e-5, 1e-9, 1.0) == "not estimable"
    assert tables.is_separated(150.0, 2.0, 11000.0) is False  # wide but finite: still a number
    assert tables.is_separated(5.0, 1e-4, 1e4) is True  # CI spans 8 orders of magnitude


def test_n_percent_and_median_range():
    assert tables.format_n_percent(3, 5) == "3 (60.0%)"
    assert tables.format_n_percent(56, 95) == "56 (58.9%)"
    assert tables.format_median_range([2.7, 21.2, 51.7, np.nan]) == "21.2 (2.7-51.7)"
    assert tables.format_median_range([8, 14, 26, 15], digits=0) == "14 (8-26)"


# --- min-cell masking ----------------------------------------------------------------


def test_min_cell_mask_scalar_series_frame():
    assert tables.min_cell_mask(2, 5) == "<5"
    assert tables.min_cell_mask(5, 5) == 5
    s = tables.min_cell_mask(pd.Series([0, 2, 7, np.nan]), 5)
    assert s.tolist()[:3] == [0, "<5", 7] and pd.isna(s.iloc[3])  # a zero is shown as 0 (privacy rule 2)
    frame = pd.DataFrame({"a": [1, 10], "b": [4, 5]})
    masked = tables.min_cell_mask(frame, 5)
    assert masked.to_dict("list") == {"a": ["<5", 10], "b": ["<5", 5]}
    assert frame.loc[0, "a"] == 1  # input untouched
    assert tables.min_cell_mask(frame, 1).equals(frame)


# --- characteristics -----------------------------------------------------------------


@pytest.fixture
def five_patients():
    return pd.DataFrame(
        {
            "sex": ["male", "male", "male", "female", "female"],
            "age": [2.7, 10.0, 21.2, 30.0, 51.7],
            "crs_grade": [0.0, 1.0, 1.0, np.nan, 2.0],
        }
    )


def test_characteristics_counts_levels_and_index(five_patients):
    rows = [
        tables.categorical("sex", "Sex", ["male", "female"], {"male": "Male", "female": "Female"}),
        tables.continuous("age", "Age at second HSCT", "years"),
        tables.categorical("crs_grade", "CRS grade", [0, 1, 2, 3, 4]),
    ]
    table = tables.characteristics(five_patients, rows)
    assert list(table.columns) == ["Synthetic cohort (n=5)"]
    col = table["Synthetic cohort (n=5)"]
    assert table.index.nlevels == 2
    assert col[("Sex, n (%)", "Male")] == "3 (60.0%)"
    assert col[("Sex, n (%)", "Female")] == "2 (40.0%)"
    assert col[("Age at second HSCT (years)", "median (range)")] == "21.2 (2.7-51.7)"
    # grades 3 and 4 have no patient but still get a row; the missing grade is reported
    assert col[("CRS grade, n (%)", "1")] == "2 (40.0%)"
    assert col[("CRS grade, n (%)", "3")] == "0 (0.0%)"
    assert col[("CRS grade, n (%)", "4")] == "0 (0.0%)"
    assert col[("CRS grade, n (%)", "Not recorded")] == "1 (20.0%)"
    levels = [lv for var, lv in table.index if var == "CRS grade, n (%)"]
    assert levels == ["0", "1", "2", "3", "4", "Not recorded"]


def test_characteristics_min_cell_and_unexpected_level(five_patients):
    rows = [{"column": "sex", "label": "Sex", "levels": ["male", "female"]}]
    table = tables.characteristics(five_patients, rows, min_cell=3)
    assert table.iloc[:, 0].tolist() == ["*", "<3"]  # 3 = 5 - 2 would reveal the 2: complementary
    with pytest.raises(ValueError, match="female"):
        tables.characteristics(five_patients, [tables.categorical("sex", "Sex", ["male"])])


def test_median_iqr_replaces_the_range_with_min_cell():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 100, np.nan]  # quartiles (type 7): 3.0 and 7.0
    assert tables.format_median_iqr(values) == "5.0 (3.0-7.0)"
    assert tables.format_median_spread(values, 0) == "5 (1-100)"  # no min_cell: the range
    assert tables.format_median_spread(values, 0, min_cell=5) == "5 (3-7)"  # 100 (one patient) is gone
    assert tables.format_median_spread([10, 20, np.nan], 0, min_cell=5) == "fewer than 5 patients"
    assert tables.spread_label(None) == "median (range)" and tables.spread_label(5) == "median (IQR)"
    assert tables.iqr_note(None) == "" and "median (IQR)" in tables.iqr_note(5) and '"<5"' in tables.iqr_note(5)
    assert 'a "*" hides a larger count' in tables.iqr_note(5)  # the complementary mask is explained where it shows
    assert "(`--min-cell 5`)" in tables.iqr_note(5)  # code, not typography: "--" stays two hyphens


def test_characteristics_min_cell_shows_median_iqr(five_patients):
    rows = [tables.continuous("age", "Age at second HSCT", "years")]
    table = tables.characteristics(five_patients, rows, min_cell=3)
    # ages 2.7, 10.0, 21.2, 30.0, 51.7: quartiles 10.0 and 30.0; neither extreme patient is printed
    assert table.index.tolist() == [("Age at second HSCT (years)", "median (IQR)")]
    assert table.iloc[0, 0] == "21.2 (10.0-30.0)"
    assert "2.7" not in table.iloc[0, 0] and "51.7" not in table.iloc[0, 0]


def test_curve_at_times_reads_round_time_points_not_event_rows():
    from hsct_analysis.stats import survival

    # events at 30, 60, 200, 400, 1200 days; censored at 60, 400, 800 (eight patients)
    curve = survival.kaplan_meier([30, 60, 60, 200, 400, 400, 800, 1200], [1, 0, 1, 1, 0, 1, 0, 1])
    table = tables.curve_at_times(curve, months=(0, 6, 12, 24, 36))
    assert table.index.tolist() == [0, 6, 12, 24, 36]
    assert table["day"].tolist() == [0, 183, 365, 730, 1096]
    assert table["at risk after"].tolist() == [8, 5, 4, 2, 1]
    assert table["events so far"].tolist() == [0, 2, 3, 4, 4]
    # S(182.6) = 7/8 * 6/7 = 0.75; S(365.25) = 0.75 * 4/5 = 0.6 (day 200: 5 at risk); S(730.5) = 0.6 * 3/4
    assert table["estimate %"].tolist() == [100.0, 75.0, 60.0, 45.0, 45.0]
    masked = tables.curve_at_times(curve, months=(0, 6, 12, 24, 36), min_cell=5)
    assert masked["at risk after"].tolist() == [8, "*", "<5", "<5", "<5"]  # 8 -> 5 is a step of 3
    assert masked["events so far"].tolist() == [0] + ["<5"] * 4  # a zero is shown (privacy rule 2)
    assert masked["estimate %"].tolist() == table["estimate %"].tolist()  # estimates are not counts


def test_at_risk_after_counts_who_is_still_followed_just_after_a_day():
    from hsct_analysis.stats import competing, survival

    # times 30 (event), 60 (event, censored), 200 (event), 400 (event, censored), 800 (censored), 1200 (event)
    km = survival.kaplan_meier([30, 60, 60, 200, 400, 400, 800, 1200], [1, 0, 1, 1, 0, 1, 0, 1])
    cif = competing.cumulative_incidence([30, 60, 60, 200, 400, 400, 800, 1200], [1, 0, 2, 1, 0, 2, 0, 1])
    for curve in (km, cif):
        # before the first time everyone; on a time those leaving then are gone; between times the next at_risk
        days = (0, 29.9, 30, 59, 60, 100, 400, 1199, 1200, 5000)
        assert [tables.at_risk_after(curve, d) for d in days] == [8, 8, 7, 7, 5, 5, 2, 1, 0, 0]
    # a curve without the leaving counts reads the next time's at_risk; past its last time, 0
    bare = km[["at_risk", "estimate"]]
    assert [tables.at_risk_after(bare, d) for d in (0, 30, 100, 1200)] == [8, 7, 5, 0]
    assert tables.at_risk_after(km.iloc[:0], 10) == 0  # an empty curve
    with pytest.raises(ValueError, match="NaN"):
        tables.at_risk_after(km, float("nan"))


# --- regression table ----------------------------------------------------------------


def _summary():
    return pd.DataFrame(
        {
            "hr": [4.10, 2.83, 1e12],
            "hr_lower": [1.64, 1.37, 0.0],
            "hr_upper": [10.24, 5.85, math.inf],
            "p": [0.003, 0.005, 0.99],
        },
        index=["cart_interval_90[>90]", "atg_type[ATG-T]", "atg_type[ATG-P]"],
    )


def test_regression_table_reference_rows_and_columns():
    table = tables.regression_table(_summary())
    assert list(table.columns) == ["HR (95% CI)", "p"]
    hr = table["HR (95% CI)"]
    assert hr[("CAR-T to second HSCT (days)", "≤ 90")] == "1 (reference)"
    assert hr[("CAR-T to second HSCT (days)", "> 90")] == "4.10 (1.64-10.24)"
    assert table["p"][("CAR-T to second HSCT (days)", "> 90")] == "0.003"
    assert table["p"][("CAR-T to second HSCT (days)", "≤ 90")] == ""
    # ATG: reference first, then levels in the factor's order; separation never a number
    atg = [lv for var, lv in table.index if var == "Type of ATG"]
    assert atg == ["ATG-F", "ATG-T", "ATG-P"]
    assert hr[("Type of ATG", "ATG-P")] == "not estimable (separation)"
    assert table["p"][("Type of ATG", "ATG-P")] == "—"
    assert len(table) == 5


def test_regression_rows_use_model_reference_and_flag():
    summary = pd.DataFrame(
        {
            "hr": [2.0, np.inf],
            "hr_lower": [1.0, np.nan],
            "hr_upper": [4.0, np.nan],
            "p": [0.05, np.nan],
            "reference": ["low", "no"],
            "separation": [False, True],
        },
        index=["dose[high]", "smoker[yes]"],
    )
    rows = tables.regression_rows(summary, labels={"dose": "Dose"})
    assert rows["level"].tolist() == ["low", "high", "no", "yes"]
    assert rows["reference"].tolist() == [True, False, True, False]
    assert rows["separated"].tolist() == [False, False, False, True]
    assert rows["label"].tolist()[:2] == ["Dose", "Dose"]
    assert rows.loc[1, "hr"] == 2.0


def test_split_covariate_forms():
    known = ["cart_interval_90", "atg_type"]
    assert tables._split_covariate("atg_type[T.ATG-T]", known) == ("atg_type", "ATG-T")
    assert tables._split_covariate("cart_interval_90_<=90", known) == ("cart_interval_90", "<=90")
    assert tables._split_covariate("sex=female", known) == ("sex", "female")
    assert tables._split_covariate("age", known) == ("age", "")


# --- paper vs reproduced -------------------------------------------------------------


def test_side_by_side_marks_misses_with_size():
    rows = [
        dict(label="3-year OS", published=53.9, reproduced=56.1, tolerance=1.0, unit="%", note="synthetic noise"),
        dict(label="Median neutrophil engraftment", published=14, reproduced=14, tolerance=1, unit="days", digits=0),
        dict(label="HR >90 days (LFS)", published=4.10, reproduced=3.95, tolerance=0.5, digits=2),
    ]
    table = tables.side_by_side(rows)
    assert list(table.columns) == ["Paper", "Reproduced (synthetic)", "Difference", "Within tolerance", "Note"]
    os_row = table.loc["3-year OS"]
    assert os_row["Paper"] == "53.9%"
    assert os_row["Reproduced (synthetic)"] == "56.1%"
    assert os_row["Difference"] == "+2.2 pp"
    assert os_row["Within tolerance"] == "✗ outside ±1.0 pp"
    assert table.loc["Median neutrophil engraftment", "Within tolerance"] == "✓ within ±1 days"
    assert table.loc["HR >90 days (LFS)", "Difference"] == "-0.15"
    assert table.loc["HR >90 days (LFS)", "Within tolerance"] == "✓ within ±0.50"


def test_side_by_side_respects_given_verdict_and_styles_misses():
    frame = pd.DataFrame(
        {
            "label": ["a", "b"],
            "published": [10.0, 20.0],
            "reproduced": [10.4, 20.4],
            "tolerance": [1.0, 1.0],
            "passed": [True, False],
        }
    )
    table = tables.side_by_side(frame)
    assert table["Within tolerance"].str.startswith("✗").tolist() == [False, True]
    html = tables.highlight_misses(table).to_html()
    styled_cells = html.split("</style>")[0]
    assert "#fbe3d6" in styled_cells
    assert "row1_col0" in styled_cells and "row0_col0" not in styled_cells


def test_side_by_side_reads_scorecard_rows():
    card = pd.DataFrame(
        {
            "id": ["t3.nrm.sex.male.est", "t4.lfs.cart.hr", "t3.os.sex.p", "t1.sex.male.n"],
            "kind": ["cif", "hr", "p", "count"],
            "unit": ["%", "ratio", "p", "n"],
            "published": [38.9, 4.10, 0.272, 56.0],
            "reproduced": [34.6064, 5.33, 0.0004, 56.0],
            "tolerance": ["+-1 pp", "within x1.25", "same side of 0.05 and within x2", "exact"],
            "passed": [False, False, False, True],
        }
    )
    table = tables.side_by_side(card)
    assert table.loc["t3.nrm.sex.male.est"].tolist() == ["38.9%", "34.6%", "-4.3 pp", "✗ outside ±1 pp"]
    assert table.loc["t4.lfs.cart.hr"].tolist() == ["4.10", "5.33", "×1.30", "✗ not met: within ×1.25"]
    assert table.loc["t3.os.sex.p", "Reproduced (synthetic)"] == "<0.001"
    assert table.loc["t1.sex.male.n"].tolist() == ["56", "56", "+0", "✓ met: exact"]


def test_styled_tables_get_ids_from_their_content_not_at_random():
    frame = pd.DataFrame({"Estimate": ["OS", "LFS"], "Ours": [53.7, 49.1]})
    other = pd.DataFrame({"Estimate": ["OS"], "Ours": [60.0]})
    first, again, different = tables.styled(frame), tables.styled(frame), tables.styled(other)
    assert len({first.uuid, again.uuid, different.uuid}) == 3  # one page may show the same table twice
    assert again.uuid == f"{first.uuid}-2" and first.uuid == tables.stable_ids(frame.style).uuid.rsplit("-", 1)[0]
    html = first.to_html()
    assert f'id="T_{first.uuid}"' in html and html == tables.styled(frame).set_uuid(first.uuid).to_html()
    assert tables.highlight_misses(pd.DataFrame({"Within tolerance": ["✓"]})).uuid != ""
    assert repr(first) == repr(frame) and " at 0x" not in repr(
        tables.highlight_misses(frame.assign(**{"Within tolerance": "✓"}))
    )


@pytest.mark.parametrize(
    "value, text",
    [(1.42e6, "1.42 × 10⁶"), (5.66e6, "5.66 × 10⁶"), (2.5e-5, "2.50 × 10⁻⁵"), (4.1, "4.1"), (0.0, "0")],
)
def test_format_power_of_ten(value, text):
    assert tables.format_power_of_ten(value) == text
