"""The cohort layer: the data contract (``contract``), endpoint derivations (``endpoints``) and risk
factors (``factors``). Imports only :mod:`hsct_analysis.stats`.

The contract's public API is re-exported here: ``from hsct_analysis.cohort import load_cohort``.
"""

from hsct_analysis.cohort.contract import (
    COLUMNS,
    CONTRACT_COLUMNS,
    DERIVED_COLUMNS,
    ENDPOINT_DAY_COLUMNS,
    OPTIONAL_COLUMNS,
    OUTCOME_DAY_COLUMNS,
    REQUIRED_COLUMNS,
    CohortError,
    Column,
    Problem,
    dictionary_path,
    load_cohort,
    load_cohort_frame,
    plain_numbers,
    read_dictionary,
    survival_endpoint_arrays,
    validate,
    validate_frame,
    write_template,
)

__all__ = [
    "COLUMNS",
    "CONTRACT_COLUMNS",
    "DERIVED_COLUMNS",
    "ENDPOINT_DAY_COLUMNS",
    "OPTIONAL_COLUMNS",
    "OUTCOME_DAY_COLUMNS",
    "REQUIRED_COLUMNS",
    "CohortError",
    "Column",
    "Problem",
    "dictionary_path",
    "load_cohort",
    "load_cohort_frame",
    "plain_numbers",
    "read_dictionary",
    "survival_endpoint_arrays",
    "validate",
    "validate_frame",
    "write_template",
]
