"""The paper's headline claims, and why one of them cannot hold together with the others.

A reader checks the abstract first, so these numbers come first in the calibration of the
synthetic cohort and open the scorecard chapter:

- the whole-cohort 1- and 3-year OS, LFS, relapse incidence (RI) and NRM with their CIs;
- the comparison of second HSCT within 90 days of CAR-T against later: 3-year LFS, OS, RI and
  NRM per group with their CIs, and the four p-values (log-rank, Gray);
- Table 4's > 90-day rows for LFS, OS and NRM (HR, CI, p) and the autologous CAR-T row.

:func:`headline_ids` names them (canonical registry ids); :func:`headline_table` lays them out
from a scorecard with pass/fail; :func:`identity_proofs` proves, for each group and time where
the paper's LFS, RI and NRM cannot all come within tolerance, that they cannot: relapse and
death without relapse are the only ways to leave leukemia-free survival, so on any cohort the
Kaplan-Meier LFS and the Aalen-Johansen incidences satisfy 1 - LFS = RI + NRM exactly
(Putter et al. 2007). LFS and OS are the paper's primary endpoints, so where the identity
forbids all three, the calibration holds LFS (and RI) and NRM, a secondary endpoint, absorbs the gap;
:func:`identity_held` checks on a cohort how many of those LFS and RI estimates it holds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hsct_analysis.cohort.factors import FACTORS
from hsct_analysis.paper.proofs import interval_pair_proofs, interval_pair_windows, small_group_proofs
from hsct_analysis.paper.tolerances import BOUND_TOL_PP, ESTIMATE_TOL_PP

#: Times (days) of the whole-cohort headline estimates: 1 and 3 years.
HEADLINE_TIMES = (365.25, 1095.75)
#: The comparison the paper's conclusion rests on.
HEADLINE_FACTOR = "cart_interval_90"
#: Endpoints that absorb an identity gap, in order: NRM first (secondary, and the paper's
#: primary endpoints LFS and OS stay as printed).
ABSORBS_GAP = ("nrm",)
CORE = ("os", "lfs", "relapse", "nrm")


def _canonical(registry: pd.DataFrame) -> pd.DataFrame:
    reg = registry.copy()
    for col in ("duplicate_of", "factor", "level", "endpoint", "kind", "stat", "id"):
        reg[col] = reg[col].fillna("").astype(str)
    return reg[reg["duplicate_of"] == ""]


def headline_ids(registry: pd.DataFrame) -> list[str]:
    """Canonical registry ids of the headline claims, in reading order."""
    reg = _canonical(registry)
    whole = reg[
        reg["kind"].isin(["km", "cif"])
        & (reg["factor"] == "")
        & reg["endpoint"].isin(CORE)
        & reg["time_days"].isin(HEADLINE_TIMES)
    ]
    groups = reg[
        reg["id"].str.startswith("t3.") & (reg["factor"] == HEADLINE_FACTOR) & reg["kind"].isin(["km", "cif", "p"])
    ]
    table4 = reg[
        reg["id"].str.startswith("t4.")
        & ~reg["id"].str.endswith(".ref")
        & (
            ((reg["factor"] == HEADLINE_FACTOR) & reg["endpoint"].isin(["lfs", "os", "nrm"]))
            | ((reg["factor"] == "cart_source") & (reg["endpoint"] == "lfs"))
        )
    ]
    return list(whole["id"]) + list(groups["id"]) + list(table4["id"])


def absorbs_gap(row) -> bool:
    """Whether an estimate is one that takes up an identity gap (an inconsistent NRM estimate)."""
    return row["endpoint"] in ABSORBS_GAP and row.get("status", "") == "inconsistent"


def holds_in_identity(row) -> bool:
    """Whether an inconsistent estimate is LFS or RI whose only conflict is the identity
    1 - LFS = RI + NRM: the calibration holds it and lets NRM absorb the gap."""
    reason = str(row["reason"])
    return (
        row["endpoint"] in ("lfs", "relapse")
        and row["stat"] == "value"
        and reason.startswith("identity:")
        and " | " not in reason
    )


def identity_proofs(registry: pd.DataFrame, tolerance: float = ESTIMATE_TOL_PP) -> pd.DataFrame:
    """Groups and times where the printed LFS, RI and NRM cannot all be within ``tolerance``.

    On any cohort 1 - LFS = RI + NRM holds exactly at every time (percent). With each estimate
    allowed ``tolerance`` percentage points, all three can hold only if the printed gap
    RI + NRM - (100 - LFS) is at most 3 x ``tolerance`` in size. Where it is larger, the best
    any cohort can do with LFS and RI within tolerance leaves NRM at least ``|gap| - 2 x
    tolerance`` away from its printed value: that is the proof. Columns: group, factor, level,
    time_days, lfs, relapse, nrm, gap (pp), nrm_reachable_low/high (the NRM interval any cohort
    with LFS and RI in tolerance must fall in), min_nrm_miss (pp) and proof (in words).
    """
    reg = _canonical(registry)
    rows = reg[
        reg["kind"].isin(["km", "cif"]) & (reg["stat"] == "value") & reg["endpoint"].isin(["lfs", "relapse", "nrm"])
    ]
    wide = rows.pivot_table(index=["factor", "level", "time_days"], columns="endpoint", values="value", aggfunc="first")
    wide = wide.dropna(subset=["lfs", "relapse", "nrm"]).reset_index()
    out = []
    for r in wide.itertuples(index=False):
        gap = r.relapse + r.nrm - (100 - r.lfs)
        if abs(gap) <= 3 * tolerance + 1e-9:
            continue
        low = 100 - (r.lfs + tolerance) - (r.relapse + tolerance)
        high = 100 - (r.lfs - tolerance) - (r.relapse - tolerance)
        miss = max(r.nrm - high, low - r.nrm)
        group = f"{r.factor} {r.level}" if r.factor else "whole cohort"
        proof = (
            f"1 − LFS = RI + NRM on every cohort. With LFS in {r.lfs:g} ± {tolerance:g} and RI in "
            f"{r.relapse:g} ± {tolerance:g}, NRM = 100 − LFS − RI lies in [{low:.1f}, {high:.1f}]; "
            f"the printed {r.nrm:g} is {miss:.1f} pp outside it (more than the {tolerance:g} pp allowed), "
            f"because the paper's RI + NRM {'exceeds' if gap > 0 else 'falls short of'} 1 − LFS by {abs(gap):.1f} pp."
        )
        out.append(
            {
                "group": group,
                "factor": r.factor,
                "level": r.level,
                "time_days": r.time_days,
                "lfs": r.lfs,
                "relapse": r.relapse,
                "nrm": r.nrm,
                "gap": round(gap, 2),
                "nrm_reachable_low": round(low, 2),
                "nrm_reachable_high": round(high, 2),
                "min_nrm_miss": round(miss, 2),
                "proof": proof,
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "group",
            "factor",
            "level",
            "time_days",
            "lfs",
            "relapse",
            "nrm",
            "gap",
            "nrm_reachable_low",
            "nrm_reachable_high",
            "min_nrm_miss",
            "proof",
        ],
    )


def _factor_label(name: str) -> str:
    return FACTORS[name].label if name in FACTORS else name.replace("_", " ")


def _what(row) -> str:
    ep = {"os": "OS", "lfs": "LFS", "relapse": "RI", "nrm": "NRM"}.get(row["endpoint"], row["endpoint"])
    stat = {"value": "", "lower": " lower CI", "upper": " upper CI"}.get(row["stat"], "")
    if row["kind"] == "p":
        test = "Wald p" if str(row["id"]).startswith("t4.") else ("log-rank p" if ep in ("OS", "LFS") else "Gray p")
        return (
            f"{ep} {test}, CAR-T to HSCT ≤ 90 vs > 90 d"
            if row["factor"] == HEADLINE_FACTOR
            else f"{ep} {test}, {_factor_label(row['factor'])}"
        )
    if row["kind"] == "hr":
        level = "> 90 d vs ≤ 90 d" if row["factor"] == HEADLINE_FACTOR else "autologous vs allogeneic CAR-T"
        return f"{ep} HR{stat}, {level}"
    years = f"{row['time_days'] / 365.25:g}-year"
    where = "" if not row["factor"] else f", {row['level']} d"
    return f"{years} {ep}{stat}{where}"


def bound_proofs(registry: pd.DataFrame, ids, identity: pd.DataFrame | None = None) -> dict[str, str]:
    """{id: proof} for the cumulative-incidence bounds among ``ids`` that no cohort can meet:
    by the log interval's geometry where the identity confines NRM
    (:func:`~hsct_analysis.paper.proofs.interval_pair_proofs`), or by exhaustive search in a
    small group (:func:`~hsct_analysis.paper.proofs.small_group_proofs`). ``identity``: the rows of
    :func:`identity_proofs` when the caller has them already."""
    ids = list(ids)
    found = {}
    identity = identity_proofs(registry) if identity is None else identity
    pairs = interval_pair_proofs(registry, identity)
    found.update(dict(zip(pairs["id"], pairs["proof"])))
    small = small_group_proofs(registry, ids=[i for i in ids if i not in found])
    found.update({i: p for i, p in zip(small["id"], small["proof"]) if p})
    return {i: found[i] for i in ids if i in found}


def _identity_proof(proofs: pd.DataFrame, r: pd.Series) -> str:
    hit = proofs[
        (proofs["factor"] == r["factor"])
        & (proofs["level"] == r["level"])
        & np.isclose(proofs["time_days"].astype(float), float(r["time_days"]))
    ]
    return hit["proof"].iloc[0] if len(hit) else ""


def identity_held(card: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """Where the identity forbids the printed LFS, RI and NRM together (:func:`identity_proofs`), the
    LFS and RI estimates the calibration holds (:func:`holds_in_identity`: those no other check finds
    inconsistent), from a scorecard: group, factor, level, time_days, endpoint, id, paper, ours (percent)
    and passed (within tolerance). It checks on a cohort what the proofs only promise: that the primary
    endpoint and RI are the ones kept."""
    reg = _canonical(registry)
    est = reg[reg["kind"].isin(["km", "cif"]) & (reg["stat"] == "value") & reg["endpoint"].isin(["lfs", "relapse"])]
    if "reason" in est.columns:
        est = est[[holds_in_identity(r) for _, r in est.iterrows()]]
    by_id = card.set_index("id")
    out = []
    for p in identity_proofs(registry).itertuples(index=False):
        rows = est[
            (est["factor"] == p.factor)
            & (est["level"] == p.level)
            & ((est["time_days"].astype(float) - float(p.time_days)).abs() < 1e-6)
        ]
        for r in rows.sort_values("endpoint").itertuples(index=False):
            if r.id not in by_id.index:
                continue
            c = by_id.loc[r.id]
            out.append(
                {
                    "group": p.group,
                    "factor": p.factor,
                    "level": p.level,
                    "time_days": p.time_days,
                    "endpoint": r.endpoint,
                    "id": r.id,
                    "paper": float(c["published"]),
                    "ours": float(c["reproduced"]),
                    "passed": bool(c["passed"]),
                }
            )
    columns = ["group", "factor", "level", "time_days", "endpoint", "id", "paper", "ours", "passed"]
    return pd.DataFrame(out, columns=columns)


def headline_table(card: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """The headline claims from a scorecard: what, paper, ours, tolerance, pass/fail and, where one
    fails because no cohort can meet it, the proof (the identity for an NRM estimate; the log
    interval's geometry or an exhaustive search for a CI bound), in reading order. ``note``: for a
    failed claim without a proof, what is known (:func:`~hsct_analysis.paper.proofs.interval_pair_windows`:
    how narrow the way to it is), else empty."""
    ids = [i for i in headline_ids(registry) if i in set(card["id"])]
    by_id = card.set_index("id")
    reg = _canonical(registry).set_index("id")
    failed = [i for i in ids if not bool(by_id.loc[i, "passed"])]
    proofs = identity_proofs(registry)
    bounds = bound_proofs(registry, [i for i in failed if reg.loc[i, "kind"] == "cif"], identity=proofs)
    windows = interval_pair_windows(registry, proofs)
    notes = dict(zip(windows["lower_id"], windows["note"])) | {
        u: n for u, n in zip(windows["upper_id"], windows["note"]) if u
    }
    for w in windows[windows["upper_id"] != ""].itertuples(index=False):
        stands = where_the_cohort_stands(card, registry, w.upper_id, float(w.nrm_needed))
        for rid in (w.lower_id, w.upper_id):
            notes[rid] = f"{notes[rid]} {stands}".strip()
    out = []
    for rid in ids:
        c, r = by_id.loc[rid], reg.loc[rid]
        why = bounds.get(rid, "")
        if rid in failed and r["kind"] in ("km", "cif") and r["stat"] == "value" and r["endpoint"] == "nrm":
            why = _identity_proof(proofs, r)
        out.append(
            {
                "id": rid,
                "claim": _what(r.to_dict() | {"id": rid}),
                "paper": r["printed"] if r["kind"] == "p" else c["published"],
                "ours": c["reproduced"],
                "tolerance": c["tolerance"],
                "passed": bool(c["passed"]),
                "proof": why,
                "note": notes.get(rid, "") if rid in failed and not why else "",
            }
        )
    return pd.DataFrame(out, columns=["id", "claim", "paper", "ours", "tolerance", "passed", "proof", "note"])


def where_the_cohort_stands(card: pd.DataFrame, registry: pd.DataFrame, rid: str, nrm_needed: float) -> str:
    """For an NRM interval whose bounds can both hold only with NRM >= ``nrm_needed`` (percent; a row of
    :func:`~hsct_analysis.paper.proofs.interval_pair_windows`), where the scorecard ``card``'s cohort stands: its
    LFS + RI at the same group and time against the 100 - ``nrm_needed`` that leaves (1 - LFS = RI + NRM). ``rid``:
    the interval's registry id (its upper bound). A second sentence gives the cohort's half-width on the log scale,
    h = ln(upper / NRM), against what its own NRM F asks of it: the upper bound needs h >= ln((U - tol) / F), the
    lower bound h <= ln(F / (L - tol)) (U, L the printed bounds). Empty when the card lacks the LFS or RI estimate;
    without its NRM estimate or upper bound, the first sentence alone."""
    reg = _canonical(registry)
    r = reg.set_index("id").loc[rid]
    group = reg[
        (reg["factor"] == r["factor"])
        & (reg["level"] == r["level"])
        & np.isclose(reg["time_days"].astype(float), float(r["time_days"]))
    ]
    same = group[group["kind"].isin(["km", "cif"]) & (group["stat"] == "value")]
    ours = card.set_index("id")["reproduced"]

    def estimate(endpoint: str) -> float:
        ids = [i for i in same.loc[same["endpoint"] == endpoint, "id"] if i in ours.index]
        return float(ours[ids[0]]) if ids else np.nan

    lfs, ri = estimate("lfs"), estimate("relapse")
    if not (np.isfinite(lfs) and np.isfinite(ri)):
        return ""
    total, room = lfs + ri, 100.0 - nrm_needed
    said = f"On the synthetic cohort LFS + RI = {lfs:.2f} + {ri:.2f} = {total:.2f} pp"
    if round(abs(total - room), 2) == 0:
        said = f"{said}, at the {room:.2f} that NRM ≥ {nrm_needed:.2f} leaves them."
    else:
        side = "above" if total > room else "within"
        said = f"{said}, {abs(total - room):.2f} pp {side} the {room:.2f} that NRM ≥ {nrm_needed:.2f} leaves them."
    nrm, upper = estimate("nrm"), float(ours.get(rid, np.nan))
    printed = group[(group["kind"] == "cif") & (group["endpoint"] == "nrm")].set_index("stat")["value"].astype(float)
    if not (np.isfinite(nrm) and np.isfinite(upper) and 0 < nrm < upper and {"lower", "upper"} <= set(printed.index)):
        return said
    low, high = printed["lower"] - BOUND_TOL_PP, printed["upper"] - BOUND_TOL_PP
    return (
        f"{said} Its NRM interval has a half-width of ln({upper:.2f} / {nrm:.2f}) = {np.log(upper / nrm):.3f} on the "
        f"log scale; at that NRM the upper bound needs at least ln({high:g} / {nrm:.2f}) = {np.log(high / nrm):.3f}, "
        f"and the lower bound allows at most ln({nrm:.2f} / {low:g}) = {np.log(nrm / low):.3f}."
    )
