"""Figures: the drawn numbers (risk table, band vertices, steps, ticks, bars) equal hand-worked ones."""

import math
import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text as MplText

from hsct_analysis.book import figures
from hsct_analysis.book.text import Text
from hsct_analysis.stats import survival

DPM = 30.4375

# Eight patients (days): events at 30, 60, 200, 400, 1200; censored at 60, 400, 800.
TIME = [30, 60, 60, 200, 400, 400, 800, 1200]
EVENT = [1, 0, 1, 1, 0, 1, 0, 1]
# Still at risk just after 0, 6, 12, 24, 36 months (0, 182.6, 365.25, 730.5, 1095.75 days):
# all 8; >182.6: 200, 400, 400, 800, 1200 -> 5; >365.25: 4; >730.5: 800, 1200 -> 2; >1095.75: 1.
EXPECTED_AT_RISK = [8, 5, 4, 2, 1]
MONTHS = (0, 6, 12, 24, 36)


@pytest.fixture
def km():
    return survival.kaplan_meier(TIME, EVENT, conf_type="log")


def by_gid(fig, prefix):
    found = []
    for ax in fig.axes:
        for artist in ax.get_children():
            gid = artist.get_gid()
            if gid is not None and gid.startswith(prefix):
                found.append(artist)
    return found


def test_palette_is_okabe_ito_and_colours_follow_order():
    assert figures.PALETTE[:3] == ("#0072B2", "#D55E00", "#009E73")
    assert figures.group_colors(["<=90", ">90"]) == {"<=90": "#0072B2", ">90": "#D55E00"}
    with pytest.raises(ValueError):
        figures.group_colors([str(i) for i in range(8)])


def test_numbers_at_risk_hand_counts(km):
    table = figures.numbers_at_risk({"All": km}, MONTHS)
    assert table.loc["All"].tolist() == EXPECTED_AT_RISK
    from_times = figures.numbers_at_risk_from_times({"All": TIME}, MONTHS)
    assert from_times.loc["All"].tolist() == EXPECTED_AT_RISK


def test_risk_table_text_under_km_plot(km):
    fig = figures.plot_curves({"All": km, "Same again": km}, times_months=MONTHS)
    main, table_ax = fig.axes
    for label in ("All", "Same again"):
        texts = sorted(by_gid(fig, f"at_risk:{label}:"), key=lambda t: t.get_position()[0])
        assert [int(t.get_text()) for t in texts] == EXPECTED_AT_RISK
        # aligned: each count sits at its tick (months) and both axes span the same x range
        assert [t.get_position()[0] for t in texts] == list(map(float, MONTHS))
    assert list(main.get_xticks()) == list(map(float, MONTHS))
    assert table_ax.get_xlim() == main.get_xlim()
    assert [t.get_text() for t in table_ax.get_yticklabels()] == ["All", "Same again"]


def test_km_line_steps_and_ci_band_vertices(km):
    fig = figures.plot_curves({"All": km}, times_months=MONTHS)
    (line,) = by_gid(fig, "curve:All")
    assert line.get_drawstyle() == "steps-post"
    np.testing.assert_allclose(line.get_xdata(), np.r_[0.0, km.index.to_numpy(float)] / DPM)
    np.testing.assert_allclose(line.get_ydata(), 100 * np.r_[1.0, km["estimate"].to_numpy()])
    (band,) = by_gid(fig, "ci:All")
    assert isinstance(band, PolyCollection)
    ys = np.round(np.concatenate([p.vertices[:, 1] for p in band.get_paths()]), 9)
    expected = np.round(100 * np.r_[km["lower"].to_numpy(), km["upper"].to_numpy(), 1.0], 9)
    expected = expected[~np.isnan(expected)]  # S = 0 at day 1200: no interval there (as in R)
    assert set(ys) == set(expected)  # every vertex is a lower/upper value, and every value is drawn
    xs = np.concatenate([p.vertices[:, 0] for p in band.get_paths()])
    assert set(np.round(xs * DPM, 6)) <= set(np.round(np.r_[0.0, km.index.to_numpy(float)], 6))


def test_censor_ticks_at_censored_times(km):
    fig = figures.plot_curves({"All": km}, times_months=MONTHS)
    (ticks,) = by_gid(fig, "censor:All")
    np.testing.assert_allclose(ticks.get_xdata() * DPM, [60, 400, 800])
    s = km["estimate"]
    np.testing.assert_allclose(ticks.get_ydata(), 100 * s.loc[[60, 400, 800]].to_numpy())
    assert ticks.get_marker() == "|"


def test_axes_units_and_p_annotation(km):
    fig = figures.plot_curves({"All": km}, p_value=0.001, title="Overall survival", times_months=MONTHS)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Months after second HSCT"
    assert ax.get_ylabel() == "Survival probability (%)"
    assert ax.get_ylim() == (-1.0, 101.0)
    assert ax.get_legend().get_title().get_text() == "Log-rank p = 0.001"
    assert ax.get_title(loc="left") == "Overall survival"


def test_incidence_rises_from_zero_and_rejects_one_minus_km(km):
    cif = pd.DataFrame(
        {"estimate": [0.1, 0.25, 0.25], "lower": [0.02, 0.1, 0.1], "upper": [0.4, 0.5, 0.5]},
        index=[50.0, 120.0, 400.0],
    )
    fig = figures.plot_curves({"Relapse": cif}, kind="incidence", p_value=0.03, at_risk=False)
    ax = fig.axes[0]
    (line,) = by_gid(fig, "curve:Relapse")
    assert line.get_ydata()[0] == 0.0 and line.get_ydata()[-1] == 25.0
    assert ax.get_ylabel() == "Cumulative incidence (%)"
    assert ax.get_legend().get_title().get_text() == "Gray's test p = 0.030"
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="1-KM"):
        figures.plot_curves({"wrong": km}, kind="incidence", at_risk=False)
    with pytest.raises(KeyError, match="at_risk"):
        figures.plot_curves({"Relapse": cif}, kind="incidence")


def test_incidence_with_separate_at_risk_table():
    cif = pd.DataFrame({"estimate": [0.2, 0.5], "lower": [0.05, 0.2], "upper": [0.5, 0.8]}, index=[100.0, 300.0])
    table = figures.numbers_at_risk_from_times({"CMV": [100, 300, 500, 900]}, (0, 6, 12, 24))
    assert table.loc["CMV"].tolist() == [4, 3, 2, 1]
    fig = figures.plot_curves({"CMV": cif}, kind="incidence", at_risk_table=table)
    texts = sorted(by_gid(fig, "at_risk:CMV:"), key=lambda t: t.get_position()[0])
    assert [t.get_text() for t in texts] == ["4", "3", "2", "1"]
    assert list(fig.axes[0].get_xticks()) == [0.0, 6.0, 12.0, 24.0]


def test_plot_into_given_axes(km):
    fig = plt.figure(figsize=(6, 5))
    try:
        ax = fig.add_subplot()
        out = figures.plot_curves({"All": km}, ax=ax, times_months=MONTHS)
        assert out is fig
        assert len(fig.axes) == 2
        texts = sorted(by_gid(fig, "at_risk:All:"), key=lambda t: t.get_position()[0])
        assert [int(t.get_text()) for t in texts] == EXPECTED_AT_RISK
    finally:
        plt.close(fig)


def test_many_figures_leave_pyplot_alone(km):
    before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figs = [figures.plot_curves({"All": km}, times_months=MONTHS) for _ in range(25)]
    assert plt.get_fignums() == before
    assert len(figs) == 25 and all(f.axes for f in figs)


# --- forest plot ---------------------------------------------------------------------


def test_forest_reference_log_scale_and_separation():
    summary = pd.DataFrame(
        {
            "hr": [4.10, math.inf],
            "hr_lower": [1.64, np.nan],
            "hr_upper": [10.24, np.nan],
            "p": [0.003, np.nan],
            "reference": ["<=90", "ATG-F"],
            "separation": [False, True],
        },
        index=["cart_interval_90[>90]", "atg_type[ATG-P]"],
    )
    fig = figures.plot_forest(summary)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "CAR-T to second HSCT (days): ≤ 90",
        "CAR-T to second HSCT (days): > 90",
        "Type of ATG: ATG-F",
        "Type of ATG: ATG-P",
    ]
    (hr_point,) = by_gid(fig, "hr:1")
    assert hr_point.get_xdata()[0] == pytest.approx(4.10)
    (ci,) = by_gid(fig, "ci:1")
    assert list(ci.get_xdata()) == [1.64, 10.24]
    assert any(line.get_xdata()[0] == 1.0 and line.get_linestyle() == "--" for line in ax.get_lines())
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("reference") == 2
    assert "not estimable (separation)" in texts
    assert "4.10 (1.64-10.24)" in texts and "0.003" in texts
    (arrow,) = by_gid(fig, "separated:3")
    assert arrow.xy[0] > 10.24 and arrow.xyann[0] == 1.0  # points right, from HR = 1
    # no absurd number reaches the axis limits
    assert ax.get_xlim()[1] < 100


# --- interval histogram and grades --------------------------------------------------


def test_interval_distribution_counts_and_cuts():
    days = [35, 50, 60, 61, 75, 90, 91, 120, 246, np.nan]
    fig = figures.plot_interval_distribution(days, cuts=(60, 90))
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert sum(p.get_height() for p in bars) == 9
    # 60 is counted at or below the 60-day cut: its bar ends at the line
    left_of_60 = sum(p.get_height() for p in bars if p.get_x() + p.get_width() <= 60.5 + 1e-9)
    assert left_of_60 == 3
    labels = {t.get_gid(): t.get_text() for t in ax.texts}
    assert labels["cut_label:60"] == " ≤60 d: 3 · >60 d: 6"
    assert labels["cut_label:90"] == " ≤90 d: 6 · >90 d: 3"
    (cut90,) = by_gid(fig, "cut:90")
    assert cut90.get_xdata()[0] == 90
    (strip,) = by_gid(fig, "strip")
    assert sorted(strip.get_xdata()) == [35, 50, 60, 61, 75, 90, 91, 120, 246]
    assert ax.get_xlabel() == "Days from last CAR-T infusion to second HSCT"


def test_grades_bar_heights():
    crs = [0, 1, 1, 1, 2, 4, np.nan]
    icans = [0, 0, 0, 1, 0, 3, 0]
    fig = figures.plot_grades({"CRS": crs, "ICANS": icans})
    ax = fig.axes[0]
    heights = {name: [b.get_height() for b in ax.containers[k]] for k, name in enumerate(["CRS", "ICANS"])}
    assert heights["CRS"] == [1, 3, 1, 0, 1, 1]
    assert heights["ICANS"] == [5, 1, 0, 1, 0, 0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "not graded"]
    assert ax.get_ylabel() == "Patients (n)"


def test_cumulative_incidence_frame_at_risk_counts_competing_exits():
    from hsct_analysis.stats import competing

    # status: 1 relapse, 2 death without relapse, 0 censored (days)
    time = [20, 100, 150, 150, 300, 500, 700, 900]
    status = [1, 2, 1, 0, 2, 1, 0, 0]
    cif = competing.cumulative_incidence(time, status, cause=1)
    # just after 0, 3, 6, 12, 24 months (0, 91.3, 182.6, 365.25, 730.5 days): 8, 7, 4, 3, 1
    table = figures.numbers_at_risk({"Relapse": cif}, (0, 3, 6, 12, 24))
    assert table.loc["Relapse"].tolist() == [8, 7, 4, 3, 1]
    assert table.equals(figures.numbers_at_risk_from_times({"Relapse": time}, (0, 3, 6, 12, 24)))
    fig = figures.plot_curves({"Relapse": cif}, kind="incidence", times_months=(0, 3, 6, 12, 24))
    (line,) = by_gid(fig, "curve:Relapse")
    assert line.get_ydata()[0] == 0.0
    np.testing.assert_allclose(line.get_ydata()[-1], 100 * cif["estimate"].iloc[-1])


# --- small-cell option (--min-cell) ----------------------------------------------------


def test_min_cell_masks_numbers_at_risk(km):
    fig = figures.plot_curves({"All": km}, times_months=MONTHS, min_cell=5)
    texts = sorted(by_gid(fig, "at_risk:All:"), key=lambda t: t.get_position()[0])
    # unmasked 8, 5, 4, 2, 1 (EXPECTED_AT_RISK): the counts 1-4 become "<5"
    assert [t.get_text() for t in texts] == ["8", "*", "<5", "<5", "<5"]  # 8 -> 5: a step of 3 hidden
    plain = figures.plot_curves({"All": km}, times_months=MONTHS)
    assert [t.get_text() for t in sorted(by_gid(plain, "at_risk:All:"), key=lambda t: t.get_position()[0])] == [
        str(n) for n in EXPECTED_AT_RISK
    ]


def test_min_cell_draws_no_censor_ticks(km):
    """Each tick is one patient: counted on a flat stretch, the ticks would give back a masked number at risk."""
    assert by_gid(figures.plot_curves({"All": km}, times_months=MONTHS, min_cell=5), "censor:") == []
    assert len(by_gid(figures.plot_curves({"All": km}, times_months=MONTHS, min_cell=1), "censor:")) == 1


def test_min_cell_withholds_a_figure_with_a_small_curve(km):
    """A curve of 8 patients is drawn with --min-cell 8, not with 9: then no figure, only the sentence saying why,
    which names the figure; both curves go, since the other (or the whole cohort's) would give the small one back."""

    big = km.assign(at_risk=2 * km["at_risk"])  # a curve of 16 patients
    assert figures.curve_sizes({"All": km, "Twice": big}) == {"All": 8, "Twice": 16}
    assert isinstance(figures.plot_curves({"All": km}, times_months=MONTHS, min_cell=8), Figure)
    withheld = figures.plot_curves({"All": km, "Twice": big}, times_months=MONTHS, min_cell=9, title="Figure 9")
    assert isinstance(withheld, Text) and withheld.startswith("**Figure 9 is not shown with `--min-cell 9`:**")
    assert "fewer than 9 patients" in withheld and withheld._repr_markdown_() == str(withheld)
    assert isinstance(figures.plot_curves({"All": km}, times_months=MONTHS, min_cell=1), Figure)  # 1: no masking


def test_min_cell_masks_a_given_at_risk_table():
    curve = pd.DataFrame({"estimate": [0.0, 0.5], "lower": [0.0, 0.2], "upper": [0.0, 0.8]}, index=[0.0, 100.0])
    table = figures.numbers_at_risk_from_times({"CMV": [10, 50, 200, 400, 500, 800]}, (0, 6, 12, 24))
    assert table.loc["CMV"].tolist() == [6, 4, 3, 1]  # > 0, 182.6, 365.25, 730.5 days
    fig = figures.plot_curves(
        {"CMV": curve}, kind="incidence", times_months=(0, 6, 12, 24), at_risk_table=table, min_cell=4
    )
    texts = sorted(by_gid(fig, "at_risk:CMV:"), key=lambda t: t.get_position()[0])
    assert [t.get_text() for t in texts] == ["6", "*", "<4", "<4"]


def test_min_cell_grades_labels_and_hatched_bars():
    crs = [0] * 6 + [1, 1, 2, np.nan]  # grade 0: 6, grade 1: 2, grade 2: 1, 3 and 4: 0, unknown: 1
    fig = figures.plot_grades({"CRS": crs}, min_cell=5)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["*", "<5", "<5", "0", "0", "<5"]  # zeros shown; 6 hidden (10 - 4)
    bars = list(ax.containers[0])
    # a "<5" bar reaches min_cell ("fewer than 5"); the complementary one is not drawn; zeros are empty
    assert [b.get_height() for b in bars] == [0, 5, 5, 0, 0, 5]
    assert [b.get_gid().endswith(":masked") for b in bars] == [False, True, True, False, False, True]
    assert "hatched bars: fewer than 5 patients" in ax.get_xlabel()
    plain = figures.plot_grades({"CRS": crs}).axes[0]
    assert [t.get_text() for t in plain.texts] == ["6", "2", "1", "0", "0", "1"]


def test_min_cell_interval_distribution_hides_strip_and_small_counts():
    days = [35, 50, 60, 61, 62, 63, 64, 66, 67, 91, 120]
    fig = figures.plot_interval_distribution(days, cuts=(60, 90), min_cell=5)
    ax = fig.axes[0]
    assert by_gid(fig, "strip") == []  # no tick per patient
    labels = {t.get_gid(): t.get_text() for t in ax.texts}
    assert labels["cut_label:60"] == " ≤60 d: <5 · >60 d: *"
    assert labels["cut_label:90"] == " ≤90 d: * · >90 d: <5"
    bars = [(p.get_x(), p.get_x() + p.get_width(), p.get_height(), p.get_gid()) for p in ax.patches if p.get_height()]
    # bins (10 days, edges at x.5): 30.5-40.5: 1, 40.5-50.5: 1, 50.5-60.5: 1, 60.5-70.5: 6, 90.5-100.5: 1,
    # 110.5-120.5: 1. The three bins of 1 up to day 60 are one bar of 3, the two after day 90 one bar of 2, each
    # drawn as a hatched bar of height 5 ("fewer than 5"); the bin of 6 as it is
    assert bars == [
        (30.5, 60.5, 5, "histogram:masked"),
        (60.5, 70.5, 6, "histogram"),
        (90.5, 120.5, 5, "histogram:masked"),
    ]


def drawn(fig) -> tuple[list[tuple[float, float, float, str]], dict[str, str]]:
    """The bars of a histogram (left, right, height, gid) and its texts by gid."""
    ax = fig.axes[0]
    bars = [(p.get_x(), p.get_x() + p.get_width(), p.get_height(), p.get_gid() or "") for p in ax.patches]
    return bars, {t.get_gid(): t.get_text() for t in ax.texts}


@pytest.mark.parametrize("seed", range(40))
def test_min_cell_histogram_no_small_count_can_be_read_or_recovered(seed):
    """Bars and cut labels of a masked histogram, checked as a reader could use them: a bar shown holds 0 or at
    least min_cell patients; hidden bars are none or at least two adding up to min_cell or more; and a cut label
    shown splits the hidden bars so that neither side holds exactly one of them or a small sum."""
    rng = np.random.default_rng(seed)
    n, cuts = 5, (60, 90)
    days = np.concatenate(
        [
            rng.integers(0, 60, rng.integers(0, 30)),
            rng.integers(61, 91, rng.integers(1, 8)),
            rng.integers(91, 400, rng.integers(1, 12)),
        ]
    )
    bars, texts = drawn(figures.plot_interval_distribution(days, cuts=cuts, min_cell=n))
    true = [int(((days > lo) & (days < hi)).sum()) for lo, hi, _, _ in bars]
    assert sum(true) == len(days)  # the bars cover every patient once
    hidden = [t for t, (_, _, _, gid) in zip(true, bars) if gid.endswith((":masked", ":hidden"))]
    for t, (_, _, height, gid) in zip(true, bars):
        if gid.endswith(":masked"):
            assert 0 < t < n and height == n
        elif gid.endswith(":hidden"):
            assert t >= n and height == 0
        else:
            assert height == t and (t == 0 or t >= n)
    # (fewer than n patients in all: every bar is "<n", and so is the total, wherever it is shown)
    assert hidden == [] or (len(hidden) >= 2 and sum(hidden) >= n) or (sum(true) < n and sum(hidden) == sum(true))
    for cut in cuts:
        label = texts[f"cut_label:{cut}"]
        low, high = re.fullmatch(r" ≤\d+ d: (\S+) · >\d+ d: (\S+)", label).groups()
        if low.isdigit() or high.isdigit():  # counts shown (then both are, as they add up to every patient)
            assert low.isdigit() and high.isdigit()
            for left_side in (True, False):
                part = [
                    t
                    for t, (_, hi, _, gid) in zip(true, bars)
                    if (hi <= cut + 0.5) == left_side and gid.endswith((":masked", ":hidden"))
                ]
                assert part == [] or (len(part) >= 2 and sum(part) >= n)


def test_min_cell_histogram_merges_a_small_bin_instead_of_showing_it():
    # 6 patients on days 1-10, 1 on day 15, 7 on days 21-30: the old histogram drew the 1 as a "<5" bar next to
    # 6 and 7, and 14 - 6 - 7 gave it away; now days 11-30 are one bar of 8
    days = [5] * 6 + [15] + [25] * 7
    bars, texts = drawn(figures.plot_interval_distribution(days, cuts=(), min_cell=5))
    assert bars == [(0.5, 10.5, 6, "histogram"), (10.5, 30.5, 8, "histogram")]
    plain, _ = drawn(figures.plot_interval_distribution(days, cuts=()))
    assert [h for _, _, h, _ in plain] == [6, 1, 7]
    # a stretch between cuts with 3 patients is one "<5" bar, and one more bar is hidden ("*", height 0)
    days = [30] * 20 + [70, 75, 80] + [100] * 20 + [130] * 6
    bars, texts = drawn(figures.plot_interval_distribution(days, cuts=(60, 90), min_cell=5))
    assert [(lo, hi, h, g) for lo, hi, h, g in bars if h or g != "histogram"] == [
        (20.5, 30.5, 20, "histogram"),
        (60.5, 90.5, 5, "histogram:masked"),
        (90.5, 100.5, 20, "histogram"),
        (120.5, 130.5, 0, "histogram:hidden"),
    ]
    assert texts["histogram_hidden_label"] == "*"
    assert texts["cut_label:60"] == " ≤60 d: 20 · >60 d: 29"  # the hidden 3 and 6: only their sum, 9, is known
    assert texts["cut_label:90"] == " ≤90 d: * · >90 d: *"  # 23 - 20 would give the 3 away


def test_residual_blocks_pool_consecutive_events():
    times = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110]
    resid = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    blocks = figures.residual_blocks(times[::-1], resid[::-1], 5)  # order of input does not matter
    assert blocks["events"].tolist() == [6, 5]
    np.testing.assert_allclose(blocks["time"], [35.0, 90.0])
    np.testing.assert_allclose(blocks["residual"], [(5 + 2) / 6, 2.0])
    assert figures.residual_blocks(times[:4], resid[:4], 5).empty
    fig = figures.plot_residuals_over_time(times, resid, reference=1.5, min_cell=5)
    (line,) = by_gid(fig, "residual_blocks")
    np.testing.assert_allclose(line.get_xdata(), [35.0, 90.0])
    assert by_gid(fig, "residuals") == []
    (points,) = by_gid(figures.plot_residuals_over_time(times, resid), "residuals")
    assert len(points.get_offsets()) == 11


def test_interval_distribution_names_what_it_counts():
    fig = figures.plot_interval_distribution([88, 90, 90, 91, 120] + [60] * 6, cuts=(90,), min_cell=5, unit="resamples")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "Resamples (n)"
    assert ax.get_xlabel().endswith("(hatched bars: fewer than 5 resamples)")
    assert {t.get_gid(): t.get_text() for t in ax.texts}["cut_label:90"] == " ≤90 d: * · >90 d: <5"


def test_figure_captions_say_synthetic_only_in_the_bundled_book():
    import json
    from pathlib import Path

    import nbformat

    from hsct_analysis.book import build

    root = Path(__file__).resolve().parents[1]
    captions = []
    for path in sorted(root.glob("notebooks/**/*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            caption = cell["metadata"].get("mystnb", {}).get("figure", {}).get("caption")
            if caption:
                captions.append(caption)
    assert len(captions) >= 15 and all(build.SYNTHETIC_CAPTION in c for c in captions)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig", metadata={"mystnb": {"figure": {"caption": captions[0]}}})]
    build._replace_synthetic_admonition(nb, "my_cohort.csv")
    rewritten = nb.cells[0].metadata["mystnb"]["figure"]["caption"]
    assert "synthetic" not in rewritten and "(cohort: my\\_cohort\\.csv)" in rewritten


def test_the_papers_three_year_values_are_drawn_on_the_curves():
    from matplotlib.container import ErrorbarContainer

    from hsct_analysis.book import figures
    from hsct_analysis.book.report import Report
    from hsct_analysis.cohort import endpoints

    root = Path(__file__).resolve().parents[1]
    report = Report(str(root / "data" / "cohort.csv"))
    points = report.published_points(["os", "lfs"])
    assert points == {
        "Overall survival": (1095.75, 55.3, 44.3, 66.1),
        "Leukemia-free survival": (1095.75, 49.8, 38.7, 60.9),
    }
    curves = {endpoints.endpoint(e).label: endpoints.curve(report.cohort, e) for e in ["os", "lfs"]}
    fig = figures.plot_curves(curves, published=points)
    bars = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    drawn = sorted(round(float(b.lines[0].get_ydata()[0]), 1) for b in bars if len(b.lines[0].get_ydata()))
    assert drawn == [49.8, 55.3]
    assert "Paper (95% CI)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    user = Report(str(root / "data" / "cohort.csv"), is_bundled_cohort=False)
    assert user.published_points(["os", "lfs"]) == {}


def test_the_papers_table4_hazard_ratios_are_drawn_on_the_forest_plot():
    from hsct_analysis.book import figures, multivariate
    from hsct_analysis.book.report import Report

    report = Report(str(Path(__file__).resolve().parents[1] / "data" / "cohort.csv"))
    hrs = report.published_hrs("lfs")
    assert hrs[("cart_interval_90", ">90")] == (4.1, 1.64, 10.24)
    model = multivariate.fit_endpoint(multivariate.plain_numbers(report.cohort), "lfs", ["cart_interval_90"])
    fig = figures.plot_forest(model.summary, published=hrs)
    diamonds = [line for line in fig.axes[0].lines if str(line.get_gid()).startswith("paper:")]
    assert [float(d.get_xdata()[0]) for d in diamonds] == [4.1]
    separated = figures.plot_forest(
        multivariate.fit_endpoint(multivariate.plain_numbers(report.cohort), "relapse", ["atg_type"]).summary,
        published=report.published_hrs("relapse"),
    )
    texts = [t.get_text() for t in separated.axes[0].texts]
    assert any(t.startswith("paper: 1,420,000") and t.endswith("off the axis") for t in texts)


@pytest.mark.parametrize("published", [False, True])
def test_a_long_forest_title_clears_the_hr_and_p_header(published):
    summary = pd.DataFrame(
        {"hr": [3.33], "hr_lower": [1.60], "hr_upper": [6.96], "p": [0.001], "reference": ["<=90"]},
        index=["cart_interval_90[>90]"],
    )
    paper = {("cart_interval_90", ">90"): (2.9, 1.4, 6.0)} if published else None
    long_title = "Leukemia-free survival: Cox model (n = 95, 47 events), a long title"
    fig = figures.plot_forest(summary, title=long_title, published=paper)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    ax = fig.axes[0]
    (title,) = [t.get_window_extent(renderer) for t in fig.findobj(MplText) if t.get_text() == long_title]
    headers = [t for t in ax.texts if t.get_text() in ("HR (95% CI)", "p")]
    assert len(headers) == 2
    for header in headers:
        box = header.get_window_extent(renderer)
        assert box.x1 < title.x0 or box.x0 > title.x1 or box.y1 <= title.y0, header.get_text()


def test_every_plot_is_drawn_in_the_book_style():
    """Each public ``plot_*`` draws under the book's rc settings (the ``_styled`` wrapper), whatever the caller's."""
    import inspect

    plots = [f for name, f in inspect.getmembers(figures, inspect.isfunction) if name.startswith("plot_")]
    assert len(plots) >= 5
    assert [f.__name__ for f in plots if not hasattr(f, "__wrapped__")] == []


def test_interval_scales_draw_one_curve_and_each_transforms_limits(km):
    """Three transforms' bands overlaid hid one another (a reviewer saw one band): the limits are lines now."""
    curves = {ct: km for ct in ("plain", "log-log", "arcsine")}
    fig = figures.plot_interval_scales(curves, title="t", times_months=MONTHS)
    limits = by_gid(fig, "limit:")
    assert sorted(line.get_gid() for line in limits) == sorted(
        f"limit:{ct}:{b}" for ct in curves for b in ("lower", "upper")
    )
    assert len({line.get_linestyle() for line in limits}) == 3 and len(by_gid(fig, "curve:")) == 1
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "Kaplan-Meier",
        "plain limits",
        "log-log limits",
        "arcsine limits",
    ]
    assert isinstance(figures.plot_interval_scales(curves, times_months=MONTHS, min_cell=9), Text)  # 8 patients
