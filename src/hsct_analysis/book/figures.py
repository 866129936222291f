"""One palette and one figure style for the whole book, and the book's figures.

Every chapter draws with these functions so that groups keep their colours and curves look
alike throughout:

- ``PALETTE``: the Okabe-Ito colour-blind-safe colours (yellow left out: too pale on white);
  groups are coloured by their order (first group -> ``PALETTE[0]``), see ``group_colors``.
- ``use_book_style()``: the matplotlib/seaborn style, applied once on import.
- ``plot_curves``: Kaplan-Meier or cumulative-incidence step curves with stepped CI bands,
  censor ticks, y in percent, x in months and a numbers-at-risk table under the x-axis
  (as R's ggsurvfit ``add_risktable`` and lifelines' ``add_at_risk_counts`` do).
- ``plot_forest``: hazard ratios on a log axis with the reference level and separation shown.
- ``plot_interval_distribution``: CAR-T -> second HSCT interval (days) with cut-offs.
- ``plot_grades``: CRS / ICANS grade counts.
- ``plot_residuals_over_time``: Schoenfeld residuals against event time (pooled with ``min_cell``).

With ``min_cell`` (the book's ``--min-cell`` option) no figure shows a count below it: numbers at
risk read ``"<min_cell"``, small bars are hatched outlines, and the marks that stand for single
patients (the interval strip, one residual point per event, the censor ticks of a curve) are pooled or left out.
The steps of a survival curve stay, as in any published curve, unless a curve describes fewer than ``min_cell``
patients: then ``plot_curves`` draws no figure and returns the sentence saying why.

Each function returns its ``Figure`` (displayed when it is a cell's last value). Figures are
made through pyplot, so that a notebook's inline backend knows how to display them, and
closed at once: they never accumulate in pyplot's registry, a notebook can make any number
of them without "too many open figures" warnings, and nothing is shown twice.

Times in the curve frames are days from the second transplant; the x-axis shows months
(days / 30.4375).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from hsct_analysis.book import privacy, tables
from hsct_analysis.book.text import Text
from hsct_analysis.stats.units import DAYS_PER_MONTH

DEFAULT_MONTHS = (0, 6, 12, 24, 36, 48, 60)

#: Okabe-Ito colours in the order groups receive them (blue, vermillion, green, purple,
#: orange, sky blue, black).
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#595959"
FIGURE_WIDTH = 7.0  # inches; the book shows a figure at most as wide as its text column (about 770 px)
DPI = 220  # twice the screen density the width was designed for: sharp on high-density screens and in print
SMALLEST_FONT_PT = 8.5  # no text in a figure is smaller (bar labels); the browser test checks it stays >= 9 px
BAND_ALPHA = 0.18

KIND_YLABEL = {"survival": "Survival probability (%)", "incidence": "Cumulative incidence (%)"}
KIND_TEST = {"survival": "Log-rank", "incidence": "Gray's test"}


#: The book's matplotlib settings on top of seaborn's "ticks" style and "notebook" context.
_RC_OVERRIDES = {
    "figure.dpi": DPI,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.frameon": False,
    "legend.fontsize": 10,
    "lines.linewidth": 1.8,
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
}


def book_rc() -> dict:
    """The book's complete matplotlib rc settings (seaborn ticks + notebook context + the overrides)."""
    rc = {**sns.axes_style("ticks"), **sns.plotting_context("notebook", font_scale=0.95)}
    rc.update(_RC_OVERRIDES)
    return rc


def use_book_style() -> None:
    """Make the book's style the global matplotlib style. Importing this module never does this;
    every plotting function here applies the style to its own figure only."""
    sns.set_theme(context="notebook", style="ticks", palette=list(PALETTE), font_scale=0.95, rc=_RC_OVERRIDES)


def _styled(plot):
    """Draw ``plot``'s figure under the book's style without touching the global rc settings."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(book_rc()):
            return plot(*args, **kwargs)

    return wrapper


def group_colors(labels: Iterable[str]) -> dict[str, str]:
    """Colour per group label, by order: the first label gets ``PALETTE[0]`` and so on."""
    labels = list(labels)
    if len(labels) > len(PALETTE):
        raise ValueError(f"at most {len(PALETTE)} groups can be told apart, got {len(labels)}")
    return {label: PALETTE[i] for i, label in enumerate(labels)}


#: Days per unit of a curve plot's time axis.
DAYS_PER_UNIT = {"months": DAYS_PER_MONTH, "days": 1.0}


def days_to_months(days):
    """Days -> months (1 month = 30.4375 days = 365.25 / 12)."""
    return np.asarray(days, dtype=float) / DAYS_PER_MONTH


def _new_figure(height: float, width: float = FIGURE_WIDTH) -> Figure:
    """A figure made through pyplot (so a notebook's inline backend can display it) and closed
    at once, so that it is neither kept in pyplot's registry nor shown a second time."""
    fig = plt.figure(figsize=(width, height), dpi=DPI, layout="constrained")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------------------
# numbers at risk
# ---------------------------------------------------------------------------------------


def numbers_at_risk(
    curves: Mapping[str, pd.DataFrame], times_months: Sequence[float] = DEFAULT_MONTHS, unit: str = "months"
) -> pd.DataFrame:
    """Numbers at risk per group just after each time (the rows of a risk table).

    Each curve is a frame indexed by time in days with an ``at_risk`` column (number at risk
    at that time); with ``events`` and ``censored`` columns too (as from
    ``survival.kaplan_meier``, or ``competing.cumulative_incidence`` which adds
    ``competing_events``) the count just after ``t`` is ``at_risk`` minus everyone leaving
    at the last time <= t, which assumes the frame lists every distinct time. Returns a
    DataFrame indexed by group label with one integer column per month in ``times_months`` (per day when
    ``unit`` is ``"days"``).
    """
    rows = {}
    for label, curve in curves.items():
        if "at_risk" not in curve.columns:
            raise KeyError(
                f"curve {label!r} has no 'at_risk' column; pass at_risk_table= "
                "(e.g. numbers_at_risk_from_times) or at_risk=False"
            )
        rows[label] = [tables.at_risk_after(curve, m * DAYS_PER_UNIT[unit]) for m in times_months]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(times_months))


def numbers_at_risk_from_times(
    times_by_group: Mapping[str, Iterable[float]], times_months: Sequence[float] = DEFAULT_MONTHS
) -> pd.DataFrame:
    """Numbers at risk from follow-up times (days): patients whose time exceeds each tick.

    Use for cumulative-incidence curves whose frames lack ``at_risk``; pass each group's
    time to event-or-censoring (e.g. ``relapse_nrm_time``). Same layout as ``numbers_at_risk``.
    """
    rows = {}
    for label, times in times_by_group.items():
        t = np.asarray(list(times), dtype=float)
        rows[label] = [int(np.sum(t > m * DAYS_PER_MONTH)) for m in times_months]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(times_months))


# ---------------------------------------------------------------------------------------
# curves
# ---------------------------------------------------------------------------------------


def _check_direction(curve: pd.DataFrame, kind: str, label: str) -> None:
    steps = np.diff(curve["estimate"].to_numpy(dtype=float))
    if kind == "survival" and np.any(steps > 1e-9):
        raise ValueError(f"survival curve {label!r} rises; survival curves fall from 100%")
    if kind == "incidence" and np.any(steps < -1e-9):
        raise ValueError(f"incidence curve {label!r} falls; pass a cumulative incidence (rising from 0), never 1-KM")


def _from_origin(curve: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The curve with a starting row at day 0 (100% for survival, 0% for incidence)."""
    start = 1.0 if kind == "survival" else 0.0
    if len(curve) and curve.index[0] <= 0 and np.isclose(curve["estimate"].iloc[0], start):
        return curve
    origin = pd.DataFrame({"estimate": [start], "lower": [start], "upper": [start]}, index=[0.0])
    body = curve[["estimate", "lower", "upper"]].astype(float)
    return pd.concat([origin, body])


def _draw_curve(
    ax: Axes, curve: pd.DataFrame, label: str, color: str, kind: str, ci: bool, unit: str = "months", ticks: bool = True
) -> None:
    path = _from_origin(curve, kind)
    x = np.asarray(path.index, dtype=float) / DAYS_PER_UNIT[unit]
    line = ax.plot(x, 100 * path["estimate"].to_numpy(float), drawstyle="steps-post", color=color, label=label)[0]
    line.set_gid(f"curve:{label}")
    if ci and {"lower", "upper"} <= set(curve.columns):
        band = ax.fill_between(
            x,
            100 * path["lower"].to_numpy(float),
            100 * path["upper"].to_numpy(float),
            step="post",
            color=color,
            alpha=BAND_ALPHA,
            linewidth=0,
        )
        band.set_gid(f"ci:{label}")
    if ticks and "censored" in curve.columns:
        marks = curve[curve["censored"].to_numpy(float) > 0]
        ticks = ax.plot(
            np.asarray(marks.index, dtype=float) / DAYS_PER_UNIT[unit],
            100 * marks["estimate"].to_numpy(float),
            linestyle="none",
            marker="|",
            markersize=8,
            markeredgewidth=1.3,
            color=color,
        )[0]
        ticks.set_gid(f"censor:{label}")


#: Line styles of the interval limits in :func:`plot_interval_scales`, one per transform.
LIMIT_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


@_styled
def plot_interval_scales(
    curves: Mapping[str, pd.DataFrame],
    title: str | None = None,
    min_cell: int | None = None,
    times_months: Sequence[float] = DEFAULT_MONTHS,
    unit: str = "months",
) -> Figure | Text:
    """One Kaplan-Meier curve with the confidence limits of several transforms drawn as lines over it.

    ``curves`` maps a transform's name (``"plain"``, ``"log-log"``, ...) to the same curve computed with that
    ``conf_type`` (:func:`hsct_analysis.stats.survival.kaplan_meier`): the estimate and the numbers at risk are
    the first one's, each transform's lower and upper limits (percent) are two step lines in its own colour and
    dash. Overlaid as bands they would hide one another. With ``min_cell`` as :func:`plot_curves` (a curve of fewer
    than ``min_cell`` patients is not drawn)."""
    names = list(curves)
    first = curves[names[0]]
    fig = plot_curves(
        {"Kaplan-Meier": first}, ci=False, title=title, min_cell=min_cell, times_months=times_months, unit=unit
    )
    if isinstance(fig, Text):
        return fig
    ax = fig.axes[0]
    for k, name in enumerate(names):
        path = _from_origin(curves[name], "survival")
        x = np.asarray(path.index, dtype=float) / DAYS_PER_UNIT[unit]
        style = dict(drawstyle="steps-post", color=PALETTE[1 + k], linestyle=LIMIT_STYLES[k % len(LIMIT_STYLES)])
        for bound in ("lower", "upper"):
            line = ax.plot(x, 100 * path[bound].to_numpy(float), linewidth=1.4, **style)[0]
            line.set_gid(f"limit:{name}:{bound}")
        line.set_label(f"{name} limits")
    ax.legend(loc="best")
    return fig


def _draw_risk_table(ax: Axes, table: pd.DataFrame, colors: Mapping[str, str]) -> None:
    n = len(table)
    ax.set_ylim(-0.5, n - 0.5)
    for i, (label, counts) in enumerate(table.iterrows()):
        y = n - 1 - i
        for month, count in counts.items():
            if isinstance(count, str) and not count:  # privacy.AT_RISK_HIDDEN: the time is not shown
                continue
            text = ax.text(
                float(month), y, str(count), ha="center", va="center", fontsize=9.5, color=colors.get(label, GREY)
            )
            text.set_gid(f"at_risk:{label}:{month:g}")
    ax.yaxis.set_major_locator(FixedLocator([n - 1 - i for i in range(n)]))
    ax.set_yticklabels([str(label) for label in table.index], fontsize=9.5)
    for tick, label in zip(ax.get_yticklabels(), table.index):
        tick.set_color(colors.get(label, GREY))
    ax.tick_params(axis="y", length=0, pad=10)
    ax.tick_params(axis="x", length=0, labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title("Number at risk", loc="left", fontsize=10, fontweight="bold")
    ax.set_xlabel("")


def _p_text(p_value: float, test_name: str) -> str:
    return f"{test_name} {tables.format_p_statement(p_value)}"


def _axes_pair(ax: Axes | None, n_groups: int, at_risk: bool) -> tuple[Figure, Axes, Axes | None]:
    table_height = 0.45 + 0.27 * n_groups
    if ax is not None:
        if not at_risk:
            return ax.figure, ax, None
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        table_ax = make_axes_locatable(ax).append_axes(
            "bottom", size=f"{22 * (1 + 0.4 * n_groups):.0f}%", pad=0.75, sharex=ax
        )
        return ax.figure, ax, table_ax
    if not at_risk:
        fig = _new_figure(4.4)
        return fig, fig.add_subplot(), None
    fig = _new_figure(4.4 + table_height)
    grid = fig.add_gridspec(2, 1, height_ratios=[4.4, table_height])
    main = fig.add_subplot(grid[0])
    return fig, main, fig.add_subplot(grid[1], sharex=main)


def curve_sizes(curves: Mapping[str, pd.DataFrame], at_risk_table: pd.DataFrame | None = None) -> dict[str, int]:
    """Patients each curve describes: its first number at risk (a curve frame has a row at every observed time), or
    the first column of ``at_risk_table`` for a frame without ``at_risk``; a curve with neither is left out."""
    sizes = {}
    for label, curve in curves.items():
        if "at_risk" in curve.columns and len(curve):
            sizes[label] = int(curve["at_risk"].iloc[0])
        elif at_risk_table is not None and label in at_risk_table.index:
            sizes[label] = int(at_risk_table.loc[label].iloc[0])
    return sizes


@_styled
def plot_curves(
    curves: Mapping[str, pd.DataFrame],
    kind: str = "survival",
    ax: Axes | None = None,
    at_risk: bool = True,
    times_months: Sequence[float] = DEFAULT_MONTHS,
    p_value: float | None = None,
    test_name: str | None = None,
    title: str | None = None,
    xlabel: str = "Months after second HSCT",
    ylabel: str | None = None,
    at_risk_table: pd.DataFrame | None = None,
    ci: bool = True,
    min_cell: int | None = None,
    unit: str = "months",
    published: Mapping[str, tuple[float, float, float, float]] | None = None,
    cohort_curve: pd.DataFrame | None = None,
) -> Figure | Text:
    """Step curves with CI bands, censor ticks and a numbers-at-risk table under the x-axis.

    ``curves`` maps a group label to a curve frame indexed by time in days with columns
    ``estimate``, ``lower``, ``upper`` (proportions 0-1) and, for the risk table,
    ``at_risk`` (plus ``events``/``censored`` from ``survival.kaplan_meier``; ``censored``
    also gives the censor ticks). ``kind`` is ``"survival"`` (falls from 100%) or
    ``"incidence"`` (rises from 0%, e.g. ``competing.cumulative_incidence``; 1-KM is
    rejected). Groups are coloured by order (``group_colors``). The risk table shows the
    numbers still at risk just after each of ``times_months``; pass ``at_risk_table``
    (index = labels, columns = months, e.g. from ``numbers_at_risk_from_times``) when the
    frames carry no ``at_risk``. ``p_value`` heads the legend with ``test_name`` (default
    "Log-rank" for survival, "Gray's test" for incidence), e.g. "Log-rank p = 0.001".
    The y-axis is in percent (0-100), the x-axis in months (days / 30.4375), or in days when ``unit`` is
    ``"days"`` (then ``times_months`` are days, e.g. for engraftment within the first weeks). ``min_cell``
    (the book's small-cell option) prints every number at risk below it as ``"<min_cell"``; when a curve describes
    fewer than ``min_cell`` patients (:func:`curve_sizes`) no figure is drawn, and the sentence saying why
    (:data:`~hsct_analysis.book.privacy.CURVES_WITHHELD`, a :class:`~hsct_analysis.book.text.Text`) is returned
    instead. ``published`` maps a
    curve's label to a value the paper printed, ``(day, estimate, lower, upper)`` in percent: each is drawn as an
    open diamond with its interval in the curve's colour, and the legend says "Paper (95% CI)". ``cohort_curve``:
    the whole cohort's curve (its numbers at risk shown elsewhere) when the curves are groups some patients are in
    none of, or that add up to it; with ``min_cell``, numbers at risk are shown only at the first times where no
    count of fewer than ``min_cell`` patients could be recovered from the two figures
    (:func:`~hsct_analysis.book.privacy.suppress_at_risk`).
    """
    if kind not in KIND_YLABEL:
        raise ValueError(f"kind must be 'survival' or 'incidence', got {kind!r}")
    if not curves:
        raise ValueError("no curves to plot")
    for label, curve in curves.items():
        _check_direction(curve, kind, label)
    if privacy.curves_withheld(curve_sizes(curves, at_risk_table).values(), min_cell):
        why = privacy.CURVES_WITHHELD.format(n=int(min_cell))
        return Text(f"**{title or 'This figure'} is not shown with `--min-cell {int(min_cell)}`:** {why}.")
    colors = group_colors(curves)
    table = None
    if at_risk:
        table = (
            at_risk_table.loc[list(curves)]
            if at_risk_table is not None
            else numbers_at_risk(curves, times_months, unit)
        )
        if privacy.masking(min_cell):  # running counts with no small step; the patients in no curve stay hidden
            cohort = None
            if cohort_curve is not None:
                cohort = numbers_at_risk({"cohort": cohort_curve}, list(table.columns), unit).iloc[0].tolist()
            table = privacy.suppress_at_risk(table, min_cell, cohort)
    fig, ax, table_ax = _axes_pair(ax, len(curves), at_risk)

    for label, curve in curves.items():
        # a censor tick is one patient: counted on a flat stretch, the ticks give back a masked number at risk
        _draw_curve(ax, curve, label, colors[label], kind, ci, unit, ticks=not privacy.masking(min_cell))

    months = [float(m) for m in (table.columns if table is not None else times_months)]
    span = max(months)
    ax.set_xlim(-0.02 * span, 1.02 * span)
    shown = [label for label in (published or {}) if label in colors]
    for i, label in enumerate(shown):
        day, est, lo, hi = published[label]
        dodge = 0.012 * span * (i - (len(shown) - 1) / 2)  # side by side when two printed values share a time
        ax.errorbar(
            [day / DAYS_PER_UNIT[unit] + dodge],
            [est],
            yerr=[[est - lo], [hi - est]],
            fmt="D",
            color=colors[label],
            markerfacecolor="white",
            markersize=7,
            capsize=4,
            elinewidth=1.6,
            zorder=5,
        )
    if published:
        ax.errorbar(
            [],
            [],
            yerr=[],
            fmt="D",
            color="#444444",
            markerfacecolor="white",
            markersize=7,
            capsize=4,
            label="Paper (95% CI)",
        )
    ax.xaxis.set_major_locator(FixedLocator(months))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(-1, 101)
    ax.yaxis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or KIND_YLABEL[kind])
    ax.tick_params(axis="x", labelbottom=True)
    if title:
        ax.set_title(title, loc="left")
    p_text = None if p_value is None else _p_text(p_value, test_name or KIND_TEST[kind])
    if len(curves) > 1 or p_text or published:
        # the test result heads the legend, which matplotlib places where it hides no curve
        legend = ax.legend(loc="best", title=p_text, alignment="left")
        legend.get_title().set_fontsize(10.5)
    if table_ax is not None:
        _draw_risk_table(table_ax, table, colors)
        if (table == privacy.AT_RISK_HIDDEN).any().any():
            table_ax.set_title(
                f"Number at risk (later times not shown with --min-cell {int(min_cell)})",
                loc="left",
                fontsize=10,
                fontweight="bold",
            )
    return fig


# ---------------------------------------------------------------------------------------
# forest plot
# ---------------------------------------------------------------------------------------


def _forest_rows(
    summary: pd.DataFrame, reference_levels: Mapping[str, str] | None, labels: Mapping[str, str] | None
) -> pd.DataFrame:
    labelled = "label" in summary.columns or (
        "reference" in summary.columns and pd.api.types.is_bool_dtype(summary["reference"])
    )
    if labelled:
        rows = summary.copy()
        rows["label"] = rows["label"] if "label" in rows.columns else rows.index.astype(str)
        rows["level"] = rows["level"] if "level" in rows.columns else ""
        rows["reference"] = rows["reference"].astype(bool) if "reference" in rows.columns else False
        flagged = rows["separated"].astype(bool) if "separated" in rows.columns else False
        rows["separated"] = flagged | pd.Series(
            [
                (not ref) and tables.is_separated(h, lo, hi)
                for ref, h, lo, hi in zip(rows["reference"], rows["hr"], rows["hr_lower"], rows["hr_upper"])
            ],
            index=rows.index,
        )
        rows["withheld"] = rows["withheld"].fillna("").astype(str) if "withheld" in rows.columns else ""
        rows["separated"] &= ~rows["reference"] & (rows["withheld"] == "")
        return rows.reset_index(drop=True)
    return tables.regression_rows(summary, reference_levels, labels)


def _row_name(row: pd.Series) -> str:
    level = str(row["level"]) if not pd.isna(row["level"]) else ""
    return f"{row['label']}: {tables.level_text(level)}" if level else str(row["label"])


@_styled
def plot_forest(
    summary: pd.DataFrame,
    ax: Axes | None = None,
    reference_levels: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    xlabel: str = "Hazard ratio (95% CI, log scale)",
    published: Mapping[tuple[str, str], tuple[float, float, float]] | None = None,
) -> Figure:
    """Forest plot of hazard ratios on a log x-axis with a reference line at 1.

    ``summary`` is a Cox/Fine-Gray summary (``hr, hr_lower, hr_upper, p`` indexed by
    covariate; reference rows are inserted as in ``tables.regression_rows``) or an already
    labelled frame with a ``label`` column (optional ``level``, boolean ``reference``, as
    ``tables.regression_rows`` returns); ``labels`` maps covariate -> printed name. Reference
    levels are drawn as "reference" at HR = 1; a separated (not estimable) HR is drawn as an
    arrow from 1 towards the axis edge labelled "not estimable (separation)"; a term withheld for privacy (a
    ``withheld`` text, :func:`~hsct_analysis.book.privacy.withhold_terms`) is drawn as that text. HR (95% CI) and
    p are printed to the right. ``published`` maps (variable, level) to the hazard ratio the paper printed with
    its interval, ``(hr, lower, upper)``: drawn as an open diamond just under the row it belongs to (a value off
    the axis is written at its edge), with a legend "Paper (95% CI)".
    """
    rows = _forest_rows(summary, reference_levels, labels)
    n = len(rows)
    if ax is None:
        fig = _new_figure(1.2 + 0.42 * n, width=FIGURE_WIDTH + 1.5)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    estimable = rows[~rows["reference"] & ~rows["separated"] & (rows["withheld"] == "")]
    bounds = np.concatenate([estimable["hr_lower"].to_numpy(float), estimable["hr_upper"].to_numpy(float), [1.0]])
    lo, hi = bounds.min() / 1.6, bounds.max() * 1.6
    lo, hi = min(lo, 1 / 3), max(hi, 3.0)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.7, n - 0.3)
    ax.axvline(1.0, color=GREY, linewidth=1, linestyle="--", zorder=0)
    names, hr_texts, p_texts = [], [], []
    for i, row in rows.iterrows():
        y = n - 1 - i
        names.append(_row_name(row))
        if row["reference"]:
            ax.plot([1.0], [y], marker="D", color=GREY, markersize=5, gid=f"reference:{i}")
            ax.annotate(
                "reference", (1.0, y), xytext=(8, 0), textcoords="offset points", va="center", fontsize=9, color=GREY
            )
            hr_texts.append(tables.REFERENCE_TEXT)
            p_texts.append("")
        elif row["withheld"]:  # privacy.withhold_terms: no estimate to draw, the reason in its place
            ax.text(
                0.5, y, row["withheld"], transform=ax.get_yaxis_transform(), ha="center", va="center", fontsize=9,
                color=GREY, bbox=dict(facecolor="white", edgecolor="none", pad=1), gid=f"withheld:{i}",
            )  # fmt: skip
            hr_texts.append("not shown")
            p_texts.append("")
        elif row["separated"]:
            right = not (np.isfinite(row["hr"]) and row["hr"] < 1.0)
            end = hi / 1.15 if right else lo * 1.15
            arrow = ax.annotate(
                "", xy=(end, y), xytext=(1.0, y), arrowprops=dict(arrowstyle="-|>", color=PALETTE[1], linewidth=1.5)
            )
            arrow.set_gid(f"separated:{i}")
            ax.annotate(
                tables.SEPARATION_TEXT,
                (np.sqrt(end), y),
                xytext=(0, 5),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8.5,
                color=PALETTE[1],
            )
            hr_texts.append(tables.NOT_ESTIMABLE)
            p_texts.append("—")
        else:
            ax.plot([row["hr_lower"], row["hr_upper"]], [y, y], color=PALETTE[0], linewidth=1.6, gid=f"ci:{i}")
            ax.plot([row["hr"]], [y], marker="s", color=PALETTE[0], markersize=6, gid=f"hr:{i}")
            hr_texts.append(tables.format_hr(row["hr"], row["hr_lower"], row["hr_upper"]))
            p_texts.append(tables.format_p(row["p"]))
        key = (str(row.get("variable", "")), str(row["level"]))
        if published and key in published and not row["reference"]:
            p_hr, p_lo, p_hi = published[key]
            if lo <= p_hr <= hi:
                ax.plot([max(p_lo, lo), min(p_hi, hi)], [y - 0.28] * 2, color=PALETTE[1], linewidth=1.2)
                ax.plot(
                    [p_hr],
                    [y - 0.28],
                    marker="D",
                    color=PALETTE[1],
                    markerfacecolor="white",
                    markersize=6,
                    gid=f"paper:{i}",
                )
            else:
                printed = (
                    f"{p_hr:,.3g} ({p_lo:,.3g}–{p_hi:,.3g})" if p_hr < lo else f"{p_hr:,.0f} ({p_lo:,.0f}–{p_hi:,.0f})"
                )
                ax.annotate(  # hung below the row's interval line, clear of it
                    f"paper: {printed}, off the axis",
                    (hi if p_hr > hi else lo, y - 0.14),
                    ha="right" if p_hr > hi else "left",
                    va="top",
                    fontsize=9,
                    color=PALETTE[1],
                )
    ax.yaxis.set_major_locator(FixedLocator([n - 1 - i for i in range(n)]))
    ax.set_yticklabels(names)
    ax.tick_params(axis="y", length=0)
    ticks = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(xlabel)
    transform = ax.get_yaxis_transform()
    ax.text(1.04, n - 0.45, "HR (95% CI)", transform=transform, fontweight="bold", fontsize=9.5, va="bottom")
    ax.text(1.40, n - 0.45, "p", transform=transform, fontweight="bold", fontsize=9.5, va="bottom")
    for i, (hr_text, p_text) in enumerate(zip(hr_texts, p_texts)):
        y = n - 1 - i
        ax.text(1.04, y, hr_text, transform=transform, va="center", fontsize=9.5)
        ax.text(1.40, y, p_text, transform=transform, va="center", fontsize=9.5)
    if published:
        ax.plot([], [], marker="D", color=PALETTE[1], markerfacecolor="white", linewidth=1.2, label="Paper (95% CI)")
        ax.plot([], [], marker="s", color=PALETTE[0], linewidth=1.6, label="This cohort (95% CI)")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, frameon=False, fontsize=9)
    if title:
        # above the "HR (95% CI)" / "p" header (and the legend, when the paper's values are drawn): a long title
        # runs over the header's columns
        ax.set_title(title, loc="left", pad=26 if published else 18)
    return fig


# ---------------------------------------------------------------------------------------
# CAR-T -> HSCT interval, CRS/ICANS grades
# ---------------------------------------------------------------------------------------


@_styled
def plot_interval_distribution(
    days: Iterable[float],
    cuts: Sequence[float] = (60, 90),
    ax: Axes | None = None,
    binwidth: float = 10.0,
    xlabel: str = "Days from last CAR-T infusion to second HSCT",
    title: str | None = None,
    min_cell: int | None = None,
    unit: str = "patients",
) -> Figure:
    """Histogram of intervals (days) with a strip of the individual values and labelled cut lines.

    Bins are ``binwidth`` days wide and closed on the right, with edges on whole days + 0.5
    so that each cut (a whole number of days) is a bin edge and "<= cut" patients fall left
    of its line. Each cut is a dashed line labelled with both counts, e.g.
    "≤90 d: 84 · >90 d: 11". Missing values are dropped. With ``min_cell`` (the book's
    small-cell option) the strip of individual values is not drawn, a label count below
    ``min_cell`` reads ``"<min_cell"`` and a bin holding 1 to ``min_cell - 1`` patients is drawn
    as a hatched outline of height ``min_cell`` ("fewer than"), explained under the x-axis.
    ``unit`` names what is counted (y-axis "Patients (n)"; e.g. "resamples" for bootstrap results).
    """
    x = pd.to_numeric(pd.Series(list(days)), errors="coerce").dropna().to_numpy(float)
    if x.size == 0:
        raise ValueError("no intervals to plot")
    if ax is None:
        fig = _new_figure(3.9)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    start = binwidth * np.floor((x.min() - 0.5) / binwidth) + 0.5
    edges = np.arange(start, x.max() + binwidth, binwidth)
    if edges[-1] < x.max():
        edges = np.append(edges, edges[-1] + binwidth)
    masked_labels: set[float] = set()
    if privacy.masking(min_cell):
        heights, masked_labels = _masked_histogram(ax, x, edges, min_cell, cuts)
    else:
        heights, _, _ = ax.hist(x, bins=edges, color=PALETTE[0], alpha=0.75, edgecolor="white", gid="histogram")
    top = max(heights.max(), 1) * (1.25 + 0.1 * len(cuts))
    strip_y = -0.05 * top
    if not privacy.masking(min_cell):  # one tick per patient: not with small cells masked
        ax.plot(
            x, np.full(x.size, strip_y), linestyle="none", marker="|", markersize=8, color=GREY, alpha=0.7, gid="strip"
        )
    ax.set_ylim(2 * strip_y, top)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=3))
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= top])
    ax.axhline(0, color=GREY, linewidth=0.6)
    for k, cut in enumerate(cuts):
        color = PALETTE[(k + 1) % len(PALETTE)]
        ax.axvline(cut, color=color, linestyle="--", linewidth=1.4, gid=f"cut:{cut:g}")
        n_low, n_high = privacy.suppress_counts(pd.Series([int(np.sum(x <= cut)), int(np.sum(x > cut))]), min_cell)[0]
        if cut in masked_labels:  # with the bars, these two counts would reveal a hidden one
            n_low, n_high = (n if isinstance(n, str) else privacy.COMPLEMENTARY for n in (n_low, n_high))
        ax.text(
            cut,
            0.98 - 0.1 * k,
            f" ≤{cut:g} d: {n_low} · >{cut:g} d: {n_high}",
            transform=ax.get_xaxis_transform(),
            color=color,
            fontsize=9.5,
            va="top",
            ha="left",
            gid=f"cut_label:{cut:g}",
            zorder=5,
            bbox=dict(facecolor="white", edgecolor="none", pad=1.0, alpha=0.9),
        )
    ax.set_xlabel(_masked_xlabel(ax, xlabel, min_cell, unit))
    ax.set_ylabel(f"{unit.capitalize()} (n)")
    if title:
        ax.set_title(title, loc="left")
    return fig


def _as_upper_bound(bar, color: str) -> None:
    """Draw a bar as a hatched outline: its height is an upper bound ("fewer than"), not a count."""
    bar.set_facecolor("none")
    bar.set_edgecolor(color)
    bar.set_hatch("///")
    bar.set_linestyle("--")
    bar.set_gid((bar.get_gid() or "bar") + ":masked")


def _masked_histogram(
    ax: Axes, x: np.ndarray, edges: np.ndarray, min_cell: int, cuts: Sequence[float] = ()
) -> tuple[np.ndarray, set[float]]:
    """A histogram from which no count below ``min_cell`` can be read or recovered (privacy rules 1-3).

    Within each stretch between two cuts, neighbouring bins are merged (one wider bar) until every bar holds 0 or
    at least ``min_cell`` patients; a stretch with 1 to ``min_cell - 1`` patients in all is one bar, drawn as a
    hatched outline of height ``min_cell`` ("fewer than"). The bars add up to every patient plotted (a total the
    page shows), so they are one line of complementary suppression: further bars are hidden (height 0, marked
    ``"*"``), the smallest first, until the hidden ones cannot be told apart. A cut's label (patients on each
    side) is masked too when, next to the bars, it would give one hidden bar or a small sum of them.
    Returns the drawn heights and the cuts whose labels must be masked.
    """
    n = int(min_cell)
    counts, _ = np.histogram(x, bins=edges)
    mids = (edges[:-1] + edges[1:]) / 2
    stretch = np.searchsorted(np.asarray(sorted(float(c) + 0.5 for c in cuts)), mids)  # cut c: "<= c" left of it
    groups: list[list[int]] = []  # bins of each bar, in order
    for s in np.unique(stretch):
        done: list[list[int]] = []
        current: list[int] = []
        for i in np.flatnonzero(stretch == s):
            if not current and counts[i] == 0:
                done.append([int(i)])  # an empty bin stays empty (zeros are shown)
                continue
            current.append(int(i))
            if counts[current].sum() >= n:
                done.append(current)
                current = []
        if current:  # a small rest: into the last bar with patients of this stretch, or a bar of its own
            full = [k for k, g in enumerate(done) if counts[g].sum() > 0]
            if full:
                k = full[-1]
                done[k] = list(range(done[k][0], current[-1] + 1))
                done = done[: k + 1]
            else:
                done.append(current)
        groups += done
    totals = np.array([counts[g].sum() for g in groups], dtype=float)
    primary, secondary, _ = privacy.suppress_line(totals.tolist(), n)
    hidden = np.array(primary, dtype=bool) | np.array(secondary, dtype=bool)
    heights = np.where(primary, n, np.where(hidden, 0, totals))
    lefts, rights = edges[[g[0] for g in groups]], edges[[g[-1] + 1 for g in groups]]
    bars = ax.bar(
        lefts,
        heights,
        width=rights - lefts,
        align="edge",
        color=PALETTE[0],
        alpha=0.75,
        edgecolor="white",
        gid="histogram",
    )
    for bar, small, extra, left, right in zip(bars, primary, secondary, lefts, rights):
        if small:
            _as_upper_bound(bar, PALETTE[0])
        elif extra:
            bar.set_gid("histogram:hidden")
            ax.text(
                (left + right) / 2,
                0,
                privacy.COMPLEMENTARY,
                ha="center",
                va="bottom",
                color=PALETTE[0],
                fontsize=10,
                gid="histogram_hidden_label",
            )
    masked_labels = set()
    for cut in cuts:
        left_side = rights <= float(cut) + 0.5
        for side in (left_side, ~left_side):
            part = totals[hidden & side]
            if len(part) == 1 or 0 < part.sum() < n:
                masked_labels.add(cut)
    return heights, masked_labels


def _masked_xlabel(ax: Axes, xlabel: str, min_cell: int | None, unit: str = "patients") -> str:
    """The x-label, with a line explaining hatched bars when the axes hold any."""
    gids = [(getattr(p, "get_gid", lambda: None)() or "") for p in ax.patches]
    masked = any(g.endswith(":masked") for g in gids)
    hidden = "*: hidden so that a small count cannot be recovered " if any(g.endswith(":hidden") for g in gids) else ""
    return f"{xlabel}\n{hidden}(hatched bars: fewer than {int(min_cell)} {unit})" if masked else xlabel


@_styled
def plot_grades(
    grades: Mapping[str, Iterable[float]] | pd.DataFrame,
    max_grade: int = 4,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "Grade",
    min_cell: int | None = None,
) -> Figure:
    """Grouped bars of patients per grade (0..``max_grade``, plus "not graded" when any is missing: a toxicity whose
    occurrence is unknown, or one that occurred without a recorded grade).

    ``grades`` maps a toxicity name (e.g. "CRS", "ICANS") to each patient's grade, or is a
    DataFrame with one column per toxicity. Bars are labelled with their counts; with
    ``min_cell`` (the book's small-cell option) a count below it (zero included, as in the
    tables) is labelled ``"<min_cell"`` and drawn as a hatched outline of height ``min_cell``.
    """
    series = {
        name: pd.to_numeric(pd.Series(list(values)), errors="coerce")
        for name, values in (grades.items() if isinstance(grades, pd.DataFrame) else grades.items())
    }
    levels = [str(g) for g in range(max_grade + 1)]
    any_missing = any(s.isna().any() for s in series.values())
    if any_missing:
        levels.append("not graded")
    counts = {}
    for name, s in series.items():
        outside = s.dropna()[~s.dropna().isin(range(max_grade + 1))]
        if len(outside):
            raise ValueError(f"{name}: grades outside 0-{max_grade}: {sorted(outside.unique())}")
        c = [int((s == g).sum()) for g in range(max_grade + 1)]
        if any_missing:
            c.append(int(s.isna().sum()))
        counts[name] = c
    if ax is None:
        fig = _new_figure(3.6)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    width = 0.8 / max(len(counts), 1)
    positions = np.arange(len(levels))
    for k, (name, c) in enumerate(counts.items()):
        # the grades of one toxicity add up to the cohort: one line for complementary suppression
        small, hidden, _ = privacy.suppress_line(c, min_cell)
        shown = [min_cell if s else (0 if h else n) for n, s, h in zip(c, small, hidden)]
        bars = ax.bar(
            positions + (k - (len(counts) - 1) / 2) * width,
            shown,
            width=width * 0.95,
            color=PALETTE[k % len(PALETTE)],
            label=name,
            gid=f"bars:{name}",
        )
        for bar, s in zip(bars, small):
            if s:
                _as_upper_bound(bar, PALETTE[k % len(PALETTE)])
        labels = [
            privacy.primary_text(min_cell) if s else (privacy.COMPLEMENTARY if h else str(n))
            for n, s, h in zip(c, small, hidden)
        ]
        ax.bar_label(bars, labels=labels, fontsize=8.5, padding=1)
    ax.set_xticks(positions, levels)
    ax.set_xlabel(_masked_xlabel(ax, xlabel, min_cell))
    ax.set_ylabel("Patients (n)")
    ax.margins(y=0.12)
    if len(counts) > 1:
        ax.legend(loc="upper right")
    if title:
        ax.set_title(title, loc="left")
    return fig


# ---------------------------------------------------------------------------------------
# residuals over time (proportional-hazards check)
# ---------------------------------------------------------------------------------------


def residual_blocks(times: Iterable[float], residuals: Iterable[float], size: int) -> pd.DataFrame:
    """Events sorted by time, cut into consecutive blocks of at least ``size`` events.

    Returns one row per block with ``time`` (mean event time, days), ``residual`` (mean
    residual) and ``events`` (block size). Fewer than ``size`` events give no block at all.
    """
    frame = pd.DataFrame({"time": np.asarray(list(times), float), "residual": np.asarray(list(residuals), float)})
    frame = frame.dropna().sort_values("time", kind="stable").reset_index(drop=True)
    n_blocks = len(frame) // int(size)
    if n_blocks == 0:
        return pd.DataFrame(columns=["time", "residual", "events"])
    block = np.repeat(np.arange(n_blocks), [len(part) for part in np.array_split(np.arange(len(frame)), n_blocks)])
    grouped = frame.groupby(block)
    return pd.DataFrame(
        {"time": grouped["time"].mean(), "residual": grouped["residual"].mean(), "events": grouped.size()}
    ).reset_index(drop=True)


@_styled
def plot_residuals_over_time(
    times: Iterable[float],
    residuals: Iterable[float],
    reference: float | None = None,
    min_cell: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "Days after second HSCT (events)",
    ylabel: str = "Scaled Schoenfeld residual",
) -> Figure:
    """Residuals (one per event) against event time in days, with a dashed line at ``reference``
    (e.g. the estimated log hazard ratio).

    Without ``min_cell`` every event is a point (gid ``residuals``). With ``min_cell`` (the book's
    small-cell option) no single event day is drawn: consecutive events are pooled into blocks of
    at least ``min_cell`` (``residual_blocks``) and each block is one point at its mean time and
    mean residual (gid ``residual_blocks``).
    """
    if ax is None:
        fig = _new_figure(3.2)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if privacy.masking(min_cell):
        blocks = residual_blocks(times, residuals, int(min_cell))
        ax.plot(
            blocks["time"].to_numpy(float),
            blocks["residual"].to_numpy(float),
            linestyle="-",
            marker="o",
            markersize=5,
            color=PALETTE[0],
            gid="residual_blocks",
            label=f"mean of each {int(min_cell)}+ consecutive events",
        )
    else:
        ax.scatter(
            np.asarray(list(times), float), np.asarray(list(residuals), float), s=14, color=PALETTE[0], gid="residuals"
        )
    if reference is not None:
        ax.axhline(reference, color=PALETTE[1], linestyle="--", label="estimated log HR", gid="reference")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig
