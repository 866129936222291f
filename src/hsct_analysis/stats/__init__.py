"""The statistics layer: survival and competing-risks estimators equal to R ``survival``/``cmprsk``.

Imports nothing else from :mod:`hsct_analysis`, so it can be used on its own::

    from hsct_analysis.stats import kaplan_meier, cumulative_incidence, gray_test, fine_gray

Modules, one concept each: ``survival`` (Kaplan-Meier, log-rank, reverse-KM follow-up), ``competing``
(Aalen-Johansen cumulative incidence, Gray's test), ``fine_gray`` (subdistribution hazards),
``cause_specific`` (cause-specific Cox), ``regression`` (their shared result type), ``design``
(model matrices), ``cutpoint``, ``landmark``, ``power``, ``counting`` (shared input rules and
risk-set tallies), ``units`` (time-unit constants), ``datasets`` (example data) and
``docstrings`` (parameter descriptions shared by the docstrings).

One vocabulary throughout:

- ``time``: days (>= 0); ``event``: 1 = event, 0 = censored; ``status``: integer codes of
  which ``cencode`` (default 0, as R ``cmprsk``) means censored and every other code is a
  cause; ``cause``: the code of interest; ``group``, ``strata``: labels;
  ``conf_level`` (0.95) and ``conf_type``.
- Standard errors are called ``std_err``; ``variance`` is only ever a variance.
- Missing values: the observation is dropped (complete cases, R's ``na.omit``) and the result
  records it in ``notes`` (``attrs["notes"]`` for curves). Bad values (negative times,
  non-integer codes, unknown columns) raise ``ValueError`` naming the argument.
"""

from hsct_analysis.stats.cause_specific import cause_specific_cox
from hsct_analysis.stats.competing import cumulative_incidence, cumulative_incidence_by, gray_test
from hsct_analysis.stats.fine_gray import fine_gray
from hsct_analysis.stats.regression import RegressionResult
from hsct_analysis.stats.survival import kaplan_meier, kaplan_meier_by, logrank, median_followup, value_at

__all__ = [
    "kaplan_meier",
    "kaplan_meier_by",
    "logrank",
    "median_followup",
    "value_at",
    "cumulative_incidence",
    "cumulative_incidence_by",
    "gray_test",
    "fine_gray",
    "cause_specific_cox",
    "RegressionResult",
]
