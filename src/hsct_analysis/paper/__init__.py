"""The paper layer: Cao et al. 2023 as data and the machinery to reproduce it.

``registry`` (every published number; the CSVs live in ``paper/registry/``), ``scorecard`` (published vs
reproduced, with fixed tolerances), ``audit`` (the paper's internal contradictions, found by code),
``estimator`` (which estimator the paper used for relapse/NRM) and ``synth`` (the synthetic cohort
calibrated to the registry). Imports :mod:`hsct_analysis.cohort` and :mod:`hsct_analysis.stats`.
"""
