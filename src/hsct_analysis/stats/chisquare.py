"""What every chi-square test of equal curves returns: the statistic, its degrees of freedom, the p-value.

:class:`~hsct_analysis.stats.survival.LogRankResult` (R ``survdiff``) and
:class:`~hsct_analysis.stats.competing.GrayTestResult` (R ``cuminc(...)$Tests``) extend
:class:`ChiSquareTest`; both compute their p-value with :func:`chi2_p_value`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from hsct_analysis.stats.docstrings import substitute

__all__ = ["SINGULAR_NOTE", "ChiSquareTest", "chi2_p_value", "chi_square_statistic", "full_rank", "quadratic_form"]


def chi2_p_value(statistic: float, df: int) -> float:
    """Upper-tail chi-square probability of ``statistic`` on ``df`` degrees of freedom.

    NaN when the test is undefined: fewer than one degree of freedom, or a statistic that is
    not finite (a singular variance matrix).

    Examples
    --------
    >>> from hsct_analysis.stats.chisquare import chi2_p_value
    >>> round(chi2_p_value(3.841458820694124, 1), 6)
    0.05
    >>> chi2_p_value(2.0, 0), chi2_p_value(float("nan"), 2)
    (nan, nan)
    """
    if df < 1 or not np.isfinite(statistic):
        return float("nan")
    return float(special.chdtrc(df, statistic))  # what scipy.stats.chi2.sf computes, without its overhead


def quadratic_form(x: np.ndarray, var: np.ndarray) -> float:
    """The chi-square statistic x' V^-1 x, as ``float(x @ np.linalg.solve(var, x))`` computes it.

    With one degree of freedom (a 1 x 1 ``var``) it is x (x / v), without the solver's overhead: LAPACK's solve
    of a 1 x 1 system divides by its pivot, so the value is the same to the last bit (a zero comes out as +0.0,
    as the dot product's sum from zero gives it). A singular ``var`` raises ``numpy.linalg.LinAlgError``, as
    the solve does.

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import quadratic_form
    >>> quadratic_form(np.array([2.0]), np.array([[4.0]]))
    1.0
    """
    if var.shape == (1, 1):
        if var[0, 0] == 0:
            raise np.linalg.LinAlgError("Singular matrix")
        return float(0.0 + x[0] * (x[0] / var[0, 0]))  # 0.0 + : a signed zero as the dot gives it
    return float(x @ np.linalg.solve(var, x))


#: What a test's notes say when its statistic is NaN because the covariance is singular.
SINGULAR_NOTE = (
    "the covariance of the group differences is singular (no contrast between the groups has a variance, "
    "e.g. every patient at risk had the event at the same time, or each group alone in its stratum): "
    "the statistic and p-value are undefined"
)


def full_rank(var: np.ndarray) -> bool:
    """Whether a square covariance ``var`` is of full rank, as ``np.linalg.matrix_rank(var) == len(var)`` decides.

    For two groups (a 1 x 1 covariance) without the singular value decomposition: its one singular value is |v|,
    and rank 1 means |v| > |v| x eps, that is 0 < |v| < inf.

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import full_rank
    >>> full_rank(np.array([[0.25]])), full_rank(np.ones((2, 2)))
    (True, False)
    """
    if var.shape == (1, 1) and np.isfinite(var[0, 0]):
        return bool(var[0, 0] != 0)
    return bool(np.linalg.matrix_rank(var) == len(var))


def chi_square_statistic(x: np.ndarray, var: np.ndarray) -> float:
    """The statistic x' V^-1 x of a test of equal curves (:func:`quadratic_form`), NaN when ``var`` is singular
    (:func:`full_rank`): no group contrast has a variance, so there is nothing to test. R stops there
    (``survdiff``: "system is exactly singular"); here the test's p-value is NaN and its notes say why.

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import chi_square_statistic
    >>> chi_square_statistic(np.array([2.0]), np.array([[4.0]])), chi_square_statistic(np.array([2.0]), np.zeros((1, 1)))
    (1.0, nan)
    """
    return quadratic_form(x, var) if full_rank(var) else float("nan")


@substitute()
@dataclass(frozen=True)
class ChiSquareTest:
    """A chi-square test that curves are equal across groups.

    Attributes
    ----------
    %(chisq_fields)s
    """

    statistic: float
    df: int
    p_value: float
