"""The paper's models as data: which factors each Table 4 model entered, which were screened
(Table 3), and events per variable for those models on a cohort."""

from __future__ import annotations

import pandas as pd

from hsct_analysis.cohort.factors import FACTORS

#: The paper's multivariable models (Table 4): endpoint -> factors entered.
PAPER_MODELS: dict[str, tuple[str, ...]] = {
    "LFS": ("bcr_abl1", "cart_interval_90", "cart_source", "atg_type"),
    "OS": ("bcr_abl1", "cart_interval_90"),
    "RI": ("atg_type",),
    "NRM": ("cart_interval_90",),
}

#: Factors screened in univariate analysis (Table 3), the pool the models came from.
SCREENED_FACTORS: tuple[str, ...] = (
    "sex", "age_group", "bcr_abl1", "relapse_timing", "first_to_second", "cart_interval_90",
    "cart_interval_60", "cart_source", "crs", "mrd_second", "conditioning_second", "atg_type",
    "donor_second_group",
)


def n_parameters(factors) -> int:
    """Regression coefficients needed for ``factors`` (levels - 1 each)."""
    return int(sum(len(FACTORS[f].levels) - 1 for f in factors))


def count_events(cohort: pd.DataFrame, endpoint: str) -> int:
    """Events for ``endpoint`` in a loaded cohort: LFS, OS, RI (relapse) or NRM."""
    counts = {
        "LFS": lambda c: c["lfs_event"].sum(),
        "OS": lambda c: c["os_event"].sum(),
        "RI": lambda c: (c["relapse_nrm_status"] == 1).sum(),
        "NRM": lambda c: (c["relapse_nrm_status"] == 2).sum(),
    }
    return int(counts[endpoint](cohort))


def events_per_variable(cohort: pd.DataFrame, models=None, screened=SCREENED_FACTORS) -> pd.DataFrame:
    """Events per regression coefficient for each of the paper's models.

    Returns a DataFrame indexed by endpoint with ``events``, ``parameters`` (in the final
    model), ``epv`` (= events / parameters), ``screened_parameters`` (all coefficients
    tested in univariate screening) and ``epv_screened``. A common rule of thumb asks
    for 10 or more events per variable.
    """
    models = PAPER_MODELS if models is None else models
    k_screen = n_parameters(screened)
    rows = []
    for endpoint, factors in models.items():
        events, k = count_events(cohort, endpoint), n_parameters(factors)
        rows.append(
            {
                "endpoint": endpoint,
                "events": events,
                "parameters": k,
                "epv": events / k,
                "screened_parameters": k_screen,
                "epv_screened": events / k_screen,
            }
        )
    return pd.DataFrame(rows).set_index("endpoint")
