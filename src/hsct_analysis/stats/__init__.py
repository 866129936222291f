"""The statistics layer: survival and competing-risks estimators equal to R ``survival``/``cmprsk``.

Imports nothing else from :mod:`hsct_analysis`, so it can be used on its own::

    from hsct_analysis.stats import kaplan_meier, cumulative_incidence, gray_test, fine_gray

Modules, one concept each: ``survival`` (Kaplan-Meier, log-rank, reverse-KM follow-up), ``competing``
(Aalen-Johansen cumulative incidence, Gray's test), ``fine_gray`` (subdistribution hazards),
``cause_specific`` (cause-specific Cox), ``design`` (model matrices), ``cutpoint``, ``landmark``,
``power``, ``counting`` (shared input rules and risk-set tallies) and ``units`` (time-unit constants).
Times are in days unless a docstring says otherwise.
"""

from hsct_analysis.stats.cause_specific import cause_specific_cox
from hsct_analysis.stats.competing import cumulative_incidence, cumulative_incidence_by, gray_test
from hsct_analysis.stats.fine_gray import fine_gray
from hsct_analysis.stats.survival import kaplan_meier, logrank, median_followup, value_at

__all__ = [
    "kaplan_meier",
    "logrank",
    "median_followup",
    "value_at",
    "cumulative_incidence",
    "cumulative_incidence_by",
    "gray_test",
    "fine_gray",
    "cause_specific_cox",
]
