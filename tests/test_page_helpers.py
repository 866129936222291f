"""The helpers the chapters call instead of defining their own (no notebook defines a function)."""

import json
from pathlib import Path

import numpy as np
import pytest

from hsct_analysis.book import multivariate
from hsct_analysis.cohort import load_cohort, plain_numbers
from hsct_analysis.cohort.factors import FACTORS, factor, known_groups
from hsct_analysis.paper import registry as published
from hsct_analysis.stats import power, survival

ROOT = Path(__file__).resolve().parents[1]
COHORT = ROOT / "data" / "cohort.csv"


@pytest.fixture(scope="module")
def cohort():
    return plain_numbers(load_cohort(COHORT))


def test_no_notebook_defines_a_function():
    """Helpers live in the package, with docstrings and tests; a notebook only calls them."""
    defining = []
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        if any(
            line.lstrip().startswith(("def ", "lambda ")) or "= lambda" in line for s in code for line in s.splitlines()
        ):
            defining.append(path.relative_to(ROOT).as_posix())
    assert defining == []


def test_exponential_hazard_matches_the_kaplan_meier_survival_at_the_time(cohort):
    days = 3 * 365.25
    hazard = power.exponential_hazard(cohort["lfs_time"], cohort["lfs_event"], days)
    km = float(survival.value_at(survival.kaplan_meier(cohort["lfs_time"], cohort["lfs_event"]), days)["estimate"])
    assert np.exp(-hazard * days) == pytest.approx(km, rel=1e-12)
    # by hand: S(365.25) = 3/4 * 1/2 = 0.375 on four patients with events at 100 and 300
    assert power.exponential_hazard([100, 200, 300, 400], [1, 0, 1, 0], 365.25) == pytest.approx(
        -np.log(0.375) / 365.25, rel=1e-12
    )


def test_known_groups_keeps_the_patients_with_a_level(cohort):
    keep, groups = known_groups(cohort, "bcr_abl1")
    levels = factor(cohort, "bcr_abl1")
    assert keep.sum() == levels.notna().sum() == len(groups)
    assert list(groups) == levels.dropna().astype(str).tolist()
    assert set(groups) <= set(FACTORS["bcr_abl1"].levels)


def test_whole_cohort_estimate_is_the_printed_number():
    registry = published.load_registry()
    # Abstract: 3-year LFS 49.8%, relapse 10.5%, NRM 43.6% (the registry's canonical rows)
    values = [published.whole_cohort_estimate(registry, e, 1095.75) for e in ("lfs", "relapse", "nrm")]
    assert values == [
        float(registry.set_index("id").loc[f"abs.{e}.3y.est", "value"]) for e in ("lfs", "relapse", "nrm")
    ]
    with pytest.raises(KeyError, match="not one"):
        published.whole_cohort_estimate(registry, "lfs", 17.0)


def test_model_sets_and_unavailable_notes(cohort):
    models = multivariate.table4(cohort, threshold=0.15)
    assert multivariate.factor_labels([]) == "none"
    assert multivariate.factor_labels(["atg_type", "cart_interval_90"]) == (
        f"{FACTORS['atg_type'].label}, {FACTORS['cart_interval_90'].label}"
    )
    text = multivariate.model_sets(models, {"lfs": ["atg_type"]})
    parts = text.split("; ")
    assert len(parts) == len(models)
    assert parts[0] == (
        f"{models['lfs'].label}: here {multivariate.factor_labels(models['lfs'].factors)} "
        f"(paper: {FACTORS['atg_type'].label})"
    )
    assert "(paper: none)" in parts[1]  # an endpoint the paper set does not list
    assert "paper" not in multivariate.model_sets(models)
    none = multivariate.table4(cohort, threshold=1e-12)  # no factor passes: every model unavailable
    notes = multivariate.unavailable_notes(none, ["lfs", "os"])
    assert notes.count("is not available for this cohort:") == 2 and "no factor reached p <=" in notes
    assert multivariate.unavailable_notes(none, []) == ""


def test_curves_by_a_factor_are_one_figure_or_a_sentence(cohort):
    """Chapter 5's panels, one cell each: a figure with its test in the legend, or the sentence saying why not."""
    from matplotlib.figure import Figure

    from hsct_analysis.book import report
    from hsct_analysis.book.text import Text

    fig = report.curves_by_figure(cohort, "lfs", "cart_interval_90", 0.0012, label="{level} days", by="interval")
    assert isinstance(fig, Figure) and fig.axes[0].get_title(loc="left") == "Leukemia-free survival by interval"
    assert fig.axes[0].get_legend().get_title().get_text() == "Log-rank p = 0.001"
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {"≤ 90 days", "> 90 days"}
    one_group = cohort[cohort["days_cart_to_second_hsct"] <= 90]
    for figure, why in [
        (report.curves_by_figure(one_group, "lfs", "cart_interval_90"), "fewer than two groups are present"),
        (report.curves_by_figure(cohort, "os", "cart_interval_90", min_cell=12), "fewer than 12 patients"),  # > 90: 11
    ]:
        assert isinstance(figure, Text) and why in figure
    unrecorded = cohort.copy()
    unrecorded.attrs["unavailable_endpoints"] = ("relapse",)  # as load_cohort marks an empty relapse column
    assert report.curves_by_figure(unrecorded, "relapse", "cart_interval_90").endswith(
        "is not available for this cohort:** the cohort does not record it."
    )


def test_a_forest_plot_per_model_or_nothing(cohort):
    from matplotlib.figure import Figure

    models = multivariate.table4(cohort)
    fig = multivariate.forest(models["nrm"], "fine_gray", min_cell=None)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title(loc="left").startswith("Non-relapse mortality: Fine-Gray (n = 95, ")
    assert fig.axes[0].get_xlabel() == multivariate.FOREST_KINDS["fine_gray"][0]
    assert multivariate.forest(models["lfs"], "cause_specific") is None  # LFS has no cause-specific model


def test_a_dictionary_label_keeps_the_case_of_its_words():
    from hsct_analysis.book.report import dictionary_label

    assert dictionary_label("crs_after_cart") == "Cytokine release syndrome occurred after the CAR-T infusion"
    assert dictionary_label("gvhd_after_cart") == "GVHD occurred after the CAR-T infusion, before the second transplant"
