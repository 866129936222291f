"""The study's endpoints, each estimated the way the paper did.

OS and LFS are survival endpoints: Kaplan-Meier with arcsine-square-root CIs, compared by
log-rank. Relapse (RI), non-relapse mortality (NRM), GVHD, viral infections, TA-TMA and
engraftment are events with a competing risk (death, or for NRM relapse): cumulative
incidence (Aalen-Johansen) with CIs symmetric on the log scale, compared by Gray's test.

All times are days from the second transplant. Estimates returned by
:func:`estimates_at` are in percent (0-100); curves keep proportions (0-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hsct_analysis.cohort.factors import factor
from hsct_analysis.stats import competing, survival
from hsct_analysis.stats.units import DAYS_PER_MONTH


@dataclass(frozen=True)
class Endpoint:
    """How one endpoint is read from a loaded cohort."""

    name: str
    label: str
    method: str  # "km" or "cif"
    time_col: str
    status_col: str
    cause: int = 1

    @property
    def test_name(self) -> str:
        return "Log-rank" if self.method == "km" else "Gray's test"


def _cif(name: str, label: str, cause: int = 1, base: str | None = None) -> Endpoint:
    base = base or name
    return Endpoint(name, label, "cif", f"{base}_time", f"{base}_status", cause)


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in [
        Endpoint("os", "Overall survival", "km", "os_time", "os_event"),
        Endpoint("lfs", "Leukemia-free survival", "km", "lfs_time", "lfs_event"),
        _cif("relapse", "Relapse incidence", 1, "relapse_nrm"),
        _cif("nrm", "Non-relapse mortality", 2, "relapse_nrm"),
        _cif("neutrophil_engraftment", "Neutrophil engraftment"),
        _cif("platelet_engraftment", "Platelet engraftment"),
        _cif("agvhd_2_4", "Acute GVHD grade II–IV"),
        _cif("agvhd_3_4", "Acute GVHD grade III–IV"),
        _cif("cgvhd", "Chronic GVHD, any"),
        _cif("cgvhd_extensive", "Chronic GVHD, extensive"),
        _cif("cmv", "CMV viremia"),
        _cif("ebv", "EBV viremia"),
        _cif("ptld", "PTLD"),
        _cif("tma", "TA-TMA"),
    ]
}


def endpoint(name: str) -> Endpoint:
    """The :class:`Endpoint` called ``name`` (a key of ``ENDPOINTS``)."""
    if name not in ENDPOINTS:
        raise KeyError(f"unknown endpoint {name!r}; known: {', '.join(ENDPOINTS)}")
    return ENDPOINTS[name]


def is_available(cohort: pd.DataFrame, name: str) -> bool:
    """False when the cohort did not record this endpoint (column absent or entirely empty)."""
    return name not in cohort.attrs.get("unavailable_endpoints", ())


def curve(cohort: pd.DataFrame, name: str, conf_level: float = 0.95) -> pd.DataFrame:
    """KM (arcsine CI) or cumulative incidence (log CI) of endpoint ``name``; proportions, days."""
    ep = endpoint(name)
    time, status = cohort[ep.time_col].to_numpy(float), cohort[ep.status_col].to_numpy(int)
    if ep.method == "km":
        return survival.kaplan_meier(time, status, conf_type="arcsine", conf_level=conf_level)
    return competing.cumulative_incidence(time, status, cause=ep.cause, conf_type="log", conf_level=conf_level)


def groups(cohort: pd.DataFrame, factor_name: str) -> dict[str, pd.DataFrame]:
    """The cohort split by a factor of :mod:`hsct_analysis.cohort.factors`; levels with no patient are left out."""
    levels = factor(cohort, factor_name)
    return {str(level): cohort[levels == level] for level in levels.cat.categories if (levels == level).any()}


def curves_by(cohort: pd.DataFrame, name: str, factor_name: str, conf_level: float = 0.95) -> dict[str, pd.DataFrame]:
    """One curve of endpoint ``name`` per level of ``factor_name``."""
    return {level: curve(sub, name, conf_level) for level, sub in groups(cohort, factor_name).items()}


def compare(cohort: pd.DataFrame, name: str, factor_name: str):
    """Log-rank (KM endpoints) or Gray's test (CIF endpoints) across the levels of ``factor_name``.

    Patients with no level (e.g. unknown CAR-T source) are left out, as in the paper.
    """
    ep = endpoint(name)
    levels = factor(cohort, factor_name)
    keep = levels.notna().to_numpy()
    time = cohort.loc[keep, ep.time_col].to_numpy(float)
    status = cohort.loc[keep, ep.status_col].to_numpy(int)
    group = levels[keep].astype(str).to_numpy()
    if ep.method == "km":
        return survival.logrank(time, status, group)
    return competing.gray_test(time, status, group, cause=ep.cause)


def estimates_at(
    cohort: pd.DataFrame, names: list[str], times_days: list[float], conf_level: float = 0.95
) -> pd.DataFrame:
    """Estimate and CI, in percent, of each endpoint at each time (days).

    Returns one row per (endpoint, time) with columns ``endpoint``, ``label``, ``time_days``,
    ``estimate``, ``lower``, ``upper`` (percent) and ``method``. After the last time of a curve the values are
    missing (no extrapolation), unless nobody was left at risk because the last patients all had an event: then
    the curve is final and keeps its last value.
    """
    rows = []
    for name in names:
        ep = endpoint(name)
        fitted = curve(cohort, name, conf_level)
        last = fitted.iloc[-1] if len(fitted) else None
        # a curve whose last patients all had an event (or the competing one) is final: nobody is left whose
        # outcome could change it, so after its last time it stays at its last value (100% engrafted stays 100%)
        final = last is not None and last["at_risk"] == last["events"] + last.get("competing_events", 0)
        for t in times_days:
            row = survival.value_at(fitted, t)
            if final and t > fitted.index[-1]:
                row = last
            rows.append(
                {
                    "endpoint": name,
                    "label": ep.label,
                    "time_days": t,
                    "estimate": 100 * float(row["estimate"]),
                    "lower": 100 * float(row["lower"]),
                    "upper": 100 * float(row["upper"]),
                    "method": "Kaplan-Meier (arcsine CI)" if ep.method == "km" else "Cumulative incidence (log CI)",
                }
            )
    return pd.DataFrame(rows)


def days_to_months(days) -> np.ndarray:
    """Convert days to months (1 month = 365.25 / 12 days)."""
    return np.asarray(days, dtype=float) / DAYS_PER_MONTH
