"""What every chi-square test of equal curves returns: the statistic, its degrees of freedom, the p-value.

:class:`~hsct_analysis.stats.survival.LogRankResult` (R ``survdiff``) and
:class:`~hsct_analysis.stats.competing.GrayTestResult` (R ``cuminc(...)$Tests``) extend
:class:`ChiSquareTest`; both compute their p-value with :func:`chi2_p_value`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from hsct_analysis.stats.docstrings import substitute

__all__ = [
    "QR_TOL",
    "SINGULAR_NOTE",
    "ChiSquareTest",
    "chi2_p_value",
    "chi_square_statistic",
    "full_rank",
    "qr_rank",
    "quadratic_form",
]


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


#: R's default tolerance of ``qr()`` (LINPACK ``dqrdc2``): a column whose norm falls below this share of its
#: original norm during the reduction counts as linearly dependent.
QR_TOL = 1e-7


def qr_rank(m: np.ndarray, tol: float = QR_TOL) -> int:
    """The rank R's ``qr(m, tol)$rank`` gives: LINPACK's Householder reduction as R modified it (``dqrdc2``),
    which moves a column to the right-hand edge once its remaining norm falls below ``tol`` times its original
    norm (or it is zero) and counts the columns that stay. ``m`` is a 2-d array of finite numbers (R's ``qr``
    stops on NaN and infinity; :func:`full_rank` calls such a matrix not of full rank). ``cmprsk::cuminc`` computes Gray's statistic only
    where this rank is full, so it decides here too (tested against R's ``qr`` in ``tests/reference``).

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import qr_rank
    >>> qr_rank(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-9]])), qr_rank(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-6]]))
    (1, 2)
    """
    x = np.array(m, dtype=float)
    n, p = x.shape
    # remaining norm of each column, updated as the reduction goes; hypot scales as BLAS's dnrm2 does, so tiny
    # and huge entries neither underflow nor overflow
    norm = np.array([math.hypot(*x[:, j]) for j in range(p)])
    original = np.where(norm == 0, 1.0, norm)
    kept = p  # columns not (yet) moved to the right-hand edge
    for col in range(min(n, p)):
        while col < kept and norm[col] < original[col] * tol:  # negligible: to the edge, the rest shift left
            for a in (x.T, norm, original):
                a[col:] = np.roll(a[col:], -1, axis=0)
            kept -= 1
        if col == n - 1:
            continue
        head = x[col:, col]
        size = math.hypot(*head)
        if size == 0:
            continue
        if head[0] != 0:
            size = np.copysign(size, head[0])
        head *= 1.0 / size
        head[0] += 1.0
        for j in range(col + 1, p):
            x[col:, j] += -(head @ x[col:, j]) / head[0] * head
            if norm[j] != 0:
                left = max(1.0 - (abs(x[col, j]) / norm[j]) ** 2, 0.0)
                if left >= 1e-6:
                    norm[j] *= np.sqrt(left)
                else:  # most of the norm has gone: recompute it rather than trust the update
                    norm[j] = math.hypot(*x[col + 1 :, j])
        x[col, col] = -size
    return min(kept, n)


def full_rank(var: np.ndarray, rule: str = "svd") -> bool:
    """Whether a square covariance ``var`` is of full rank.

    ``rule="svd"``: as ``np.linalg.matrix_rank(var) == len(var)`` decides (singular values above the largest
    times n times machine epsilon), near R's ``solve``, which stops on a singular system (``survdiff``).
    ``rule="qr"``: as R's ``qr(var)$rank`` decides (:func:`qr_rank`, tolerance 1e-7), which is
    ``cmprsk::cuminc``'s rule for Gray's test. For two groups (a 1 x 1 covariance) the two agree and need no
    decomposition: rank 1 means 0 < abs(v) < inf. A covariance holding NaN or infinity is not of full rank.

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import full_rank
    >>> full_rank(np.array([[0.25]])), full_rank(np.ones((2, 2)))
    (True, False)
    >>> near = np.array([[1.0, 1.0], [1.0, 1.0 + 1e-9]])
    >>> full_rank(near), full_rank(near, rule="qr")
    (True, False)
    """
    if not np.all(np.isfinite(var)):  # no usable covariance (either rule would fail on it)
        return False
    if var.shape == (1, 1):
        return bool(var[0, 0] != 0)
    if rule == "qr":
        return qr_rank(var) == len(var)
    return bool(np.linalg.matrix_rank(var) == len(var))


def chi_square_statistic(x: np.ndarray, var: np.ndarray, rule: str = "svd") -> float:
    """The statistic x' V^-1 x of a test of equal curves (:func:`quadratic_form`), NaN when ``var`` is singular
    by ``rule`` (:func:`full_rank`): no group contrast has a variance, so there is nothing to test. R stops there
    (``survdiff``: "system is exactly singular") or reports -1 (``cuminc``); here the statistic and p-value are
    NaN and the test's notes say why.

    Examples
    --------
    >>> import numpy as np
    >>> from hsct_analysis.stats.chisquare import chi_square_statistic
    >>> chi_square_statistic(np.array([2.0]), np.array([[4.0]])), chi_square_statistic(np.array([2.0]), np.zeros((1, 1)))
    (1.0, nan)
    """
    return quadratic_form(x, var) if full_rank(var, rule) else float("nan")


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
