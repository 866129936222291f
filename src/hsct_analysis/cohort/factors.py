"""Risk factors of the paper's univariate and multivariate analyses (Tables 3 and 4).

Each factor turns columns of a loaded cohort into a categorical Series with fixed level
labels. Patients for whom a factor is undefined (e.g. MRD-only relapse for
``relapse_timing``, unknown CAR-T source) get NaN and drop out of that comparison, as in
the paper. Level labels are the vocabulary shared with the published-results registry
(``hsct_analysis/paper/registry``): the first level listed is the paper's reference level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Factor:
    """A grouping of patients: ``name``, its ``levels`` (reference first) and a rule."""

    name: str
    label: str
    levels: tuple[str, ...]
    rule: Callable[[pd.DataFrame], pd.Series]

    def __call__(self, cohort: pd.DataFrame) -> pd.Series:
        values = self.rule(cohort)
        return pd.Series(pd.Categorical(values, categories=list(self.levels)), index=cohort.index, name=self.name)


def _cut(column: str, threshold: float) -> Callable[[pd.DataFrame], pd.Series]:
    """Rule: ``<=threshold`` vs ``>threshold`` on a numeric column (NaN stays NaN)."""

    def rule(cohort: pd.DataFrame) -> pd.Series:
        x = pd.to_numeric(cohort[column], errors="coerce").astype(float)
        lo, hi = f"<={threshold:g}", f">{threshold:g}"
        return pd.Series(np.where(x.isna(), None, np.where(x <= threshold, lo, hi)), index=cohort.index)

    return rule


def _levels_of(column: str, mapping: dict[str, str]) -> Callable[[pd.DataFrame], pd.Series]:
    """Rule: recode a categorical column; values not in ``mapping`` become NaN."""

    def rule(cohort: pd.DataFrame) -> pd.Series:
        return cohort[column].map(mapping)

    return rule


def _bcr_abl1(cohort: pd.DataFrame) -> pd.Series:
    return pd.Series(np.where(cohort["fusion_gene"] == "BCR::ABL1", "positive", "negative"), index=cohort.index)


FACTORS: dict[str, Factor] = {
    f.name: f
    for f in [
        Factor("sex", "Patient sex", ("male", "female"), _levels_of("sex", {"male": "male", "female": "female"})),
        Factor("age_group", "Age at second HSCT (years)", ("<=14", ">14"), _cut("age_second_hsct", 14)),
        Factor("bcr_abl1", "BCR::ABL1", ("positive", "negative"), _bcr_abl1),
        Factor(
            "relapse_timing",
            "Time from first HSCT to relapse (days)",
            ("<=180", ">180"),
            _cut("days_first_hsct_to_relapse", 180),
        ),
        Factor(
            "first_to_second",
            "Time between first and second HSCT (days)",
            ("<=365", ">365"),
            _cut("days_first_to_second_hsct", 365),
        ),
        Factor(
            "cart_interval_90",
            "CAR-T to second HSCT (days)",
            ("<=90", ">90"),
            _cut("days_cart_to_second_hsct", 90),
        ),
        Factor(
            "cart_interval_60",
            "CAR-T to second HSCT (days)",
            ("<=60", ">60"),
            _cut("days_cart_to_second_hsct", 60),
        ),
        Factor(
            "cart_source",
            "CAR-T cell source",
            ("allogeneic", "autologous"),
            _levels_of("cart_source", {"autologous": "autologous", "allogeneic": "allogeneic"}),
        ),
        Factor("crs", "CRS after CAR-T", ("yes", "no"), _levels_of("crs_after_cart", {"yes": "yes", "no": "no"})),
        Factor(
            "mrd_second",
            "MRD before second HSCT",
            ("negative", "positive"),
            _levels_of("mrd_before_second_hsct", {"negative": "negative", "positive": "positive"}),
        ),
        Factor(
            "conditioning_second",
            "Conditioning of second HSCT",
            ("TBI", "Bu"),
            _levels_of("conditioning_second", {"TBI": "TBI", "Bu": "Bu"}),
        ),
        Factor(
            "atg_type",
            "Type of ATG",
            ("ATG-F", "ATG-T", "ATG-P"),
            _levels_of("atg_type", {"ATG-F": "ATG-F", "ATG-T": "ATG-T", "ATG-P": "ATG-P"}),
        ),
        Factor(
            "donor_second_group",
            "Second HSCT donor",
            ("matched", "haplo"),
            _levels_of("donor_second", {"MSD": "matched", "MUD": "matched", "haplo": "haplo"}),
        ),
    ]
}


def factor(cohort: pd.DataFrame, name: str) -> pd.Series:
    """The grouping ``name`` (a key of ``FACTORS``) for each patient of ``cohort``."""
    try:
        return FACTORS[name](cohort)
    except KeyError as exc:
        if name not in FACTORS:
            raise KeyError(f"unknown factor {name!r}; known: {', '.join(FACTORS)}") from exc
        raise


def known_groups(cohort: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Patients whose factor ``name`` is known: a boolean mask over the rows of ``cohort``, and their levels as text.

    Ready for the tests, which take group labels without missing values: ``logrank(time[keep], event[keep], groups)``.
    """
    groups = factor(cohort, name)
    keep = groups.notna().to_numpy()
    return keep, groups[keep].astype(str).to_numpy()
