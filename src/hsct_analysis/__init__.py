"""hsct_analysis: the logic behind the second-HSCT-after-CAR-T reproduction book.

Modules, one concept each:

- ``cohort``      data contract, validation and derived endpoints (``load_cohort``)
- ``survival``    Kaplan-Meier with arcsine/log/log-log/plain CIs, log-rank, reverse-KM follow-up
- ``competing``   cumulative incidence (Aalen-Johansen), Gray's test, Fine-Gray, cause-specific Cox
- ``synth``       the synthetic cohort calibrated to the paper
- ``published``   the registry of every number the paper reports
- ``scorecard``   published vs reproduced, with fixed tolerances
- ``audit``       internal-consistency checks of the paper's numbers
- ``tables``      publication tables (n (%), median (range), HR (95% CI))
- ``figures``     one palette and style; curves with numbers-at-risk tables
- ``build``/``cli`` papermill execution and the Jupyter Book build (``hsct-book``)

All times are in days from the second transplant (day 0 = stem-cell infusion) unless a
docstring says otherwise.
"""

__version__ = "0.1.0"
