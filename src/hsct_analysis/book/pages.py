"""Small helpers every chapter and methods page uses, so that no notebook defines its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
from myst_nb import glue

from hsct_analysis.stats import survival


def glue_number(key: str, value) -> None:
    """Glue ``value`` under ``key`` for the prose (``{glue:text}`key:.1f```), without displaying it.

    NumPy scalars are glued as plain Python numbers so that format specs such as ``:.1f`` work.
    """
    glue(key, value.item() if hasattr(value, "item") else value, display=False)


def logrank_comparison(time, event, group, level) -> dict[str, float]:
    """Log-rank p and Peto's hazard ratio of ``level`` against the other group (times in days).

    Returns ``{"hazard ratio": ..., "log-rank p": ...}``, a row for a comparison table.
    """
    result = survival.logrank(time, event, group)
    return {"hazard ratio": survival.peto_hazard_ratio(result, level), "log-rank p": result.p_value}


def glue_published(names: dict[str, str], registry=None) -> dict[str, float]:
    """Glue published numbers by registry id, so prose quotes the paper without typing its numbers.

    ``names`` maps a glue key to a registry id (e.g. ``{"paper_lfs3": "abs.lfs.3y.est"}``); each key is
    glued as the number the paper printed (percentages in %, days in days). Returns the glued values.
    """
    from hsct_analysis.paper.registry import load_registry

    values = (load_registry() if registry is None else registry).set_index("id")["value"]
    unknown = sorted(set(names.values()) - set(values.index))
    if unknown:
        raise KeyError(f"not in the registry of published numbers: {', '.join(unknown)}")
    glued = {key: float(values[entry]) for key, entry in names.items()}
    for key, value in glued.items():
        glue_number(key, value)
    return glued


def competing_risks_pair(
    n: int = 150,
    relapse_per_day: float = 0.0008,
    nrm_per_day: tuple[float, float] = (0.0002, 0.003),
    follow_up_days: tuple[float, float] = (365.0, 1826.0),
    seed: int = 2023,
) -> pd.DataFrame:
    """Two simulated groups of ``n`` patients with the **same** cause-specific hazard of relapse
    (``relapse_per_day``, events per patient-day) and different hazards of death without relapse (``nrm_per_day``,
    one per group), censored uniformly between the two ``follow_up_days`` (days): the textbook case where the
    log-rank test of relapse (deaths censored) and Gray's test of its cumulative incidence disagree.

    Returns one row per patient: ``time`` (days), ``status`` (0 censored, 1 relapse, 2 NRM) and ``group``
    (``"low NRM"`` or ``"high NRM"``). Deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, nrm in zip(("low NRM", "high NRM"), nrm_per_day):
        relapse = rng.exponential(1 / relapse_per_day, n)
        death = rng.exponential(1 / nrm, n)
        censor = rng.uniform(*follow_up_days, n)
        time = np.minimum.reduce([relapse, death, censor])
        status = np.select([time == relapse, time == death], [1, 2], 0)
        rows.append(pd.DataFrame({"time": np.ceil(time), "status": status, "group": label}))
    return pd.concat(rows, ignore_index=True)
