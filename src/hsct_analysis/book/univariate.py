"""Table 3: every risk factor against LFS, OS, relapse (RI) and NRM, one factor at a time.

For each factor of :data:`hsct_analysis.cohort.factors.FACTORS` and each level, the estimate at
one time point (default 3 years = 1095.75 days) with its confidence interval, in percent
(0-100), and per factor the p-value of the comparison across levels: log-rank for LFS and
OS, Gray's test for RI and NRM (both through :func:`hsct_analysis.cohort.endpoints.compare`).
Patients for whom a factor is undefined (e.g. unknown CAR-T source) drop out of that
factor's rows, as in the paper.

Where a comparison cannot be made (a factor with a single observed level, an endpoint the
cohort does not record, no event at all) the p-value is NaN and ``note`` says why; nothing
is guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hsct_analysis.book import privacy, tables
from hsct_analysis.cohort import (
    endpoints,
    plain_numbers,  # nullable integers -> float, so factors never meet pd.NA
)
from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.stats.survival import value_at
from hsct_analysis.stats.units import DAYS_PER_YEAR

#: The four endpoints of Table 3, in the paper's column order.
TABLE3_ENDPOINTS = ("lfs", "os", "relapse", "nrm")
THREE_YEARS_DAYS = 3 * DAYS_PER_YEAR
SHORT_LABEL = {"lfs": "LFS", "os": "OS", "relapse": "RI", "nrm": "NRM"}

EMPTY_FACTOR_NOTE = "no patient has a recorded value of this factor (every value is unknown or missing)"

COLUMNS = ["factor", "label", "level", "n", "endpoint", "time_days", "estimate", "lower", "upper", "p", "test", "note"]


def comparison_p(cohort: pd.DataFrame, endpoint_name: str, factor_name: str) -> tuple[float, str]:
    """p-value of ``endpoint_name`` across the levels of ``factor_name`` and a note (empty if computed).

    Log-rank (KM endpoints) or Gray's test (competing endpoints). NaN with the reason when
    fewer than two levels are observed or the test cannot be computed (e.g. no events).
    """
    observed = endpoints.groups(cohort, factor_name)
    if len(observed) < 2:
        return np.nan, f"only one level observed ({', '.join(observed) or 'none'}): nothing to compare"
    result = endpoints.compare(cohort, endpoint_name, factor_name)
    if not np.isfinite(result.p_value):
        return np.nan, "no events in the compared groups: the test is undefined"
    return float(result.p_value), ""


def factor_rows(
    cohort: pd.DataFrame, factor_name: str, endpoint_name: str, time_days: float, conf_level: float = 0.95
) -> list[dict]:
    """Rows of :func:`table3` for one factor and one endpoint (one per observed level)."""
    ep = endpoints.endpoint(endpoint_name)
    fac = FACTORS[factor_name]
    p, note = comparison_p(cohort, endpoint_name, factor_name)
    rows = []
    for level, sub in endpoints.groups(cohort, factor_name).items():
        curve = endpoints.curve(sub, endpoint_name, conf_level)
        at = value_at(curve, time_days)
        rows.append({
            "factor": factor_name, "label": fac.label, "level": level, "n": len(sub),
            "endpoint": endpoint_name, "time_days": time_days,
            "estimate": 100 * float(at["estimate"]), "lower": 100 * float(at["lower"]),
            "upper": 100 * float(at["upper"]), "p": p, "test": ep.test_name, "note": note,
        })  # fmt: skip
    return rows


def table3(
    cohort: pd.DataFrame,
    time_days: float = THREE_YEARS_DAYS,
    conf_level: float = 0.95,
    factors: list[str] | None = None,
    endpoint_names: tuple[str, ...] | list[str] = TABLE3_ENDPOINTS,
) -> pd.DataFrame:
    """Table 3 in long form: one row per (factor, level, endpoint).

    Columns: ``factor``, ``label`` (the factor's printed name), ``level``, ``n`` (patients
    in the level), ``endpoint``, ``time_days``, ``estimate``/``lower``/``upper`` (percent,
    KM with arcsine CI for LFS/OS, cumulative incidence with log CI for RI/NRM; NaN bounds
    where the estimate is 0, all NaN beyond the group's last follow-up), ``p`` (the factor's
    p-value, repeated on each level row), ``test`` and ``note`` (why a p is missing).
    Endpoints the cohort does not record are left out; ``attrs["unavailable"]`` lists them.
    A factor no patient has a value for (e.g. every CAR-T source unknown) has no rows;
    ``attrs["empty_factors"]`` maps its name to that reason.
    """
    cohort = plain_numbers(cohort)
    names = list(factors or FACTORS)
    usable = [e for e in endpoint_names if endpoints.is_available(cohort, e)]
    rows = []
    for factor_name in names:
        for endpoint_name in usable:
            rows += factor_rows(cohort, factor_name, endpoint_name, time_days, conf_level)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out.attrs["unavailable"] = [e for e in endpoint_names if e not in usable]
    out.attrs["empty_factors"] = {name: EMPTY_FACTOR_NOTE for name in names if not endpoints.groups(cohort, name)}
    out.attrs["time_days"] = time_days
    # patients without a level of the factor (e.g. CAR-T source unknown): the cohort's size is shown, so they are the
    # rest of each factor's sizes, and the privacy rules must count them (paper_layout)
    out.attrs["unrecorded"] = {
        name: len(cohort) - sum(len(sub) for sub in endpoints.groups(cohort, name).values()) for name in names
    }
    return out


def paper_layout(
    table: pd.DataFrame, min_cell: int | None = None, digits: int = 1, card: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Table 3 laid out as the paper prints it: one row per level, per endpoint an estimate and a p column.

    Rows are indexed by (factor label, level). With ``min_cell`` each factor's group sizes are one line of the
    privacy rules (:func:`hsct_analysis.book.privacy.suppress_line`: a size below it is masked, and another beside it
    so that the cohort's size less the others does not give it back), and a group whose size is masked shows no
    estimate (:func:`~hsct_analysis.book.privacy.not_shown`, with no paper line: its mark would say whether ours
    misses). Estimates read "52.2 (37.8-66.5)"; the
    factor's p-value sits on its first level row, as in the paper. With a scorecard ``card`` every cell gets a
    second line with the paper's value, "paper 53.9 (41.8-65.8)", and a ✗ where ours misses the tolerance.
    """
    years = table.attrs.get("time_days", THREE_YEARS_DAYS) / DAYS_PER_YEAR
    when = f"{years:g}-year" if float(years).is_integer() else f"{table.attrs.get('time_days'):g}-day"
    wide = {}
    keys = list(dict.fromkeys(zip(table["factor"], table["level"])))
    index = pd.MultiIndex.from_tuples(
        [(factor_heading(f), tables.level_text(lv)) for f, lv in keys], names=["Factor", "Level"]
    )
    first_of_factor = [i == 0 or keys[i - 1][0] != f for i, (f, _) in enumerate(keys)]
    sizes = table.drop_duplicates(["factor", "level"]).set_index(["factor", "level"])["n"]
    wide["n"] = _group_sizes(
        [int(sizes[k]) for k in keys], [f for f, _ in keys], min_cell, table.attrs.get("unrecorded", {})
    )
    # privacy rule 7: no p across groups one of which is small (nor the paper's beside it: its mark would tell)
    withheld = {f: privacy.p_withheld([int(sizes[k]) for k in keys if k[0] == f], min_cell) for f, _ in keys}
    for endpoint_name in dict.fromkeys(table["endpoint"]):
        part = table[table["endpoint"] == endpoint_name].set_index(["factor", "level"])
        short = SHORT_LABEL.get(endpoint_name, endpoint_name)
        ours = [_estimate_text(part.loc[k], digits) for k in keys]
        p_ours = [tables.format_p(part.loc[k, "p"]) if first else "" for k, first in zip(keys, first_of_factor)]
        if card is not None:
            ours = [
                _with_paper(text, card, f"t3.{endpoint_name}.{f}.{lv}", digits) for text, (f, lv) in zip(ours, keys)
            ]
            p_ours = [
                _with_paper(text, card, f"t3.{endpoint_name}.{f}", 3) if text else ""
                for text, (f, _) in zip(p_ours, keys)
            ]
        p_ours = [withheld[f] if text and withheld[f] else text for text, (f, _) in zip(p_ours, keys)]
        ours = [privacy.not_shown(n, min_cell) if isinstance(n, str) else t for t, n in zip(ours, wide["n"])]
        wide[f"{when} {short} % (95% CI)"] = ours
        wide[f"p ({short})"] = p_ours
    return pd.DataFrame(wide, index=index)


def _group_sizes(
    sizes: list[int], factors: list[str], min_cell: int | None, unrecorded: dict[str, int] | None = None
) -> list:
    """Group sizes (patients) with the privacy rules applied factor by factor: each factor's sizes, with its
    ``unrecorded`` patients (no level; the cohort's size is shown, so they are the rest), are one line whose total is
    known; a masked size is its mask's text ("<5" or "*"), the rest numbers."""
    out: list = list(sizes)
    for f in dict.fromkeys(factors):
        at = [i for i, g in enumerate(factors) if g == f]
        rest = (unrecorded or {}).get(f, 0)
        line, hide_all = privacy.suppress_counts(pd.Series([sizes[i] for i in at] + ([rest] if rest else [])), min_cell)
        for i, text in zip(at, line):
            out[i] = privacy.COMPLEMENTARY if hide_all and not isinstance(text, str) and text > 0 else text
    return out


def _with_paper(ours: str, card: pd.DataFrame, stem: str, digits: int) -> str:
    """Our cell text with the paper's value under it ("paper 53.9 (41.8-65.8)"), ✗ when ours misses."""
    rows = card[card["id"].str.startswith(stem + ".")]
    if stem.endswith(tuple(f".{f}" for f in FACTORS)):  # a p-value entry: ``t3.lfs.sex.p``
        rows = card[card["id"] == stem + ".p"]
    if rows.empty:
        return ours
    by_stat = {r.stat: r.published for r in rows.itertuples()}
    if rows["kind"].iloc[0] == "p":
        paper = tables.format_p(by_stat.get("value"))
    else:
        paper = tables.format_estimate(
            by_stat.get("value", np.nan) / 100,
            by_stat.get("lower", np.nan) / 100,
            by_stat.get("upper", np.nan) / 100,
            digits,
        )
    mark = "" if bool(rows["passed"].all()) else " ✗"
    return f"{ours}{mark}\npaper {paper}"


def factor_heading(factor_name: str) -> str:
    """The factor's printed label; factors sharing a label (two cuts of one interval) get their cut added."""
    fac = FACTORS[factor_name]
    if sum(f.label == fac.label for f in FACTORS.values()) > 1:
        return f"{fac.label}, {tables.level_text(fac.levels[0])} vs {tables.level_text(fac.levels[1])}"
    return fac.label


def _estimate_text(row: pd.Series, digits: int) -> str:
    """ "52.2 (37.8-66.5)"; "0" for a zero incidence (no interval); "NA" beyond follow-up."""
    if not np.isfinite(row["estimate"]):
        return "NA (follow-up too short)"
    if row["estimate"] == 0:
        return "0"
    return tables.format_estimate(row["estimate"] / 100, row["lower"] / 100, row["upper"] / 100, digits)


def p_values(table: pd.DataFrame) -> pd.DataFrame:
    """Factor x endpoint p-values of a :func:`table3` result (one row per factor, columns LFS, OS, RI, NRM)."""
    p = table.drop_duplicates(["factor", "endpoint"]).pivot(index="factor", columns="endpoint", values="p")
    p = p.reindex(index=list(dict.fromkeys(table["factor"])), columns=list(dict.fromkeys(table["endpoint"])))
    return p.rename(columns=SHORT_LABEL)
