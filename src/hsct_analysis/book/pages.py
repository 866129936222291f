"""Small helpers every chapter and methods page uses, so that no notebook defines its own."""

from __future__ import annotations

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
