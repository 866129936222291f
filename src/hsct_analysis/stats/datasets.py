"""Small example data sets for the docstrings, the tests and your own trials (as ``lifelines.datasets``).

Each loader returns a fresh :class:`pandas.DataFrame`, so callers may modify it freely.
"""

import pandas as pd

__all__ = ["load_competing_example"]


def load_competing_example() -> pd.DataFrame:
    """A 16-patient competing-risks example: two causes, a three-level group and age.

    Returns
    -------
    pandas.DataFrame
        Columns ``time`` (days, all distinct), ``status`` (0 = censored, 1 = the cause of
        interest, 2 = the competing cause: 5, 7 and 4 patients), ``group`` (``"a"``, ``"b"``,
        ``"c"``; 4, 8 and 4 patients) and ``age`` (years). Small enough to check by hand or in R
        (the docstrings of :func:`~hsct_analysis.stats.fine_gray.fine_gray` and
        :func:`~hsct_analysis.stats.cause_specific.cause_specific_cox` quote R on it).

    Examples
    --------
    >>> from hsct_analysis.stats.datasets import load_competing_example
    >>> data = load_competing_example()
    >>> data.shape
    (16, 4)
    >>> data["status"].value_counts().sort_index().tolist()
    [5, 7, 4]
    """
    return pd.DataFrame(
        {
            "time": [2, 3, 5, 6, 8, 9, 11, 14, 4, 7, 10, 12, 15, 16, 18, 20],
            "status": [1, 0, 2, 1, 1, 2, 0, 1, 2, 0, 1, 1, 0, 2, 1, 0],
            "group": ["a", "b", "c", "b"] * 4,
            "age": [50, 61, 45, 70, 38, 55, 62, 48, 66, 59, 41, 72, 53, 47, 64, 58],
        }
    )
