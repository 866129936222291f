"""Study size: power of a two-group log-rank comparison by simulation.

With two groups of given sizes (often very unequal) and a given follow-up, how often would a
study detect a hazard ratio of a given size? :func:`simulate_power` answers by simulation:
exponential event times (hazard ``baseline_hazard`` per day in the reference group, ``hr``
times that in the other), independent uniform administrative censoring between
``censor_days[0]`` and ``censor_days[1]`` days, and a two-sided log-rank test at level
``alpha``. All ``n_sim`` trials are tested at once (arrays of shape
``(n_sim, n)``).

The vectorised log-rank statistic assumes no tied times, which holds with probability 1
for continuous simulated times; it equals R ``survdiff`` (and
``hsct_analysis.stats.survival.logrank``) on such data, which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hsct_analysis.stats import survival


@dataclass(frozen=True)
class PowerResult:
    """Rejection rate of the log-rank test over simulated studies.

    ``power`` (proportion 0-1), ``mc_se`` (its Monte-Carlo standard error), ``n_sim``,
    ``hr``, ``n_groups``, ``alpha``, ``mean_events`` (events per simulated study) and
    ``p_values`` (one per simulated study).
    """

    power: float
    mc_se: float
    n_sim: int
    hr: float
    n_groups: tuple[int, int]
    alpha: float
    mean_events: float
    p_values: np.ndarray


def _logrank_pieces(time, event, group) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per study (row): observed and expected events of group 1, all events, and the variance."""
    time, event, group = np.atleast_2d(time), np.atleast_2d(event), np.atleast_2d(group)
    n = time.shape[1]
    order = np.argsort(time, axis=1)
    d = np.take_along_axis(event, order, axis=1).astype(float)
    g = np.take_along_axis(np.broadcast_to(group, time.shape), order, axis=1).astype(float)
    share = np.cumsum(g[:, ::-1], axis=1)[:, ::-1] / (n - np.arange(n))  # group-1 share of the risk set
    observed = np.sum(d * g, axis=1)
    expected = np.sum(d * share, axis=1)
    variance = np.sum(d * share * (1 - share), axis=1)
    return observed, expected, d.sum(axis=1), variance


def logrank_untied(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Log-rank chi-square (1 df) for each row of ``(n_sim, n)`` arrays without tied times.

    ``group`` is 0/1 (1 = comparison group); rows are independent studies.
    """
    observed, expected, _, variance = _logrank_pieces(time, event, group)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (observed - expected) ** 2 / variance


def hazard_ratio_untied(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Log-rank hazard ratio ``(O1/E1) / (O0/E0)`` of group 1 vs group 0 for each row (untied data)."""
    observed, expected, total, _ = _logrank_pieces(time, event, group)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (observed / expected) / ((total - observed) / (total - expected))


def exponential_hazard(time, event, days: float) -> float:
    """The constant hazard per day whose survival at ``days`` equals the Kaplan-Meier estimate there.

    ``-log S(days) / days`` with ``S`` the Kaplan-Meier estimate of ``(time, event)`` (days; 1 =
    event, 0 = censored): an exponential model matched to the observed survival at one time, e.g.
    the ``baseline_hazard`` of a :class:`StudyDesign` from a reference group's 3-year survival.

    Examples
    --------
    >>> from hsct_analysis.stats.power import exponential_hazard
    >>> round(exponential_hazard([100, 200, 300, 400], [1, 0, 1, 0], 365.25), 6)  # S(365.25) = 0.375
    0.002685
    """
    estimate = float(survival.value_at(survival.kaplan_meier(time, event), days)["estimate"])
    return float(-np.log(estimate) / days)


@dataclass(frozen=True)
class StudyDesign:
    """A two-group study to simulate.

    ``n_groups``: (reference, comparison) sizes; ``baseline_hazard``: exponential hazard of the
    reference group, per day; ``censor_days``: (min, max) of the uniform potential follow-up, in
    days; ``hr``: hazard ratio of the comparison group; ``n_sim``: simulated studies; ``seed``:
    random seed (results are deterministic for a seed). The first three describe the study and
    have no default (``hsct_analysis.paper.study_period.power_design`` gives the paper's).
    """

    n_groups: tuple[int, int]
    baseline_hazard: float
    censor_days: tuple[float, float]
    hr: float = 2.0
    n_sim: int = 400
    seed: int = 0


def simulate_studies(**design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated ``(time, event, group)`` arrays of shape ``(n_sim, n)``; times in days.

    Keyword arguments are the fields of :class:`StudyDesign` (an unknown one is a ``TypeError``).
    """
    d = StudyDesign(**design)
    rng = np.random.default_rng(d.seed)
    n0, n1 = d.n_groups
    group = np.r_[np.zeros(n0), np.ones(n1)]
    hazard = d.baseline_hazard * np.where(group == 1, d.hr, 1.0)
    event_time = rng.exponential(1.0, (d.n_sim, n0 + n1)) / hazard
    censor_time = rng.uniform(d.censor_days[0], d.censor_days[1], (d.n_sim, n0 + n1))
    time = np.minimum(event_time, censor_time)
    event = (event_time <= censor_time).astype(int)
    return time, event, np.broadcast_to(group, time.shape)


def simulate_power(alpha: float = 0.05, **design) -> PowerResult:
    """Proportion of simulated studies whose log-rank p-value is below ``alpha``.

    Keyword arguments other than ``alpha`` are the fields of :class:`StudyDesign`.
    """
    d = StudyDesign(**design)
    time, event, group = simulate_studies(**design)
    p = stats.chi2.sf(logrank_untied(time, event, group), 1)
    rejected = p < alpha
    power = float(rejected.mean())
    return PowerResult(
        power=power,
        mc_se=float(np.sqrt(power * (1 - power) / d.n_sim)),
        n_sim=int(d.n_sim),
        hr=float(d.hr),
        n_groups=(int(d.n_groups[0]), int(d.n_groups[1])),
        alpha=float(alpha),
        mean_events=float(event.sum(axis=1).mean()),
        p_values=p,
    )


def power_table(hrs, **kwargs) -> pd.DataFrame:
    """:func:`simulate_power` for each hazard ratio in ``hrs``.

    Returns a DataFrame indexed by ``hr`` with ``power`` and ``mc_se`` (proportions),
    ``mean_events`` and ``n_sim``. Keyword arguments go to :func:`simulate_power`.
    """
    rows = []
    for hr in hrs:
        r = simulate_power(hr=hr, **kwargs)
        rows.append({"hr": r.hr, "power": r.power, "mc_se": r.mc_se, "mean_events": r.mean_events, "n_sim": r.n_sim})
    return pd.DataFrame(rows).set_index("hr")
