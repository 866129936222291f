"""Internal-consistency audit of the paper's numbers (the published-results registry).

Every check is a small generic function applied to all rows of the registry; nothing here
lists a known problem by hand. A check returns findings, one per problem, with

- ``check``: the check's name, ``ids``: the registry ids involved (``;``-joined),
- ``reason``: what is wrong, in words and numbers, ``magnitude``: the size of the problem
  (percentage points, patients, or the ratio/difference named in the reason),
- ``marks``: ``inconsistent`` (the rows are marked) or ``reported`` (shown, rows stay ok).

``audit(registry)`` runs all checks and returns the registry with ``status``/``reason``
filled in and the findings table. Percent values are on the 0-100 scale; times are days.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from hsct_analysis.paper.registry import COLUMNS, REGISTRY_DIR, group_size, lookup, read_registry_file
from hsct_analysis.paper.tolerances import ESTIMATE_TOL_PP, round_half_up

FINDING_COLUMNS = ["check", "ids", "reason", "magnitude", "marks"]
IDENTITY_TOLERANCE_PP = 1.0  # |1 - LFS - (RI + NRM)| above this (percentage points) is flagged
SIMPLE_FRACTION_TOLERANCE = 0.05  # value * n / 100 this close to a whole number k -> "k/n"
HR_SEPARATION = (1e-3, 1e3)
#: Largest group the audit searches exhaustively for unreachable bounds (the paper's small groups have 7 and 11
#: patients; 11 take about 3 s, and each further patient about 3 times longer).
AUDIT_SEARCH_N = 11
Z95 = norm.ppf(0.975)

# Patients whom a Table 3 factor leaves out, as the paper states them: (variable, category)
# of the registry count that should make up the shortfall of the factor's group sizes.
TABLE3_EXCLUSIONS = {
    "relapse_timing": ("relapse_site", "MRD-only"),  # no relapse date: MRD-positive only
    "cart_source": ("cart_source", "unknown"),  # CAR-T given elsewhere, source unknown
    "crs": ("crs_after_cart", "unknown"),  # CRS data unavailable
    "conditioning_second": ("conditioning_second", "Mel"),  # the one Mel-based regimen
}


def _finding(check: str, ids, reason: str, magnitude: float, inconsistent: bool = True) -> dict:
    return {
        "check": check,
        "ids": ";".join(ids),
        "reason": reason,
        "magnitude": float(magnitude),
        "marks": "inconsistent" if inconsistent else "reported",
    }


def _findings(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def _canonical(registry: pd.DataFrame) -> pd.DataFrame:
    return registry[registry["duplicate_of"] == ""]


def _stem(row_id: str) -> str:
    return row_id.rsplit(".", 1)[0]


def _group_label(factor: str, level: str) -> str:
    return f"{factor} {level}" if factor else "whole cohort"


def _time_label(days: float) -> str:
    years = days / 365.25
    return f"{years:g} y" if days >= 365 and float(years).is_integer() else f"{days:g} d"


ENDPOINT_LABELS = {"lfs": "LFS", "os": "OS", "relapse": "RI", "nrm": "NRM"}


# --------------------------------------------------------------------------- estimate tables
def _outcome_table(registry: pd.DataFrame) -> pd.DataFrame:
    """Canonical LFS/OS/RI/NRM point estimates, one row per (factor, level, time_days).

    Columns ``lfs``, ``os``, ``relapse``, ``nrm`` (percent) and ``id_<endpoint>``.
    """
    rows = _canonical(registry)
    rows = rows[
        rows["kind"].isin(["km", "cif"])
        & (rows["stat"] == "value")
        & rows["endpoint"].isin(["lfs", "os", "relapse", "nrm"])
    ]
    keys = ["factor", "level", "time_days"]
    values = rows.pivot_table(index=keys, columns="endpoint", values="value", aggfunc="first")
    ids = rows.pivot_table(index=keys, columns="endpoint", values="id", aggfunc="first")
    table = values.join(ids.add_prefix("id_"))
    for endpoint in ("lfs", "os", "relapse", "nrm"):
        if endpoint not in table:
            table[endpoint] = np.nan
            table[f"id_{endpoint}"] = None
    return table.reset_index()


def check_identity(registry: pd.DataFrame) -> pd.DataFrame:
    """1 - LFS must equal RI + NRM (relapse and NRM are the two ways to lose LFS).

    Flags groups/times where ``|RI + NRM - (100 - LFS)| > 1.0`` percentage point; the gap
    (pp, positive when RI + NRM is larger) is the magnitude. Where the gap exceeds three times
    the scorecard's estimate tolerance no cohort can reproduce all three (see
    :func:`hsct_analysis.paper.headline.identity_proofs`); the reason then says which holds.
    """
    found = []
    for _, g in _outcome_table(registry).dropna(subset=["lfs", "relapse", "nrm"]).iterrows():
        gap = g["relapse"] + g["nrm"] - (100 - g["lfs"])
        if abs(gap) > IDENTITY_TOLERANCE_PP:
            reason = (
                f"{_group_label(g['factor'], g['level'])}, {_time_label(g['time_days'])}: "
                f"1-LFS = {100 - g['lfs']:.1f}% but RI + NRM = {g['relapse']:.1f} + {g['nrm']:.1f} = "
                f"{g['relapse'] + g['nrm']:.1f}% (gap {gap:+.1f} pp)"
            )
            if abs(gap) > 3 * ESTIMATE_TOL_PP:  # not even within the scorecard's +-1 pp each
                reason += (
                    f"; no cohort can meet all three within +-{ESTIMATE_TOL_PP:g} pp: the synthetic cohort is "
                    "calibrated to hold LFS (a primary endpoint) and RI unless another check finds them "
                    "inconsistent too, and NRM (a secondary endpoint) absorbs the gap"
                )
            found.append(_finding("identity", [g["id_lfs"], g["id_relapse"], g["id_nrm"]], reason, gap))
    return _findings(found)


def check_lfs_not_above_os(registry: pd.DataFrame) -> pd.DataFrame:
    """LFS <= OS and NRM <= 1 - OS: LFS events include all deaths; NRM deaths are deaths."""
    found = []
    for _, g in _outcome_table(registry).iterrows():
        where = f"{_group_label(g['factor'], g['level'])}, {_time_label(g['time_days'])}"
        if pd.notna(g["lfs"]) and pd.notna(g["os"]) and g["lfs"] > g["os"]:
            reason = f"{where}: LFS {g['lfs']:.1f}% > OS {g['os']:.1f}%"
            found.append(_finding("lfs_le_os", [g["id_lfs"], g["id_os"]], reason, g["lfs"] - g["os"]))
        if pd.notna(g["nrm"]) and pd.notna(g["os"]) and g["nrm"] > 100 - g["os"] + IDENTITY_TOLERANCE_PP:
            excess = g["nrm"] - (100 - g["os"])
            reason = (
                f"{where}: NRM {g['nrm']:.1f}% exceeds all-cause mortality 1-OS = {100 - g['os']:.1f}% "
                f"by {excess:.1f} pp (deaths without relapse cannot outnumber deaths)"
            )
            found.append(_finding("nrm_le_mortality", [g["id_nrm"], g["id_os"]], reason, excess))
    return _findings(found)


def check_lfs_equals_os_with_relapse(registry: pd.DataFrame) -> pd.DataFrame:
    """LFS == OS while RI > 0 is implausible.

    OS - LFS is the probability of being alive after a relapse. A relapse is an LFS event
    but not an OS event, so LFS == OS with RI > 0 means every relapsed patient had died by
    that time, at a KM step exactly matching the relapse step; flagged as implausible.
    """
    found = []
    for _, g in _outcome_table(registry).dropna(subset=["lfs", "os", "relapse"]).iterrows():
        if math.isclose(g["lfs"], g["os"]) and g["relapse"] > 0:
            reason = (
                f"{_group_label(g['factor'], g['level'])}, {_time_label(g['time_days'])}: "
                f"LFS = OS = {g['lfs']:.1f}% while RI = {g['relapse']:.1f}% > 0; a relapse lowers LFS "
                "but not OS, so equality needs every relapsed patient dead with identical KM steps"
            )
            found.append(_finding("lfs_equals_os", [g["id_lfs"], g["id_os"], g["id_relapse"]], reason, g["relapse"]))
    return _findings(found)


def check_subgroup_mixture(registry: pd.DataFrame) -> pd.DataFrame:
    """The groups of a factor that splits the whole cohort against the whole cohort (reported, not marked).

    Where a factor's groups hold every patient, the groups' printed estimates weighted by their sizes
    are compared with the whole cohort's printed estimate at the same time. On a cohort with no
    censoring before that time the two are equal exactly: each estimate is then a plain share of
    patients (event-free, or with the event), and the whole cohort's share is the groups' shares
    weighted by size. With censoring they can differ, but only as far as the groups are censored
    differently; a gap larger than the estimate tolerance (``ESTIMATE_TOL_PP``) is reported, with
    its size in percentage points (whole cohort minus weighted mean). It explains why subgroup
    estimates can miss where the whole cohort holds; it proves nothing, so no row is marked.
    """
    found = []
    table = _outcome_table(registry)
    whole = table[table["factor"] == ""].set_index("time_days")
    total = group_size(registry)
    for (factor, days), rows in table[table["factor"] != ""].groupby(["factor", "time_days"], sort=False):
        if days not in whole.index:
            continue
        try:
            sizes = np.array([group_size(registry, factor, level) for level in rows["level"]])
        except KeyError:
            continue
        if sizes.sum() != total:  # the groups leave patients out: no exact identity to compare with
            continue
        for endpoint in ("lfs", "os", "relapse", "nrm"):
            values = rows[endpoint].to_numpy(float)
            overall = float(whole.loc[days, endpoint])
            if np.isnan(values).any() or math.isnan(overall):
                continue
            mean = float(np.dot(sizes, values) / total)
            gap = overall - mean
            if abs(gap) <= ESTIMATE_TOL_PP:
                continue
            parts = ", ".join(f"{v:g}% of {n:g} ({lv})" for v, n, lv in zip(values, sizes, rows["level"]))
            reason = (
                f"{factor}, {ENDPOINT_LABELS[endpoint]} at {_time_label(days)}: the groups' {parts} weigh to "
                f"{mean:.1f}%, the whole cohort's is {overall:g}% ({gap:+.1f} pp); without censoring before "
                f"{_time_label(days)} the two are equal, so the difference needs groups censored differently"
            )
            ids = [*rows[f"id_{endpoint}"], whole.loc[days, f"id_{endpoint}"]]
            found.append(_finding("subgroup_mixture", ids, reason, gap, inconsistent=False))
    return _findings(found)


# --------------------------------------------------------------------------- percents and sums
def _decimals_printed(value: float, printed: str) -> int:
    """Decimals with which ``value`` is written in ``printed`` (``59.0`` -> 1, ``20%`` -> 0)."""
    for text in re.findall(r"\d+(?:\.\d+)?", printed):
        if math.isclose(float(text), value):
            return len(text.split(".")[1]) if "." in text else 0
    return 1


def _percent_explanation(count: float, denominator: float, printed: float, decimals: int, others) -> str:
    """Why a printed percent may differ from count/denominator: double rounding, truncation,
    or another denominator of the registry."""
    exact = 100 * count / denominator
    if math.isclose(round_half_up(round_half_up(exact, decimals + 1), decimals), printed):
        return f"consistent with rounding twice ({exact:.3f} → {round_half_up(exact, decimals + 1)} → {printed})"
    if math.isclose(math.floor(exact * 10**decimals + 1e-9) / 10**decimals, printed):
        return f"consistent with truncation ({exact:.3f} → {printed})"
    for other in sorted(o for o in others if o >= max(count, 1)):
        if other != denominator and math.isclose(round_half_up(100 * count / other, decimals), printed):
            return f"matches {count:g}/{other:g} = {100 * count / other:.2f}% (another denominator)"
    return "not explained by rounding, truncation or another denominator"


def check_percent_vs_count(registry: pd.DataFrame) -> pd.DataFrame:
    """A printed percent must equal 100 * count / denominator rounded as printed.

    Pairs ``<stem>.n`` with ``<stem>.pct``; flags differences beyond half a unit of the last
    printed decimal. Only the percent row is marked (the count is taken as printed). The
    magnitude is printed minus exact (percentage points).
    """
    counts = registry[(registry["kind"] == "count")].set_index("id")
    denominators = set(registry["denominator"].dropna()) | set(registry.loc[registry["kind"] == "count", "value"])
    found = []
    for _, pct in registry[registry["kind"] == "percent"].iterrows():
        count_id = _stem(pct["id"]) + ".n"
        if count_id not in counts.index or not pct["denominator"] > 0:
            continue
        count = counts.loc[count_id, "value"]
        exact = 100 * count / pct["denominator"]
        decimals = _decimals_printed(pct["value"], pct["printed"])
        if abs(pct["value"] - exact) > 0.5 * 10**-decimals + 1e-9:
            why = _percent_explanation(count, pct["denominator"], pct["value"], decimals, denominators)
            reason = (
                f"'{pct['printed']}': {count:g}/{pct['denominator']:g} ({count_id}) = {exact:.2f}% should print as "
                f"{round_half_up(exact, decimals):.{decimals}f}%, printed {pct['value']:.{decimals}f}%; {why}"
            )
            found.append(_finding("percent_vs_count", [pct["id"]], reason, pct["value"] - exact))
    return _findings(found)


def _section(source: str) -> str:
    return source.split(", row ")[0]


def _explain_shortfall(registry: pd.DataFrame, file: str, variable: str, shortfall: float) -> str | None:
    """The stated missing category that makes up a Table 3 shortfall, if its count matches."""
    if file != "table3" or variable not in TABLE3_EXCLUSIONS:
        return None
    missing_variable, missing_category = TABLE3_EXCLUSIONS[variable]
    rows = lookup(registry, canonical=True, kind="count", variable=missing_variable, category=missing_category)
    if len(rows) and math.isclose(rows["value"].iloc[0], shortfall):
        return f"{missing_variable} {missing_category} (n={shortfall:g}, stated in {rows['id'].iloc[0]})"
    return None


def check_category_sums(registry: pd.DataFrame) -> pd.DataFrame:
    """The counts of one variable's categories, printed together, must sum to the denominator.

    Groups count rows by (file, section, variable, factor, level, denominator), one row per
    category (first place). A sum above the denominator is inconsistent. A shortfall is
    reported; it marks rows inconsistent only in Tables 1-3 (complete breakdowns), unless a
    stated missing category makes it up (Table 3 exclusions: MRD-only relapse, unknown CAR-T
    source, unknown CRS, the Mel regimen). Prose lists in the text may be partial.
    """
    rows = registry[(registry["kind"] == "count") & registry["denominator"].notna()].copy()
    rows["section"] = rows["source"].map(_section)
    keys = ["file", "section", "variable", "factor", "level", "denominator"]
    found = []
    for (file, section, variable, factor, level, denominator), g in rows.groupby(keys, sort=False):
        g = g.drop_duplicates("category")
        if len(g) < 2:
            continue
        total = g["value"].sum()
        parts = "+".join(f"{v:g}" for v in g["value"])
        where = f"{section}: {variable}" + (f" within {factor} {level}" if factor else "")
        if total > denominator:
            reason = f"{where}: {parts} = {total:g} exceeds the denominator {denominator:g}"
            found.append(_finding("category_sum", list(g["id"]), reason, total - denominator))
        elif total < denominator:
            shortfall = denominator - total
            explained = _explain_shortfall(registry, file, variable, shortfall)
            reason = f"{where}: {parts} = {total:g} of {denominator:g} (shortfall {shortfall:g})"
            if explained:
                reason += f"; made up by the stated exclusion {explained}"
            elif file == "text":
                reason += "; a partial list in the prose (remaining categories not printed here)"
            else:
                reason += "; not explained by a stated missing category"
            inconsistent = explained is None and file != "text"
            found.append(_finding("category_sum", list(g["id"]), reason, -shortfall, inconsistent))
    return _findings(found)


# --------------------------------------------------------------------------- intervals, HRs, p
def _triples(registry: pd.DataFrame, kinds=("km", "cif", "hr")) -> pd.DataFrame:
    """Estimate/lower/upper side by side, one row per stem that has all three."""
    rows = registry[registry["kind"].isin(kinds)].copy()
    rows["stem"] = rows["id"].map(_stem)
    wide = rows.pivot_table(index="stem", columns="stat", values="value", aggfunc="first")
    wide = wide.dropna(subset=[c for c in ("value", "lower", "upper") if c in wide])
    if not {"value", "lower", "upper"} <= set(wide.columns):
        return pd.DataFrame(columns=["value", "lower", "upper"])
    return wide[["value", "lower", "upper"]]


def check_ci_order(registry: pd.DataFrame) -> pd.DataFrame:
    """A confidence interval must satisfy lower <= estimate <= upper."""
    found = []
    agreement = hr_p_agreement(registry)
    for stem, t in _triples(registry).iterrows():
        if not (t["lower"] <= t["value"] <= t["upper"]):
            reason = f"CI not ordered: estimate {t['value']:g}, lower {t['lower']:g}, upper {t['upper']:g}"
            reason += _hr_ci_reconstruction(agreement, t)
            size = max(t["lower"] - t["value"], t["value"] - t["upper"], t["lower"] - t["upper"])
            found.append(_finding("ci_order", [f"{stem}.est", f"{stem}.lo", f"{stem}.up"], reason, size))
    return _findings(found)


def _hr_ci_reconstruction(agreement: pd.DataFrame, t: pd.Series) -> str:
    """For an HR printed with a bound equal to itself: the Wald p implied by the other bound
    and, if it matches the printed p, the symmetric CI that bound implies."""
    if agreement.empty:
        return ""
    same = agreement[
        np.isclose(agreement["hr"], t["value"]) & np.isclose(agreement["lower"], t["lower"])
        & np.isclose(agreement["upper"], t["upper"])
    ]  # fmt: skip
    bounds = [b for b in (t["lower"], t["upper"]) if not math.isclose(b, t["value"])]
    if same.empty or len(bounds) != 1 or t["value"] <= 0 or bounds[0] <= 0:
        return ""
    other = bounds[0]
    implied = _wald_p(t["value"], other)
    printed_p = float(same["p"].iloc[0])
    mirror = t["value"] ** 2 / other
    low, high = sorted((other, mirror))
    text = f"; the p implied by HR {t['value']:g} and bound {other:g} is {implied:.4f} (printed p = {printed_p:g})"
    if round(implied, 3) == round(printed_p, 3) or abs(implied - printed_p) <= 0.0005:
        text += f": the CI was probably ({low:.2f}-{high:.2f}) with a bound misprinted"
    return text


def check_hr_separation(registry: pd.DataFrame) -> pd.DataFrame:
    """A hazard ratio above 1e3 or below 1e-3 signals separation (a level with no or all
    events); its estimate and CI are not meaningful, nor is the level's own p-value: it is the
    Wald test of that same estimate, a function of the HR and its CI alone."""
    hrs = registry[(registry["kind"] == "hr") & (registry["stat"] == "value")]
    agreement = hr_p_agreement(registry)
    own_p = {} if agreement.empty else dict(zip(agreement["id"], agreement["p_id"]))
    levels = dict(zip(registry["id"], registry["level"].fillna("")))
    levels_hr = hrs[hrs["level"].fillna("") != hrs["reference"].fillna("")]  # not the reference's printed HR 1
    terms = levels_hr.groupby(["file", "endpoint", "factor"])["id"].transform("size")
    one_df = dict(zip(levels_hr["id"], terms == 1))
    found = []
    for _, row in hrs.iterrows():
        if not HR_SEPARATION[0] <= row["value"] <= HR_SEPARATION[1]:
            stem = _stem(row["id"])
            ids = [i for i in (f"{stem}.est", f"{stem}.lo", f"{stem}.up") if i in set(registry["id"])]
            p_id = own_p.get(f"{stem}.est", "")
            # the level's own p, or the factor's when the factor has one HR row (a 1-df test is that Wald test)
            own = bool(p_id) and levels.get(p_id, "") == row["level"]
            wald = own or (bool(p_id) and one_df.get(row["id"], False))
            ids += [p_id] if wald else []
            whose = "the level's p" if own else "the factor's p (its only hazard ratio)"
            reason = (
                f"HR {row['printed']} ({row['endpoint']}, {row['level']} vs {row['reference']}): "
                "separation: a level with no/complete events, the model did not converge to a finite HR"
                + (f"; {whose} is the Wald test of that estimate" if wald else "")
            )
            found.append(_finding("hr_separation", ids, reason, math.log10(row["value"])))
    return _findings(found)


def _wald_p(hr: float, bound: float) -> float:
    """Two-sided Wald p implied by an HR and one 95% CI bound (symmetric on the log scale)."""
    if not (hr > 0 and bound > 0) or math.isclose(hr, bound):
        return float("nan")
    se = abs(math.log(hr) - math.log(bound)) / Z95
    return float(2 * norm.sf(abs(math.log(hr)) / se))


def hr_p_agreement(registry: pd.DataFrame) -> pd.DataFrame:
    """Each (canonical) HR with its CI and p: does the CI exclude 1 exactly when p < 0.05?

    Columns: id, endpoint, factor, level, reference, hr, lower, upper, p, p_id,
    ci_excludes_1, p_below_005, agree, p_from_lower, p_from_upper (the Wald p implied by the
    HR and each bound alone; for a valid CI both equal the printed p up to rounding).
    """
    triples = _triples(_canonical(registry), kinds=("hr",))
    canon = _canonical(registry)
    p_rows = canon[canon["kind"] == "p"]
    out = []
    for stem, t in triples.iterrows():
        row = canon[canon["id"] == f"{stem}.est"].iloc[0]
        same = p_rows[
            (p_rows["file"] == row["file"])
            & (p_rows["endpoint"] == row["endpoint"])
            & (p_rows["factor"] == row["factor"])
        ]
        match = same[same["level"] == row["level"]]
        if match.empty:
            match = same[same["level"] == ""]
        if match.empty:
            continue
        p = float(match["value"].iloc[0])
        lo, hi = min(t["lower"], t["upper"]), max(t["lower"], t["upper"])
        excludes = bool(lo > 1 or hi < 1)
        out.append(
            {
                "id": row["id"], "endpoint": row["endpoint"], "factor": row["factor"], "level": row["level"],
                "reference": row["reference"], "hr": t["value"], "lower": t["lower"], "upper": t["upper"],
                "p": p, "p_id": match["id"].iloc[0], "ci_excludes_1": excludes, "p_below_005": p < 0.05,
                "agree": excludes == (p < 0.05),
                "p_from_lower": _wald_p(t["value"], t["lower"]), "p_from_upper": _wald_p(t["value"], t["upper"]),
            }
        )  # fmt: skip
    return pd.DataFrame(out)


def check_p_vs_ci(registry: pd.DataFrame) -> pd.DataFrame:
    """An HR whose 95% CI excludes 1 should have p < 0.05, and vice versa."""
    found = []
    table = hr_p_agreement(registry)
    for _, r in table[~table["agree"]].iterrows() if len(table) else []:
        reason = (
            f"HR {r['hr']:g} ({r['lower']:g}-{r['upper']:g}) {'excludes' if r['ci_excludes_1'] else 'includes'} 1 "
            f"but p = {r['p']:g}"
        )
        found.append(_finding("p_vs_ci", [r["id"], r["p_id"]], reason, r["p"]))
    return _findings(found)


def check_median_in_range(registry: pd.DataFrame) -> pd.DataFrame:
    """A median must lie within its printed range (min <= median <= max)."""
    rows = registry[registry["kind"].isin(["median", "range"])].copy()
    rows["stem"] = rows["id"].map(_stem)
    rows["part"] = rows["id"].str.rsplit(".", n=1).str[1]
    wide = rows.pivot_table(index="stem", columns="part", values="value", aggfunc="first")
    found = []
    for stem, r in wide.dropna(subset=[c for c in ("median", "min", "max") if c in wide]).iterrows():
        if not r["min"] <= r["median"] <= r["max"]:
            reason = f"median {r['median']:g} outside its range {r['min']:g}-{r['max']:g}"
            size = max(r["min"] - r["median"], r["median"] - r["max"])
            found.append(_finding("median_in_range", [f"{stem}.median", f"{stem}.min", f"{stem}.max"], reason, size))
    return _findings(found)


def check_duplicates(registry: pd.DataFrame) -> pd.DataFrame:
    """A number printed in several places (``duplicate_of``) must be the same everywhere."""
    by_id = registry.set_index("id")
    found = []
    for _, row in registry[registry["duplicate_of"] != ""].iterrows():
        first = by_id.loc[row["duplicate_of"]]
        if row["kind"] != first["kind"] or row["stat"] != first["stat"]:
            reason = f"duplicate_of names a {first['kind']}/{first['stat']} row for a {row['kind']}/{row['stat']} row"
            found.append(_finding("duplicate", [row["duplicate_of"], row["id"]], reason, float("nan")))
        elif not math.isclose(row["value"], first["value"], abs_tol=1e-12):
            reason = (
                f"the same number differs between places: {first['value']:g} in {first['source']}"
                + (f" ('{first['printed']}')" if first["source"] == row["source"] else "")
                + f" vs {row['value']:g} in {row['source']} ('{row['printed']}')"
            )
            found.append(_finding("duplicate", [row["duplicate_of"], row["id"]], reason, row["value"] - first["value"]))
    return _findings(found)


def check_unreachable_bounds(registry: pd.DataFrame) -> pd.DataFrame:
    """Confidence bounds that no cohort can meet together with the numbers around them, by proof
    (:mod:`hsct_analysis.paper.proofs`): an NRM upper bound that the log interval's geometry puts out of
    reach once the identity caps NRM and its lower bound is within tolerance
    (:func:`~hsct_analysis.paper.proofs.interval_pair_proofs`), and a bound of a small group that an
    exhaustive search rules out once its estimate is within tolerance
    (:func:`~hsct_analysis.paper.proofs.small_group_proofs`). Marks the bound the proof answers for, not
    its partner: one of a pair can hold. The magnitude is how far (pp) the printed bound lies from the
    reachable range."""
    from hsct_analysis.paper.headline import identity_proofs
    from hsct_analysis.paper.proofs import interval_pair_proofs, small_group_proofs

    found = []
    values = lookup(registry, canonical=True).set_index("id")["value"]
    for p in interval_pair_proofs(registry, identity_proofs(registry)).itertuples(index=False):
        found.append(_finding("unreachable_bound", [p.id], p.proof, float(values[p.id]) - p.upper_max))
    small = small_group_proofs(registry, max_n=AUDIT_SEARCH_N)
    for p in small[small["proof"] != ""].itertuples(index=False):
        value = float(values[p.id])
        found.append(
            _finding("unreachable_bound", [p.id], p.proof, max(p.reachable_low - value, value - p.reachable_high))
        )
    return _findings(found)


CHECKS = (
    check_identity,
    check_unreachable_bounds,
    check_lfs_not_above_os,
    check_lfs_equals_os_with_relapse,
    check_subgroup_mixture,
    check_percent_vs_count,
    check_category_sums,
    check_ci_order,
    check_hr_separation,
    check_p_vs_ci,
    check_median_in_range,
    check_duplicates,
)


# --------------------------------------------------------------------------- the audit


def _mark(registry: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """Status/reason from the findings; duplicates of a marked row with the same value follow it.

    Conflicts are marked per estimate: the CI bounds of an inconsistent estimate stay ``ok``
    unless a check names the bound itself (e.g. a CI that does not contain its estimate), so the
    scorecard counts them against their tolerance like any other number."""
    marked = registry.copy()
    marked["status"] = "ok"
    marked["reason"] = ""
    reasons: dict[str, list[str]] = {}
    for _, f in findings[findings["marks"] == "inconsistent"].iterrows():
        for row_id in f["ids"].split(";"):
            reasons.setdefault(row_id, []).append(f"{f['check']}: {f['reason']}")
    position = {row_id: i for i, row_id in enumerate(marked["id"])}
    for row_id, texts in reasons.items():
        i = marked.index[position[row_id]]
        marked.loc[i, "status"] = "inconsistent"
        marked.loc[i, "reason"] = " | ".join(dict.fromkeys(texts))
    values = dict(zip(marked["id"], marked["value"]))
    for i, row in marked[(marked["duplicate_of"] != "") & (marked["status"] == "ok")].iterrows():
        first = row["duplicate_of"]
        if first in reasons and math.isclose(row["value"], values[first], abs_tol=1e-12):
            marked.loc[i, "status"] = "inconsistent"
            marked.loc[i, "reason"] = f"same number as {first}: " + " | ".join(dict.fromkeys(reasons[first]))
    return marked


def audit(registry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every check. Returns (registry copy with ``status``/``reason``, findings table)."""
    parts = [found for found in (check(registry) for check in CHECKS) if len(found)]
    findings = pd.concat(parts, ignore_index=True) if parts else _findings([])
    findings = findings.astype({"magnitude": float})
    return _mark(registry, findings), findings


def write_status(directory: Path | str | None = None) -> pd.DataFrame:
    """Audit the registry in ``directory`` and write ``status``/``reason`` back into its CSVs.

    Only those two columns change; all other cells are written back as read. Returns the
    findings table.
    """
    from hsct_analysis.paper.registry import load_registry

    directory = REGISTRY_DIR if directory is None else Path(directory)
    marked, findings = audit(load_registry(directory))
    status = marked.set_index("id")[["status", "reason"]]
    for path in sorted(directory.glob("*.csv")):
        raw = read_registry_file(path).drop(columns="file")
        raw["status"] = raw["id"].map(status["status"])
        raw["reason"] = raw["id"].map(status["reason"])
        raw[list(COLUMNS)].to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return findings


# --------------------------------------------------------------------------- RI/NRM estimator
def identity_gaps(registry: pd.DataFrame) -> pd.DataFrame:
    """Per group and time: 1-LFS, RI, NRM, RI+NRM, the gap, and "simple fractions of n".

    For each of LFS, RI and NRM, ``<endpoint>_k`` is the whole number nearest value*n/100 and
    ``<endpoint>_simple`` says whether value*n/100 is within 0.05 of it (the estimate is
    k/n, as when nobody is censored before that time). Percent columns are on 0-100;
    ``gap`` = RI + NRM - (100 - LFS) in percentage points. Sorted by group size ``n``.
    """
    table = _outcome_table(registry).dropna(subset=["lfs", "relapse", "nrm"])
    out = []
    for _, g in table.iterrows():
        n = group_size(registry, g["factor"], g["level"])
        row = {
            "group": _group_label(g["factor"], g["level"]), "factor": g["factor"], "level": g["level"],
            "time_days": g["time_days"], "n": int(n), "lfs": g["lfs"], "os": g["os"],
            "relapse": g["relapse"], "nrm": g["nrm"], "one_minus_lfs": round(100 - g["lfs"], 2),
            "ri_plus_nrm": round(g["relapse"] + g["nrm"], 2),
            "gap": round(g["relapse"] + g["nrm"] - (100 - g["lfs"]), 2),
        }  # fmt: skip
        for endpoint in ("lfs", "relapse", "nrm"):
            x = g[endpoint] * n / 100
            row[f"{endpoint}_k"] = int(round(x))
            row[f"{endpoint}_simple"] = bool(abs(x - round(x)) <= SIMPLE_FRACTION_TOLERANCE)
        row["all_simple"] = row["lfs_simple"] and row["relapse_simple"] and row["nrm_simple"]
        out.append(row)
    return pd.DataFrame(out).sort_values(["time_days", "n", "group"]).reset_index(drop=True)


def identity_gap_pattern(registry: pd.DataFrame, time_days: float = 1095.75) -> pd.DataFrame:
    """Gap vs group size at one time: groups whose LFS, RI and NRM are all k/n vs the rest.

    One row per class (``all k/n`` / ``not k/n``): number of groups, smallest and largest n,
    and the mean, smallest and largest gap (percentage points). ``attrs["spearman_gap_n"]``
    holds the rank correlation of gap with n over all groups. Where every estimate is a
    fraction of n (no censoring before ``time_days``) the identity holds; where it is not,
    RI + NRM exceeds 1 - LFS, the pattern of an RI/NRM estimator that is not the
    Aalen-Johansen cumulative incidence matching the KM used for LFS.
    """
    gaps = identity_gaps(registry)
    gaps = gaps[np.isclose(gaps["time_days"], time_days)]
    gaps = gaps.assign(fraction_class=np.where(gaps["all_simple"], "all k/n", "not k/n"))
    summary = gaps.groupby("fraction_class").agg(
        groups=("gap", "size"),
        n_min=("n", "min"),
        n_max=("n", "max"),
        gap_mean=("gap", "mean"),
        gap_min=("gap", "min"),
        gap_max=("gap", "max"),
    )
    summary.attrs["spearman_gap_n"] = float(gaps["gap"].corr(gaps["n"], method="spearman"))
    summary.attrs["time_days"] = time_days
    return summary
