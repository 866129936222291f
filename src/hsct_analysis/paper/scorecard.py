"""The reproduction scorecard: every number the paper prints, recomputed on a cohort.

:func:`reproduce` takes a loaded cohort (:func:`hsct_analysis.cohort.load_cohort`) and the
published-results registry (:func:`hsct_analysis.paper.registry.load_registry`) and returns one
row per registry row with ``published``, ``reproduced``, ``difference``, ``tolerance``,
``passed``, ``conflict`` (the audit marked the published number inconsistent) and
``method`` (how the number was computed). The tolerances are FIXED, never tuned to a cohort;
they live in :mod:`hsct_analysis.paper.tolerances`, which the synthetic-cohort calibration reads too.

KM estimates use :func:`hsct_analysis.stats.survival.kaplan_meier` (arcsine CI) and cumulative
incidences :func:`hsct_analysis.stats.competing.cumulative_incidence` (log CI), both through
:mod:`hsct_analysis.cohort.endpoints`; p-values use the log-rank test (OS, LFS), Gray's test
(competing endpoints) or Fisher's exact / chi-square test (counts). Table 4 HRs refit the
paper's multivariable models through :func:`hsct_analysis.paper.models.fit_model` (Cox for LFS
and OS, Fine-Gray for RI and NRM), the route the book's Table 4 chapter uses too.

``python -m hsct_analysis.paper.scorecard`` writes ``data/scorecard.csv`` and prints the summary.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hsct_analysis.cohort import CohortError, endpoints, plain_numbers
from hsct_analysis.cohort.enrolment import SCREENING_LOG, EnrolmentError, EnrolmentFlow, flow_beside
from hsct_analysis.cohort.factors import FACTORS, factor
from hsct_analysis.paper import models
from hsct_analysis.paper.tolerances import (  # noqa: F401 - re-exported: chapters quote the rules
    BOUND_TOL_PP,
    DAYS_TOL,
    ESTIMATE_TOL_PP,
    HR_BOUND_FACTOR,
    HR_FACTOR,
    P_ALPHA,
    P_FACTOR,
    UNIT_TOL,
    absolute_tolerance,
    ratio_tolerance,
    tolerance_text,
    within_tolerance,
)

CARD_COLUMNS = [
    "id",
    "source",
    "kind",
    "stat",
    "endpoint",
    "factor",
    "level",
    "time_days",
    "unit",
    "printed",
    "published",
    "reproduced",
    "difference",
    "tolerance",
    "passed",
    "conflict",
    "method",
]


def _difference(kind: str, published: float, reproduced: float) -> float:
    """reproduced - published (ratio reproduced / published for p and hr)."""
    if reproduced is None or not np.isfinite(reproduced) or not np.isfinite(published):
        return np.nan
    if kind in ("p", "hr"):
        return reproduced / published if published > 0 else np.nan
    return reproduced - published


# --------------------------------------------------------------------------- computing


@dataclass
class _Context:
    """A loaded cohort plus caches shared by the rows of one reproduction."""

    cohort: pd.DataFrame
    curves: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    masks: dict = field(default_factory=dict)
    published_n: float = 95.0
    enrolment: EnrolmentFlow | None = None

    def mask(self, factor_name: str, level: str) -> np.ndarray:
        key = (factor_name, level)
        if key not in self.masks:
            if not factor_name:
                self.masks[key] = np.ones(len(self.cohort), bool)
            else:
                self.masks[key] = (factor(self.cohort, factor_name).astype(object) == level).to_numpy(bool)
        return self.masks[key]


def _text(series: pd.Series) -> pd.Series:
    """Cell values as the text the registry uses (integral numbers without decimals)."""

    def one(v):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
            return str(int(v))
        return str(v)

    return series.astype(object).map(one)


#: Registry variables about treatment after the second HSCT, computed from the optional columns
#: (derived name -> (column, what it means)); a cohort that leaves such a column empty has not
#: recorded it, and those entries are reported as "not recorded", never as zero.
AFTER_SECOND = {
    "dli_after_second": "days_second_hsct_to_dli",
    "mrd_positive_after_second": "days_second_hsct_to_mrd_positive",
    "gvhd_death_dli_reason": "dli_reason",
}
AFTER_SECOND_COLUMNS = (
    "days_second_hsct_to_dli",
    "dli_reason",
    "days_second_hsct_to_mrd_positive",
    "mrd_positive_after_second_treatment",
    "gvhd_death_trigger",
)

#: Registry variables that are not properties of the enrolled cohort (the 99 screened patients, the 4 excluded
#: before enrolment): computed from the cohort's screening log (:mod:`hsct_analysis.cohort.enrolment`) when there
#: is one; otherwise reported as "not computable", and counted as misses.
NOT_IN_CONTRACT = {"patients"}


def _not_recorded(cohort: pd.DataFrame, variable: str) -> bool:
    """True when the column behind ``variable`` is absent or entirely empty in ``cohort``."""
    col = AFTER_SECOND.get(variable, variable)
    if col not in AFTER_SECOND_COLUMNS:
        return False
    return col not in cohort or bool((_text(cohort[col]) == "").all())


def _derived(cohort: pd.DataFrame, variable: str, category: str, row_id: str = "") -> np.ndarray | None:
    """Patients counted by a derived variable of paper/registry/README.md (None if unknown)."""
    c = cohort
    n = len(c)
    if variable in FACTORS:
        return (factor(c, variable).astype(object) == category).to_numpy(bool)
    if variable in ("deaths", "dead"):
        dead = pd.to_numeric(c["dead"]).to_numpy(float) == 1
        if variable == "dead" or category in ("", "all", "any"):
            return dead
        cause = _text(c["cause_of_death"]).to_numpy()
        if row_id.endswith("gvhd_any.n"):  # "the 14 patients who died from GVHD" (GVHD or TA-TMA+GVHD)
            return dead & np.array([category in str(x).split("+") for x in cause])
        return dead & (cause == category)
    if variable == "crs_grade":
        grade = _text(c["crs_grade"]).to_numpy()
        if category == "undetermined":
            return (_text(c["crs_after_cart"]).to_numpy() == "yes") & (grade == "")
        return grade == category
    if variable == "conditioning_sequence":
        a, b = _text(c["conditioning_first"]).to_numpy(), _text(c["conditioning_second"]).to_numpy()
        pair = np.array(["unknown" if x == "unknown" else f"{x}-{y}" for x, y in zip(a, b)])
        return pair == category
    if variable in ("dli_after_second", "mrd_positive_after_second"):
        return pd.to_numeric(c[AFTER_SECOND[variable]]).notna().to_numpy() & (category == "yes")
    if variable == "gvhd_death_dli_reason":  # why the DLI before a fatal GVHD was given
        dead = pd.to_numeric(c["dead"]).to_numpy(float) == 1
        trigger = _text(c["gvhd_death_trigger"]).to_numpy() == "DLI"
        return dead & trigger & (_text(c["dli_reason"]).to_numpy() == category)
    if variable == "first_hsct_kind":
        auto = _text(c["first_hsct_donor"]).to_numpy() == "auto"
        return auto if category == "auto" else ~auto
    mrd_first = (
        pd.to_numeric(c["days_first_hsct_to_mrd_positive"]).notna().to_numpy()
        if "days_first_hsct_to_mrd_positive" in c
        else np.zeros(n, bool)
    )
    relapsed_first = pd.to_numeric(c["days_first_hsct_to_relapse"]).notna().to_numpy()
    if variable == "first_hsct_failure":
        return mrd_first if category.startswith("MRD") else ~mrd_first
    if variable == "mrd_positive_then_relapse":
        return mrd_first & relapsed_first
    # inclusion criteria of the study: every enrolled patient had a new donor and was in CR/CRi
    if variable in ("donor_changed", "status_before_second_hsct", "response_after_cart"):
        return np.full(n, category in ("yes", "CR", "CR/CRi"))
    if variable == "patients" and category == "enrolled":
        return np.ones(n, bool)
    return None


def _numeric_column(cohort: pd.DataFrame, variable: str) -> np.ndarray | None:
    """A numeric column or a derived interval (days) named by the registry."""
    if variable in cohort.columns:
        return pd.to_numeric(cohort[variable], errors="coerce").to_numpy(float)
    if variable == "days_mrd_positive_to_relapse":
        return (
            pd.to_numeric(cohort["days_first_hsct_to_relapse"])
            - pd.to_numeric(cohort["days_first_hsct_to_mrd_positive"])
        ).to_numpy(float)
    return None


def _count(ctx: _Context, row) -> tuple[float, str]:
    mask = ctx.mask(row.factor, row.level)
    if _not_recorded(ctx.cohort, row.variable):
        return np.nan, f"not recorded: {AFTER_SECOND.get(row.variable, row.variable)} is empty in this cohort"
    if not row.variable:
        return float(mask.sum()), f"patients with {row.factor} = {row.level}" if row.factor else "patients"
    if row.variable == "patients" and row.category in ("screened", "excluded") and not row.factor:
        return _screening_count(ctx, str(row.category))
    if row.variable in ctx.cohort.columns and row.variable not in ("crs_grade", "dead"):
        hit = _text(ctx.cohort[row.variable]).to_numpy() == str(row.category)
        how = f"{row.variable} == {row.category}"
    else:
        hit = _derived(ctx.cohort, row.variable, str(row.category), row.id)
        if hit is None:
            return np.nan, _not_computed(row.variable)
        how = f"derived {row.variable} == {row.category}"
    where = f" among {row.factor} = {row.level}" if row.factor else ""
    return float((mask & hit).sum()), how + where


def _percent(ctx: _Context, row) -> tuple[float, str]:
    k, how = _count(ctx, row)
    denom = _denominator(ctx, row)
    return (100.0 * k / denom if denom else np.nan), f"100 * ({how}) / {denom}"


def _screening_count(ctx: _Context, category: str) -> tuple[float, str]:
    """Patients screened or excluded, from the screening log (NaN without one)."""
    flow = ctx.enrolment
    if flow is None:
        return np.nan, _not_computed("patients")
    log = Path(flow.source).name
    if category == "screened":
        return float(flow.screened), f"rows of the screening log {log}"
    return float(flow.n_excluded), f"rows of the screening log {log} with an exclusion reason"


def _not_computed(variable: str) -> str:
    if variable in NOT_IN_CONTRACT:
        return (
            f"not computable: {variable!r} is not a property of the enrolled cohort (screening before enrolment), "
            f"and no screening log ({SCREENING_LOG}) was given"
        )
    return f"unknown variable {variable!r}"


def _denominator(ctx: _Context, row) -> float:
    """Denominator of a percentage: the published one, recomputed where it is a cohort count."""
    if row.variable == "deaths":
        return float((pd.to_numeric(ctx.cohort["dead"]) == 1).sum())
    if row.factor:
        return float(ctx.mask(row.factor, row.level).sum())
    if not np.isfinite(row.denominator) or row.denominator == ctx.published_n:
        return float(len(ctx.cohort))
    return float(row.denominator)


def _median_range(ctx: _Context, row) -> tuple[float, str]:
    col = row.variable
    if _not_recorded(ctx.cohort, col):
        return np.nan, f"not recorded: {col} is empty in this cohort"
    x = _numeric_column(ctx.cohort, col)
    if x is None:
        return np.nan, _not_computed(col)
    x = x[ctx.mask(row.factor, row.level) & ~np.isnan(x)]
    if x.size == 0:
        return np.nan, f"no values of {col}"
    fn = {"min": np.min, "max": np.max}.get(row.stat, np.median)
    name = {"min": "minimum", "max": "maximum"}.get(row.stat, "median")
    return float(fn(x)), f"plain {name} of {col} (n={x.size})"


def _curve_value(ctx: _Context, row) -> tuple[float, str]:
    ep = endpoints.endpoint(row.endpoint)
    key = (row.endpoint, row.factor, row.level)
    if key not in ctx.curves:
        sub = ctx.cohort[ctx.mask(row.factor, row.level)]
        ctx.curves[key] = endpoints.curve(sub, row.endpoint) if len(sub) else None
    curve = ctx.curves[key]
    method = "Kaplan-Meier, arcsine CI" if ep.method == "km" else "cumulative incidence, log CI"
    if curve is None:
        return np.nan, method
    from hsct_analysis.stats.survival import value_at

    got = value_at(curve, float(row.time_days))
    if np.isnan(got["estimate"]) and float(row.time_days) > curve.index[-1] and _curve_is_final(curve, ep.method):
        got = curve.iloc[-1]  # everyone had the event (or died): the curve cannot change after its last time
    col = {"value": "estimate", "lower": "lower", "upper": "upper"}.get(row.stat, "estimate")
    v = float(got[col])
    if ep.method == "km" and row.kind == "cif":  # 1 - KM published as an incidence
        v = 1.0 - float(got[{"lower": "upper", "upper": "lower"}.get(col, col)])
    return 100.0 * v, f"{method} at {float(row.time_days):g} d"


def _curve_is_final(curve: pd.DataFrame, method: str) -> bool:
    """True when nobody is left at risk without an event: KM at 0, or no censoring in a CIF that reached its end."""
    last = curve.iloc[-1]
    if method == "km":
        return float(last["estimate"]) == 0.0
    return int(curve["censored"].sum()) == 0


def _p_value(ctx: _Context, row) -> tuple[float, str]:
    if row.endpoint:
        key = (row.endpoint, row.factor)
        if key not in ctx.tests:
            ctx.tests[key] = endpoints.compare(ctx.cohort, row.endpoint, row.factor).p_value
        ep = endpoints.endpoint(row.endpoint)
        return float(ctx.tests[key]), f"{ep.test_name} across {row.factor}"
    return _count_test(ctx, row)


def _count_test(ctx: _Context, row) -> tuple[float, str]:
    """Fisher's exact test (2x2) or chi-square test of ``variable`` by ``factor``."""
    if not row.factor or not row.variable:
        return np.nan, "p row without factor/variable"
    grp = factor(ctx.cohort, row.factor).astype(object)
    if row.variable in ctx.cohort.columns:
        val = _text(ctx.cohort[row.variable])
    else:
        hit = _derived(ctx.cohort, row.variable, str(row.category))
        if hit is None:
            return np.nan, f"unknown variable {row.variable!r}"
        val = pd.Series(np.where(hit, "yes", "no"), index=ctx.cohort.index)
    keep = grp.notna() & (val != "")
    table = pd.crosstab(grp[keep], val[keep]).to_numpy()
    if table.shape == (2, 2):
        return float(stats.fisher_exact(table)[1]), f"Fisher's exact test, {row.variable} by {row.factor}"
    return float(stats.chi2_contingency(table, correction=False)[1]), f"chi-square test, {row.variable} by {row.factor}"


def _hr(ctx: _Context, row, registry: pd.DataFrame) -> tuple[float, str]:
    if row.level and row.level == row.reference:
        return 1.0, "reference level (HR 1 by definition)"
    key = row.endpoint
    if key not in ctx.models:
        ctx.models[key] = fit_table4(ctx.cohort, row.endpoint, registry)
    model = ctx.models[key]
    if isinstance(model, str):
        return np.nan, model
    summary, how = model
    term = f"{row.factor}[{row.level}]"
    if term not in summary.index:
        return np.nan, f"{how}: term {term} not estimable"
    col = {"value": "hr", "lower": "hr_lower", "upper": "hr_upper"}.get(row.stat, "hr")
    if row.kind == "p":
        col = "p"
    return float(summary.loc[term, col]), how


def _wald_p(ctx: _Context, row, registry: pd.DataFrame) -> tuple[float, str]:
    """Wald p of a Table 4 term (level empty: the factor's only non-reference level)."""
    if not row.level:
        ref = table4_covariates(registry, row.endpoint).get(row.factor)
        levels = [lv for lv in FACTORS[row.factor].levels if lv != ref]
        row = row._replace(level=levels[0])
    value, how = _hr(ctx, row, registry)
    return value, f"Wald p, {how}"


def table4_covariates(registry: pd.DataFrame, endpoint: str) -> dict[str, str]:
    """Factor -> reference level of the paper's multivariable model for ``endpoint``."""
    rows = registry[(registry["kind"] == "hr") & (registry["endpoint"] == endpoint)]
    return {f: r for f, r in zip(rows["factor"], rows["reference"]) if f}


def fit_table4(cohort: pd.DataFrame | None, endpoint_name: str, registry: pd.DataFrame, data=None):
    """Table 4's model of ``endpoint_name`` refitted on ``cohort`` (the registry names its factors
    and reference levels) by :func:`hsct_analysis.paper.models.fit_paper_model` (``data``: its model
    frame, when the caller has it; then ``cohort`` is not read).

    Returns (summary, description) or a string saying why the model could not be fitted.
    """
    fit = models.fit_paper_model(cohort, endpoint_name, table4_covariates(registry, endpoint_name), data=data)
    return fit if isinstance(fit, str) else (fit[0].summary, fit[1])


def _registry_frame(registry: pd.DataFrame) -> pd.DataFrame:
    reg = registry.copy()
    for col in (
        "factor",
        "level",
        "variable",
        "category",
        "endpoint",
        "reference",
        "stat",
        "unit",
        "printed",
        "status",
        "source",
        "test",
    ):
        if col not in reg.columns:
            reg[col] = ""
        reg[col] = reg[col].fillna("").astype(str)
    for col in ("time_days", "value", "denominator"):
        reg[col] = pd.to_numeric(reg.get(col), errors="coerce")
    return reg


def reproduce(cohort: pd.DataFrame, registry: pd.DataFrame, enrolment: EnrolmentFlow | None = None) -> pd.DataFrame:
    """Every registry row recomputed on ``cohort`` (a loaded cohort) against the fixed tolerances; the patients
    screened and excluded before enrolment from ``enrolment``, the cohort's screening log (not computable without).

    ``conflict`` comes from the registry's audit ``status``; a registry that carries no
    status at all is audited first (:func:`audited`).

    Returns a DataFrame with columns :data:`CARD_COLUMNS` (published/reproduced in the
    printed unit: percent 0-100, days, years, ...; ``difference`` is reproduced - published,
    or the ratio reproduced / published for p and hr).
    """
    reg = _registry_frame(audited(registry))
    cohort = plain_numbers(cohort)
    enrolled = reg.loc[(reg["variable"] == "patients") & (reg["category"] == "enrolled"), "value"]
    ctx = _Context(
        cohort, published_n=float(enrolled.iloc[0]) if len(enrolled) else float(len(cohort)), enrolment=enrolment
    )
    rows = []
    for r in reg.itertuples(index=False):
        try:
            value, method = _compute(ctx, r, reg)
        except Exception as exc:  # noqa: BLE001 - a failed entry is a miss with its reason
            value, method = np.nan, f"error: {type(exc).__name__}: {exc}"
        pub = float(r.value)
        rows.append(
            {
                "id": r.id,
                "source": r.source,
                "kind": r.kind,
                "stat": r.stat,
                "endpoint": r.endpoint,
                "factor": r.factor,
                "level": r.level,
                "time_days": r.time_days,
                "unit": r.unit,
                "printed": r.printed,
                "published": pub,
                "reproduced": value,
                "difference": _difference(r.kind, pub, value),
                "tolerance": tolerance_text(r.kind, r.stat, r.unit),
                "passed": bool(within_tolerance(r.kind, r.stat, r.unit, pub, value, r.printed)),
                "conflict": r.status == "inconsistent",
                "method": method,
            }
        )
    return pd.DataFrame(rows, columns=CARD_COLUMNS)


def _compute(ctx: _Context, r, reg: pd.DataFrame) -> tuple[float, str]:
    if r.kind == "count":
        return _count(ctx, r)
    if r.kind == "percent":
        return _percent(ctx, r)
    if r.kind in ("median", "range"):
        return _median_range(ctx, r)
    if r.kind in ("km", "cif"):
        return _curve_value(ctx, r)
    if r.kind == "p" and r.test == "wald":
        return _wald_p(ctx, r, reg)
    if r.kind == "p":
        return _p_value(ctx, r)
    if r.kind == "hr":
        return _hr(ctx, r, reg)
    return np.nan, f"unknown kind {r.kind!r}"


# --------------------------------------------------------------------------- summaries


def _table_of(card: pd.DataFrame) -> pd.Series:
    """Which file (table1 .. table4, text) an entry comes from, from its id prefix."""
    prefix = card["id"].astype(str).str.split(".").str[0]
    return prefix.map({"t1": "table1", "t2": "table2", "t3": "table3", "t4": "table4"}).fillna("text")


def summary(card: pd.DataFrame) -> pd.DataFrame:
    """Pass rates by table (file) and kind: entries, passed, rate (0-1), and over non-conflicting entries."""
    c = card.assign(table=_table_of(card))
    g = c.groupby(["table", "kind"])
    out = pd.DataFrame(
        {
            "entries": g.size(),
            "passed": g["passed"].sum().astype(int),
            "conflicts": g["conflict"].sum().astype(int),
        }
    )
    out["rate"] = out["passed"] / out["entries"]
    clean = c[~c["conflict"]].groupby(["table", "kind"])
    out["rate_non_conflicting"] = (clean["passed"].sum() / clean.size()).reindex(out.index)
    return out


def pass_rates(card: pd.DataFrame) -> dict[str, float]:
    """Overall pass rate, pass rate over non-conflicting entries, and over counts/percentages (0-1)."""
    clean = card[~card["conflict"].astype(bool)]
    counts = card[card["kind"].isin(["count", "percent"]) & ~card["conflict"].astype(bool)]
    return {
        "overall": float(card["passed"].mean()),
        "non_conflicting": float(clean["passed"].mean()) if len(clean) else float("nan"),
        "counts": float(counts["passed"].mean()) if len(counts) else float("nan"),
        "entries": int(len(card)),
    }


def miss_size(card: pd.DataFrame) -> pd.Series:
    """How far each entry is from its tolerance (0 = within; 1 = one tolerance outside; inf = not computed)."""
    out = []
    for r in card.itertuples(index=False):
        if r.reproduced is None or not np.isfinite(r.reproduced):
            out.append(np.inf)
        elif r.passed:
            out.append(0.0)
        elif r.kind in ("count", "percent"):
            out.append(max(abs(r.reproduced - r.published), 1.0))
        elif r.kind in ("p", "hr"):  # a p on the wrong side of 0.05 but within x2 counts as one tolerance out
            f = ratio_tolerance(r.kind, r.stat)
            ratio = abs(math.log(max(r.reproduced, 1e-300) / r.published)) / math.log(f) if r.published > 0 else np.inf
            out.append(max(ratio, 1.0))
        else:
            out.append(abs(r.reproduced - r.published) / absolute_tolerance(r.kind, r.stat, r.unit))
    return pd.Series(out, index=card.index, name="miss")


def worst(card: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """The ``k`` entries furthest outside their tolerance (miss in units of the tolerance)."""
    c = card.assign(miss=miss_size(card))
    c = c[c["miss"] > 0].sort_values(["conflict", "miss"], ascending=[True, False])
    return c.head(k)[["id", "kind", "stat", "published", "reproduced", "tolerance", "miss", "conflict", "method"]]


def audited(registry: pd.DataFrame) -> pd.DataFrame:
    """The registry with the audit's ``status``/``reason`` (run here if the files do not carry it yet)."""
    status = registry.get("status")
    if status is not None and status.fillna("").astype(str).ne("").any():
        return registry
    try:
        from hsct_analysis.paper import audit
    except ImportError:  # pragma: no cover - the audit module is optional
        return registry
    return audit.audit(registry)[0]


def scorecard_for(path_or_frame, registry: pd.DataFrame | None = None, enrolment=None) -> pd.DataFrame:
    """Load a cohort (CSV path or generator DataFrame) and the registry, and reproduce. The screening log:
    ``enrolment`` (an :class:`~hsct_analysis.cohort.enrolment.EnrolmentFlow`) or, for a path, the log beside
    it (:func:`hsct_analysis.cohort.enrolment.flow_beside`)."""
    from hsct_analysis import cohort as cohort_mod

    if isinstance(path_or_frame, pd.DataFrame):
        c = path_or_frame if "os_time" in path_or_frame.columns else cohort_mod.load_cohort_frame(path_or_frame)
    else:
        c = cohort_mod.load_cohort(path_or_frame)
        if enrolment is None:
            enrolment = flow_beside(path_or_frame, c["patient_id"])
    if registry is None:
        from hsct_analysis.paper import registry as published

        registry = published.load_registry()
    return reproduce(c, audited(registry), enrolment)


def main(argv: list[str] | None = None) -> int:
    """``python -m hsct_analysis.paper.scorecard [--cohort data/cohort.csv] [--out data/scorecard.csv]`` (the
    screening log: the ``screening.csv`` beside the cohort, when there is one)."""
    p = argparse.ArgumentParser(prog="python -m hsct_analysis.paper.scorecard")
    p.add_argument("--cohort", default="data/cohort.csv")
    p.add_argument("--out", default="data/scorecard.csv")
    a = p.parse_args(argv)
    try:
        card = scorecard_for(a.cohort)
    except (CohortError, EnrolmentError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        card.to_csv(a.out, index=False, float_format="%.6g", lineterminator="\n")
    except OSError as exc:
        print(f"error: cannot write the scorecard to {a.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 200)
    print(summary(card).to_string(float_format=lambda v: f"{v:.3f}"))
    print(pass_rates(card))
    print(worst(card).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
