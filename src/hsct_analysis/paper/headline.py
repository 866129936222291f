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
death without relapse are the only ways to leave leukaemia-free survival, so on any cohort the
Kaplan-Meier LFS and the Aalen-Johansen incidences satisfy 1 - LFS = RI + NRM exactly
(Putter et al. 2007). LFS and OS are the paper's primary endpoints, so where the identity
forbids all three, LFS (and RI) hold and NRM, a secondary endpoint, absorbs the gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hsct_analysis.paper.tolerances import ESTIMATE_TOL_PP

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


def _what(row) -> str:
    ep = {"os": "OS", "lfs": "LFS", "relapse": "RI", "nrm": "NRM"}.get(row["endpoint"], row["endpoint"])
    stat = {"value": "", "lower": " lower CI", "upper": " upper CI"}.get(row["stat"], "")
    if row["kind"] == "p":
        test = "Wald p" if str(row["id"]).startswith("t4.") else ("log-rank p" if ep in ("OS", "LFS") else "Gray p")
        return (
            f"{ep} {test}, CAR-T to HSCT <=90 vs >90 d"
            if row["factor"] == HEADLINE_FACTOR
            else f"{ep} {test}, {row['factor']}"
        )
    if row["kind"] == "hr":
        level = "> 90 d vs <= 90 d" if row["factor"] == HEADLINE_FACTOR else "autologous vs allogeneic CAR-T"
        return f"{ep} HR{stat}, {level}"
    years = f"{row['time_days'] / 365.25:g}-year"
    where = "" if not row["factor"] else f", {row['level']} d"
    return f"{years} {ep}{stat}{where}"


def headline_table(card: pd.DataFrame, registry: pd.DataFrame) -> pd.DataFrame:
    """The headline claims from a scorecard: what, paper, ours, tolerance, pass/fail and the reason
    where one fails because the paper's own numbers forbid it (the identity proof), in reading order."""
    ids = headline_ids(registry)
    by_id = card.set_index("id")
    reg = _canonical(registry).set_index("id")
    proofs = identity_proofs(registry)
    out = []
    for rid in ids:
        if rid not in by_id.index:
            continue
        c, r = by_id.loc[rid], reg.loc[rid]
        why = ""
        if not bool(c["passed"]) and r["kind"] in ("km", "cif") and r["stat"] == "value" and r["endpoint"] == "nrm":
            hit = proofs[
                (proofs["factor"] == r["factor"])
                & (proofs["level"] == r["level"])
                & np.isclose(proofs["time_days"].astype(float), float(r["time_days"]))
            ]
            if len(hit):
                why = hit["proof"].iloc[0]
        out.append(
            {
                "id": rid,
                "claim": _what(r.to_dict() | {"id": rid}),
                "paper": r["printed"] if r["kind"] == "p" else c["published"],
                "ours": c["reproduced"],
                "tolerance": c["tolerance"],
                "passed": bool(c["passed"]),
                "proof": why,
            }
        )
    return pd.DataFrame(out, columns=["id", "claim", "paper", "ours", "tolerance", "passed", "proof"])


def display_table(claims: pd.DataFrame) -> pd.DataFrame:
    """:func:`headline_table` for reading: claim as the index, numbers at printed precision
    (p 3 decimals, hazard ratios 2, percentages 1), "yes"/"no" for within tolerance."""

    def fmt(row, value):
        if isinstance(value, str):
            return value
        if value is None or not np.isfinite(value):
            return "not computed"
        if row["id"].endswith(".p"):
            return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"
        return f"{value:.2f}" if row["id"].startswith("t4.") else f"{value:.1f}"

    out = pd.DataFrame(
        {
            "Paper": [fmt(r, r["paper"]) for _, r in claims.iterrows()],
            "Synthetic cohort": [fmt(r, r["ours"]) for _, r in claims.iterrows()],
            "Tolerance": claims["tolerance"].str.replace("+-", "±", regex=False).to_numpy(),
            "Within tolerance": np.where(claims["passed"], "yes", "no"),
            "Why not (proof)": claims["proof"].to_numpy(),
        },
        index=pd.Index(claims["claim"], name="Headline claim"),
    )
    return out
