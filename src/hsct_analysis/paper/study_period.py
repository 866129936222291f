"""The paper's study period and its 90-day comparison as a study design, each fact typed once.

Second transplants were done from 18 Oct 2017 to 4 Mar 2022 and every patient was followed to
1 Jan 2023 (Cao et al. 2023, Methods), so the potential follow-up runs from 303 to 1901 days
(the paper's longest follow-up is 1901 days). :func:`power_design` is the paper's <=90 vs >90
days comparison as keyword arguments of :class:`hsct_analysis.stats.power.StudyDesign`: the
group sizes and the reference group's 3-year LFS from the registry, the follow-up from here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from hsct_analysis.paper import registry as reg
from hsct_analysis.stats.units import DAYS_PER_YEAR

__all__ = ["FIRST_SECOND_HSCT", "LAST_SECOND_HSCT", "LAST_FOLLOW_UP", "follow_up_range_days", "power_design"]

FIRST_SECOND_HSCT = dt.date(2017, 10, 18)  # first second transplant of the study
LAST_SECOND_HSCT = dt.date(2022, 3, 4)  # last second transplant
LAST_FOLLOW_UP = dt.date(2023, 1, 1)  # the common last follow-up date


def follow_up_range_days() -> tuple[float, float]:
    """Shortest and longest potential follow-up in days: last follow-up minus the last and the first transplant.

    >>> follow_up_range_days()
    (303.0, 1901.0)
    """
    return float((LAST_FOLLOW_UP - LAST_SECOND_HSCT).days), float((LAST_FOLLOW_UP - FIRST_SECOND_HSCT).days)


def power_design(registry: pd.DataFrame | None = None) -> dict:
    """The paper's 90-day comparison as :class:`~hsct_analysis.stats.power.StudyDesign` keywords.

    ``n_groups`` = (<=90, >90 days) from Table 3; ``baseline_hazard`` = the exponential hazard
    per day that gives the <=90-day group's published 3-year LFS; ``censor_days`` =
    :func:`follow_up_range_days`.

    >>> design = power_design()
    >>> design["n_groups"], round(design["baseline_hazard"] * 3 * 365.25, 4), design["censor_days"]
    ((84, 11), 0.6181, (303.0, 1901.0))
    """
    registry = reg.load_registry() if registry is None else registry
    sizes = tuple(int(reg.group_size(registry, "cart_interval_90", level)) for level in ("<=90", ">90"))
    three_years = 3 * DAYS_PER_YEAR
    rows = reg.lookup(
        registry, canonical=True, kind="km", stat="value", endpoint="lfs", factor="cart_interval_90", level="<=90"
    )
    lfs = rows[np.isclose(rows["time_days"], three_years)]["value"]
    if len(lfs) != 1:
        raise KeyError(f"the registry has {len(lfs)} canonical 3-year LFS values of the <=90-day group, not one")
    return {
        "n_groups": sizes,
        "baseline_hazard": float(-np.log(float(lfs.iloc[0]) / 100) / three_years),
        "censor_days": follow_up_range_days(),
    }
