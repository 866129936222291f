"""Proofs that a printed CI bound cannot be met: the exhaustive search is checked against
brute force over patient-level data sets, and the two proofs the headline needs are pinned."""

import itertools

import numpy as np
import pytest

from hsct_analysis.paper import headline, proofs, scorecard
from hsct_analysis.paper import registry as published
from hsct_analysis.stats import competing


@pytest.fixture(scope="module")
def registry():
    return scorecard.audited(published.load_registry())


def _brute_force(n: int, at: float, low: float, high: float):
    """Every data set of n patients on the time grid 1..n (enough for every order and tie),
    each censored, with the cause, with the other cause, or event-free past ``at``: the
    log-CI bounds (percent) of those whose estimate at ``at`` lies in [low, high] (percent)."""
    options = [(t, s) for t in range(1, n + 1) for s in (0, 1, 2)] + [(at + 1, 0)]
    lowers, uppers = [], []
    for data in itertools.product(options, repeat=n):
        time = np.array([d[0] for d in data], float)
        status = np.array([d[1] for d in data])
        if not (status == 1).any():
            continue
        curve = competing.cumulative_incidence(time, status, cause=1, conf_type="log")
        row = curve[curve.index <= at].iloc[-1]
        if low - 1e-12 <= 100 * row["estimate"] <= high + 1e-12:
            lowers.append(100 * row["lower"])
            uppers.append(100 * row["upper"])
    return np.array(lowers), np.array(uppers)


@pytest.mark.parametrize("estimate", [33.3, 50.0, 66.7])
def test_search_equals_brute_force_on_three_patients(estimate):
    found = proofs.search_cif_bounds(3, estimate, tolerance_pp=1.0)
    lowers, uppers = _brute_force(3, at=3.5, low=estimate - 1, high=estimate + 1)
    assert len(lowers) > 0
    assert found.lower_min == pytest.approx(lowers.min(), abs=1e-9)
    assert found.lower_max == pytest.approx(lowers.max(), abs=1e-9)
    assert found.upper_min == pytest.approx(uppers.min(), abs=1e-9)
    assert found.upper_max == pytest.approx(uppers.max(), abs=1e-9)


def test_search_refuses_large_groups():
    with pytest.raises(ValueError, match="limited to groups of"):
        proofs.search_cif_bounds(proofs.MAX_SEARCH_N + 1, 50.0)


@pytest.mark.slow  # two exhaustive searches over 11 patients (about 10 s)
def test_the_relapse_upper_bound_after_90_days_is_out_of_reach(registry):
    ids = ["t3.relapse.cart_interval_90.>90.up", "t3.nrm.cart_interval_90.>90.lo"]
    table = proofs.small_group_proofs(registry, ids=ids).set_index("id")
    # 11 patients, RI 18.2 (5.2-63.7): any 11 patients with RI within 18.2 +- 1 have an upper bound >= 66.47
    relapse = table.loc[ids[0]]
    assert relapse["n"] == 11 and relapse["reachable_low"] == pytest.approx(66.47)
    assert relapse["proof"].startswith("Exhaustive search over the 11 patients")
    # the NRM lower bound of the same group is reachable: no proof, the calibration must meet it
    nrm = table.loc[ids[1]]
    assert nrm["reachable_high"] >= 40.7 - 2 and nrm["proof"] == ""


def test_log_interval_pair_proof_of_the_90_day_nrm(registry):
    pairs = proofs.interval_pair_proofs(registry, headline.identity_proofs(registry)).set_index("id")
    row = pairs.loc["t3.nrm.cart_interval_90.<=90.up"]
    # NRM <= 100 - 52.9 - 8.5 = 38.6; lower >= 30.8 - 2 = 28.8; upper <= 38.6^2 / 28.8 = 51.7 < 55.0 - 2
    assert row["upper_max"] == pytest.approx(38.6**2 / 28.8, abs=0.01)
    assert row["lower_id"] == "t3.nrm.cart_interval_90.<=90.lo"
    # the whole-cohort 3-year NRM pair is NOT excluded (41.7^2 / 31.9 = 54.5 >= 56.2 - 2): no proof
    assert "res.nrm.3y.up" not in pairs.index


def _every_sequence(n: int) -> list[list[tuple[int, int, int]]]:
    """Every sequence of (at risk, cause events, other events) steps by which n patients can reach a time, a
    censoring being a step without events: written out one by one, without pruning."""
    out = []

    def walk(at_risk, steps):
        out.append(steps)
        if at_risk == 0:
            return
        walk(at_risk - 1, steps + [(at_risk, 0, 0)])
        for size in range(1, at_risk + 1):
            for d1 in range(size + 1):
                walk(at_risk - size, steps + [(at_risk, d1, size - d1)])

    walk(n, [])
    return out


@pytest.mark.parametrize("estimate", [20.0, 45.0, 80.0])
def test_the_search_gives_cif_cores_estimates_and_variances_bit_for_bit(estimate):
    """The pooled, pruned search (proofs._reachable) against every sequence of 6 patients written out and passed to
    the statistics core's cif_core: the same (estimate, variance) pairs within the window, to the last bit, and as
    many sequences kept."""
    from hsct_analysis.stats.competing import cif_core

    n, low, high = 6, (estimate - 5) / 100, (estimate + 5) / 100
    expected = []
    for steps in _every_sequence(n):
        if not steps:
            continue
        at_risk, d1, d2 = (np.array(column, float) for column in zip(*steps))
        cif, var = cif_core(at_risk, d1, d2)
        if low - 1e-12 <= cif[-1] <= high + 1e-12:
            expected.append((cif[-1], var[-1]))
    est, var, visited = proofs._reachable(n, low, high)
    assert visited < len(_every_sequence(n))  # it prunes
    assert len(expected) > 50
    assert sorted(zip(est.tolist(), var.tolist())) == sorted(expected)
