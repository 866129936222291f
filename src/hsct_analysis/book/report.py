"""What a chapter needs to put the paper's value next to the reproduced one.

A chapter builds one :class:`Report` from its parameters. On the bundled synthetic cohort
it recomputes the scorecard (every published number, reproduced from the data when the
notebook runs) and shows the rows that belong on the page; on a user's own cohort there is
nothing to compare with, and the comparison tables say so instead of appearing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hsct_analysis.book import comparison, figures, privacy, tables
from hsct_analysis.book.text import Text
from hsct_analysis.cohort import endpoints, load_cohort
from hsct_analysis.cohort.enrolment import EnrolmentFlow, flow_beside
from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.paper import registry as published
from hsct_analysis.paper import scorecard
from hsct_analysis.stats.units import DAYS_PER_YEAR


def _time_label(days: float) -> str:
    """'100 days', '1 year', '3 years' for a time point in days."""
    years = days / DAYS_PER_YEAR
    if days >= 365 and abs(years - round(years)) < 1e-6:
        n = int(round(years))
        return f"{n} year" + ("s" if n > 1 else "")
    return f"{days:g} days"


def variable_label(name: str) -> str:
    """A reader's label for a cohort column, e.g. 'days_cart_to_second_hsct' -> 'Last CAR-T to second HSCT (days)'."""
    from hsct_analysis.book.baseline import TABLE1_ROWS, TABLE2_ROWS, TIMELINE

    labels = {c: f"{label} (days)" for c, label in TIMELINE}
    labels.update({r.column: r.label + (f" ({r.unit})" if r.unit else "") for r in TABLE1_ROWS + TABLE2_ROWS})
    labels.update(
        {
            "followup_days": "Follow-up after second HSCT (days)",
            "neutrophil_engraftment_days": "Neutrophil engraftment (day)",
            "platelet_engraftment_days": "Platelet engraftment (day)",
        }
    )
    if name in labels:
        return labels[name]
    return dictionary_label(name)


def dictionary_label(name: str) -> str:
    """A column's label from the data dictionary: the first clause of its meaning ('Highest CRS grade after CAR-T')."""
    from hsct_analysis.cohort.contract import read_dictionary

    if name in _EXTRA_LABELS:
        return _EXTRA_LABELS[name]
    meaning = read_dictionary().set_index("name")["meaning"].to_dict().get(name)
    if isinstance(meaning, str) and meaning.strip():
        first = re.split(r";|\. ", meaning.strip())[0].rstrip(".")
        first = first.removeprefix("Whether ")
        return first[:1].upper() + first[1:]  # not str.capitalize(): it would lower "CAR-T" to "car-t"
    return _EXTRA_LABELS.get(name, name.replace("_", " ").capitalize())


_EXTRA_LABELS = {"deaths": "Cause of death", "dead": "Died"}


_TEST_NAMES = {"logrank": "log-rank", "gray": "Gray's test", "wald": "Wald", "fisher": "Fisher's exact"}


def _level_text(level) -> str:
    return tables.level_text(level) if isinstance(level, str) else ""


def _endpoint_label(row: pd.Series) -> str:
    name = row.get("endpoint")
    if isinstance(name, str) and name:
        return endpoints.endpoint(name).label
    return variable_label(str(row.get("variable") or "")) or "Estimate"


def estimate_label(row: pd.Series) -> str:
    """A reader's name for the estimate a scorecard entry belongs to (no statistic, no code names).

    'Overall survival at 3 years', 'Leukemia-free survival at 3 years, CAR-T to second HSCT (days) ≤90',
    'Relapse incidence, HR ATG-P vs ATG-F', 'CRS grade after CAR-T: 2, n'.
    """
    kind = row["kind"]
    factor = row.get("factor") if isinstance(row.get("factor"), str) and row.get("factor") else ""
    factor_label = FACTORS[factor].label if factor in FACTORS else factor
    if kind in ("km", "cif"):
        what = f"{_endpoint_label(row)} at {_time_label(float(row['time_days']))}"
        if factor:
            what += f", {factor_label} {_level_text(row.get('level'))}".rstrip()
        return what
    if kind == "p":
        what = f"{_endpoint_label(row)}: p"
        test = row.get("test")
        if isinstance(test, str) and test:
            what += f" ({_TEST_NAMES.get(test, test)})"
        if factor:
            what += f" by {factor_label}"
            if isinstance(row.get("level"), str) and row.get("level"):
                what += f", {_level_text(row['level'])} vs {_level_text(row.get('reference')) or 'reference'}"
        return what
    if kind == "hr":
        level, ref = _level_text(row.get("level")), _level_text(row.get("reference"))
        what = f"{_endpoint_label(row)}: HR, {factor_label} {level}"
        return what + (f" vs {ref}" if ref and ref != level else " (reference)")
    if kind in ("median", "range"):
        return f"{variable_label(row['variable'])}, {'median' if kind == 'median' else 'range'}"
    variable = str(row.get("variable") or "")
    category = row.get("category")
    what = variable_label(variable)
    if isinstance(category, str) and category:
        what += f": {_level_text(category)}"
    what += ", n" if kind == "count" else ""
    if factor:
        what += f" ({factor_label} {_level_text(row.get('level'))})"
    return what


#: Scorecard kinds a comparison with the paper leaves out under ``--min-cell``: our count or percentage next to the
#: paper's (or a mark saying they match) gives back a count the tables hide, and a range's ends are single patients'
#: values.
HIDDEN_WITH_MIN_CELL = ("count", "percent", "range")
#: What :meth:`Report.paper` says where ``--min-cell`` leaves nothing to compare.
COMPARISON_HIDDEN = (
    "With `--min-cell` the comparison with the paper leaves out counts, percentages and ranges: ours next to the "
    "paper's, or a mark saying they match, would give back the counts and single values the tables hide."
)


@dataclass
class Report:
    """One chapter's data: the loaded cohort and, for the bundled cohort, the scorecard.

    ``cohort_path`` is the CSV to load; ``is_bundled_cohort`` says whether comparisons with
    the paper make sense; ``min_cell`` masks counts below it in count tables. ``enrolment`` is the flow from the
    cohort's screening log (``screening.csv`` beside the cohort file), None without one.
    """

    cohort_path: str
    is_bundled_cohort: bool = True
    min_cell: int | None = None
    cohort: pd.DataFrame = field(init=False)
    card: pd.DataFrame | None = field(init=False, default=None)
    enrolment: EnrolmentFlow | None = field(init=False, default=None)
    _labels: dict | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.cohort = load_cohort(self.cohort_path)
        self.enrolment = flow_beside(self.cohort_path, self.cohort["patient_id"])
        if self.is_bundled_cohort:
            registry = published.load_registry()
            card = scorecard.reproduce(self.cohort, registry, self.enrolment)
            extra = registry[["id", "variable", "category", "test", "reference", "duplicate_of", "reason"]]
            self.card = card.merge(extra, on="id", how="left")

    @property
    def n(self) -> int:
        """Number of patients in the cohort."""
        return len(self.cohort)

    def entries(self, ids: list[str] | None = None, prefix: str | None = None, **where) -> pd.DataFrame:
        """Scorecard rows selected by exact ids, an id prefix and/or column values (first printing only)."""
        if self.card is None:
            return pd.DataFrame()
        card = self.card
        mask = pd.Series(True, index=card.index)
        if ids is not None:
            mask &= card["id"].isin(ids)
        if prefix is not None:
            mask &= card["id"].str.startswith(prefix)
        for column, value in where.items():
            values = value if isinstance(value, (list, tuple, set)) else [value]
            mask &= card[column].isin(values)
        if ids is None:
            mask &= card["duplicate_of"].fillna("").eq("")
        rows = card[mask]
        if ids is not None:
            rows = rows.set_index("id").loc[[i for i in ids if i in set(rows["id"])]].reset_index()
        return rows

    def paper(self, ids: list[str] | None = None, prefix: str | None = None, **where):
        """The paper's values next to the reproduced ones, misses marked; a note if not bundled. With ``min_cell``
        the counts, percentages and ranges are left out (:data:`HIDDEN_WITH_MIN_CELL`), and a note stands for a
        comparison of nothing else."""
        if self.card is None:
            return Text("Comparison with the paper is shown only for the bundled synthetic cohort.")
        rows = self.entries(ids, prefix, **where)
        if rows.empty:
            raise ValueError(f"no published entries match ids={ids} prefix={prefix} {where}")
        if privacy.masking(self.min_cell):
            rows = rows[~rows["kind"].isin(HIDDEN_WITH_MIN_CELL)]
            if rows.empty:
                return Text(COMPARISON_HIDDEN)
        if self._labels is None:
            self._labels = comparison.entry_labels(self.card, estimate_label)
        return comparison.compact(rows, estimate_label, self._labels, variable_label)

    def published_points(self, endpoint_names: list[str], time: str = "3y") -> dict:
        """The paper's printed ``time`` estimates of whole-cohort endpoints for a figure: label -> (day, est, lo, up).

        Read from the registry (the paper layer) on the bundled cohort only; empty on a user's cohort.
        """
        if self.card is None:
            return {}
        printed = published.load_registry().set_index("id")
        out = {}
        for name in endpoint_names:
            ids = [f"res.{name}.{time}.{s}" for s in ("est", "lo", "up")]
            if all(i in printed.index for i in ids):
                est, lo, up = (float(printed.loc[i, "value"]) for i in ids)
                out[endpoints.endpoint(name).label] = (float(printed.loc[ids[0], "time_days"]), est, lo, up)
        return out

    def published_hrs(self, endpoint_name: str) -> dict:
        """The paper's Table 4 hazard ratios of one endpoint: (factor, level) -> (hr, lower, upper).

        Read from the registry (the paper layer) on the bundled cohort only; empty on a user's cohort.
        """
        if self.card is None:
            return {}
        reg = published.load_registry()
        rows = reg[reg["id"].str.startswith(f"t4.{endpoint_name}.") & (reg["kind"] == "hr")]
        out = {}
        for (factor, level), group in rows.groupby(["factor", "level"]):
            values = group.set_index("stat")["value"]
            if {"value", "lower", "upper"} <= set(values.index):
                out[str(factor), str(level)] = (float(values["value"]), float(values["lower"]), float(values["upper"]))
        return out

    def key_results(self, ids: list[str] | None = None, prefix: str | None = None, **where):
        """The box that opens a chapter: its headline estimates, paper vs ours, misses named (as HTML).

        Beside a printed NRM that no cohort can meet, because the paper's LFS, relapse and NRM break the identity
        1 − LFS = RI + NRM, the box says so: NRM, a secondary endpoint, takes up the gap
        (:func:`hsct_analysis.paper.headline.identity_proofs`), and the group's LFS and relapse are held, or where
        this cohort misses one, by how much (:func:`hsct_analysis.paper.headline.identity_held`).
        """
        from IPython.display import HTML

        if self.card is None:
            return HTML("")
        rows = self.entries(ids, prefix, **where)
        notes = identity_gap_notes(rows, self.card)
        return HTML(comparison.key_results_html(self.paper(ids, prefix, **where), notes=notes))


def identity_gap_notes(rows: pd.DataFrame, card: pd.DataFrame | None = None) -> dict[str, str]:
    """Estimate label -> the sentence that says why a printed NRM cannot be met (the identity gap it absorbs),
    and, from the scorecard ``card``, whether this cohort holds the group's LFS and relapse."""
    from hsct_analysis.paper import headline

    registry = published.load_registry()
    proofs = headline.identity_proofs(registry)
    held = None if card is None else headline.identity_held(card, registry)
    notes = {}
    for _, row in rows.iterrows():
        if row.get("endpoint") != "nrm" or row.get("kind") not in ("km", "cif") or row.get("stat") != "value":
            continue
        factor = row.get("factor") if isinstance(row.get("factor"), str) else ""
        level = row.get("level") if isinstance(row.get("level"), str) else ""
        hit = proofs[
            (proofs["factor"] == factor)
            & (proofs["level"] == level)
            & ((proofs["time_days"].astype(float) - float(row["time_days"])).abs() < 1e-6)
        ]
        if hit.empty:
            continue
        p = hit.iloc[0]
        notes[estimate_label(row) + ", %"] = (
            f"NRM takes up the paper's identity gap: its LFS {p['lfs']:g}, relapse {p['relapse']:g} and NRM "
            f"{p['nrm']:g} break 1 − LFS = relapse + NRM by {p['gap']:+.1f} points, so no cohort can match all "
            f"three. {_held_text(held, factor, level, p['time_days'])}; NRM, a secondary endpoint, absorbs the gap "
            f"(any cohort with LFS and relapse within tolerance has NRM {p['nrm_reachable_low']:.1f}–"
            f"{p['nrm_reachable_high']:.1f})."
        )
    return notes


def _held_text(held: pd.DataFrame | None, factor: str, level: str, time_days: float) -> str:
    """What the cohort holds of a group's LFS and relapse (:func:`~hsct_analysis.paper.headline.identity_held`)."""
    if held is None:
        return "The calibration holds LFS, a primary endpoint, and relapse"
    kept = held[(held["factor"] == factor) & (held["level"] == level) & (held["time_days"] == time_days)]
    if kept.empty:
        return "Another check finds this group's LFS and relapse inconsistent as well, so they are not targets"
    names = {"lfs": "LFS", "relapse": "relapse"}
    missed = kept[~kept["passed"]]
    if missed.empty:
        if len(kept) == 2:
            return "LFS, a primary endpoint, and relapse are held (both within tolerance here)"
        only = {"lfs": "LFS, a primary endpoint,", "relapse": "Relapse"}[kept["endpoint"].iloc[0]]
        return f"{only} is held (within tolerance here)"
    return "The cohort is calibrated to hold LFS, a primary endpoint, and relapse, but here " + " and ".join(
        f"{names[m.endpoint]} is {m.ours:.1f} against the printed {m.paper:g}" for m in missed.itertuples(index=False)
    )


#: The estimates that open each report chapter's key-results box (registry ids, first printing).
CHAPTER_KEY_IDS = {
    "01_cohort": [
        *(f"t1.age_first_hsct.{s}" for s in ("median", "min", "max")),
        *(f"t2.age_second_hsct.{s}" for s in ("median", "min", "max")),
        "t1.sex.male.n",
        "t1.sex.male.pct",
        *(f"res.days_cart_to_second_hsct.{s}" for s in ("median", "min", "max")),
    ],
    "02_engraftment": [
        *(f"res.neutrophil_engraftment_days.{s}" for s in ("median", "min", "max")),
        *(f"res.platelet_engraftment_days.{s}" for s in ("median", "min", "max")),
        "res.neutrophil_engraftment.30d.est",
        *(f"res.platelet_engraftment.{t}.{s}" for t in ("30d", "60d") for s in ("est", "lo", "up")),
    ],
    "03_gvhd": [
        f"res.{e}.{s}"
        for e in ("agvhd_2_4.100d", "agvhd_3_4.100d", "cgvhd.2y", "cgvhd_extensive.2y")
        for s in ("est", "lo", "up")
    ],
    "04_infections_deaths": [
        *(f"res.{e}.100d.{s}" for e in ("cmv", "ebv") for s in ("est", "lo", "up")),
        *(f"res.deaths.cause.{c}.{s}" for c in ("relapse", "infection", "GVHD") for s in ("n", "pct")),
    ],
    "06_univariate": [
        *(
            f"t3.{e}.cart_interval_90.{lv}.{s}"
            for e in ("lfs", "nrm")
            for lv in ("<=90", ">90")
            for s in ("est", "lo", "up")
        ),
        *(f"t3.{e}.cart_interval_90.p" for e in ("lfs", "os", "relapse", "nrm")),
    ],
    "07_multivariate": [
        *(f"t4.{e}.cart_interval_90.>90.{s}" for e in ("lfs", "os", "nrm") for s in ("est", "lo", "up")),
        *(f"t4.{e}.cart_interval_90.p" for e in ("lfs", "os", "nrm")),
        *(f"t4.lfs.cart_source.autologous.{s}" for s in ("est", "lo", "up")),
        "t4.lfs.cart_source.p",
    ],
    "08_scorecard": [
        f"res.{e}.{t}.{s}" for e in ("os", "lfs", "relapse", "nrm") for t in ("1y", "3y") for s in ("est", "lo", "up")
    ],
    "09_paper_estimator": [f"res.{e}.3y.{s}" for e in ("lfs", "relapse", "nrm") for s in ("est", "lo", "up")],
}


HEADLINE_IDS = [f"res.{e}.3y.{s}" for e in ("os", "lfs", "relapse", "nrm") for s in ("est", "lo", "up")] + [
    "t3.lfs.cart_interval_90.p",
    "t3.nrm.cart_interval_90.p",
]


def not_available(what: str, why: str) -> str:
    """The sentence a chapter prints when an analysis cannot be done on this cohort."""
    return f"**{what} is not available for this cohort:** {why}."


def _time_columns(times_days) -> list[str]:
    return [_time_label(float(t)) for t in times_days]


def incidence_table(
    cohort: pd.DataFrame, names: list[str], times_days: list[float], conf_level: float = 0.95
) -> pd.DataFrame:
    """Estimate (95% CI) in % of each endpoint at each time point; "not recorded" rows for missing endpoints.

    Rows are endpoint labels, columns time points ("100 days", "1 year", ...). KM endpoints use
    arcsine CIs, cumulative incidences log CIs (see :mod:`hsct_analysis.cohort.endpoints`).
    """
    available = [n for n in names if endpoints.is_available(cohort, n)]
    table = pd.DataFrame(index=[endpoints.endpoint(n).label for n in names], columns=_time_columns(times_days))
    if available:
        est = endpoints.estimates_at(cohort, available, list(times_days), conf_level)
        for r in est.itertuples():
            table.loc[r.label, _time_label(float(r.time_days))] = tables.format_estimate(
                r.estimate / 100, r.lower / 100, r.upper / 100
            )
    for n in set(names) - set(available):
        table.loc[endpoints.endpoint(n).label] = "not recorded"
    return table


def curves_figure(
    cohort: pd.DataFrame,
    names: list[str],
    times_months=(0, 6, 12, 24, 36, 48, 60),
    xlabel: str = "Months after second HSCT",
    conf_level: float = 0.95,
    min_cell: int | None = None,
    unit: str = "months",
):
    """One figure with the curves of several endpoints (all KM or all cumulative incidence).

    ``min_cell`` masks numbers at risk below it as ``"<min_cell"`` (``figures.plot_curves``).

    Returns the matplotlib Figure, or a "not available" sentence (Markdown text, so that it renders
    as text, not as a quoted string) when none of the endpoints was recorded in this cohort.
    """
    available = [n for n in names if endpoints.is_available(cohort, n)]
    if not available:
        labels = ", ".join(endpoints.endpoint(n).label for n in names)
        return Text(not_available(labels, "the cohort does not record it"))
    kinds = {endpoints.endpoint(n).method for n in available}
    if len(kinds) != 1:
        raise ValueError("curves_figure draws either KM or cumulative-incidence endpoints, not both")
    curves = {endpoints.endpoint(n).label: endpoints.curve(cohort, n, conf_level) for n in available}
    kind = "survival" if kinds == {"km"} else "incidence"
    return figures.plot_curves(
        curves, kind=kind, times_months=times_months, xlabel=xlabel, min_cell=min_cell, unit=unit
    )


def curves_by_figure(
    cohort: pd.DataFrame,
    name: str,
    factor_name: str,
    p_value: float | None = None,
    conf_level: float = 0.95,
    min_cell: int | None = None,
    label: str = "{level}",
    by: str | None = None,
):
    """One curve of endpoint ``name`` per level of ``factor_name`` (:func:`~hsct_analysis.cohort.endpoints.curves_by`)
    with its test's ``p_value`` heading the legend (left out when None or NaN), titled "<endpoint> by <by>" (``by``
    defaults to the factor's label); ``label`` formats each level's name as printed (``"≤ 90"``, e.g. with
    ``"{level} days"``).

    Returns the Figure, or a sentence (Markdown text) where there is none to draw: the endpoint is not recorded,
    fewer than two levels are present, or ``min_cell`` withholds a small group's curve
    (:func:`~hsct_analysis.book.figures.plot_curves`) or the figure of a factor that 1 to ``min_cell`` - 1 patients
    lack (:func:`~hsct_analysis.book.privacy.curves_withheld`)."""
    ep = endpoints.endpoint(name)
    title = f"{ep.label} by {by or FACTORS[factor_name].label}"
    if not endpoints.is_available(cohort, name):
        return Text(not_available(f"The figure of {title}", "the cohort does not record it"))
    curves = endpoints.curves_by(cohort, name, factor_name, conf_level)
    if len(curves) < 2:
        return Text(not_available(f"The figure of {title}", "fewer than two groups are present"))
    sizes = [len(sub) for sub in endpoints.groups(cohort, factor_name).values()]
    unrecorded = len(cohort) - sum(sizes)
    if privacy.curves_withheld(sizes, min_cell, unrecorded) and not privacy.curves_withheld(sizes, min_cell):
        why = privacy.curves_withheld_why(sizes, min_cell, unrecorded, FACTORS[factor_name].label)
        return Text(f"**The figure of {title} is not shown with `--min-cell {int(min_cell)}`:** {why}.")
    return figures.plot_curves(
        {label.format(level=tables.level_text(level)): curve for level, curve in curves.items()},
        kind="survival" if ep.method == "km" else "incidence",
        p_value=p_value if p_value is not None and np.isfinite(p_value) else None,
        test_name=ep.test_name,
        title=title,
        min_cell=min_cell,
        cohort_curve=endpoints.curve(cohort, name, conf_level) if privacy.masking(min_cell) else None,
    )


def event_counts(cohort: pd.DataFrame, column: str, levels=None, min_cell: int | None = None):
    """Patients per value of ``column`` as "n (% of those with a value)", counts below ``min_cell`` masked.

    When no patient has a value (e.g. causes of death in a cohort where nobody died) there is no
    table: the "not available" sentence is returned instead, as Markdown text.
    """
    values = cohort[column].dropna().astype(str)
    if values.empty:
        return Text(not_available(f"The table of {column}", f"no patient has a recorded {column}"))
    levels = list(levels) if levels is not None else list(values.value_counts().index)
    total = len(values)
    counts = [int((values == level).sum()) for level in levels]
    # the levels add up to the total in the header: complementary suppression over the whole column
    cells = privacy.n_percent_line(counts, total, min_cell)
    if privacy.masking(min_cell) and privacy.suppress_line(counts, min_cell)[2]:
        return Text(
            not_available(
                f"The table of {column}", f"its counts cannot be shown without revealing fewer than {min_cell} patients"
            )
        )
    header = f"n (%) of {privacy.count_text(total, min_cell)}"
    return pd.DataFrame({header: cells}, index=levels)
