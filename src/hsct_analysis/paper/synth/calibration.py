"""Calibration of the synthetic outcomes against the published-results registry.

Simulated annealing (:class:`Calibrator`) moves outcome records between patients, and event
days within a record, so that the scorecard's entries come within the fixed tolerances of
:mod:`hsct_analysis.paper.tolerances`. The objective puts the paper's headline claims first
(:mod:`hsct_analysis.paper.headline`): each counts :data:`HEADLINE_WEIGHT` times; where the
identity 1 - LFS = RI + NRM forbids the printed LFS, RI and NRM to hold together, LFS and RI
keep the headline weight and NRM (a secondary endpoint) absorbs the gap. Entries the audit marks
inconsistent count :data:`CONFLICT_WEIGHT`; every other entry (CI bounds included) counts once
per printing. An entry's penalty is its squared miss in tolerance units (capped). Squared misses let an
entry sit just outside its tolerance, so a last, greedy step (:meth:`Calibrator.reduce_misses`) counts
instead: it keeps a move only if fewer headline claims of the primary endpoints (OS, LFS) miss, or as many and
fewer headline claims, or as many and fewer other entries, or as many and nearer (all but record swaps). Its moves:
swap two patients' outcome records; swap one factor's baseline columns (:data:`COVARIATES`) between two patients;
swap two patients' pre-transplant histories (:data:`HISTORY`), or their CAR-T intervals alone where both still nest;
move one follow-up or relapse day next to another day (which changes the order of events and censorings, hence the
confidence intervals, at fixed counts). Where headline claims that can hold are still out, a last push anneals on
those claims alone, leaning on the ones nearly in, and runs greedy passes again (:data:`PUSH`); it is kept only if
the state ranks better (:func:`rank`). A record swap moves a patient in every factor at once, a covariate swap in
one factor only, an interval swap in the four interval factors, so the groups of each factor can be composed on their
own. Every move keeps every count; the swaps keep every baseline median and range, the day moves the printed
minimum, median and maximum follow-up.

Speed: the Kaplan-Meier and Aalen-Johansen estimates of every Table 3 group are computed in one
pass (:class:`GroupCurves`: a tally per group at all distinct times, then the library's
``survival.product_limit`` / ``competing.cif_core`` along the last axis, relapse and NRM in one call), equal to
:func:`~hsct_analysis.stats.survival.kaplan_meier` and
:func:`~hsct_analysis.stats.competing.cumulative_incidence` read with
:func:`~hsct_analysis.stats.survival.value_at` (asserted in the tests). p-values come from
the library's log-rank and Gray array cores (:class:`GroupTest`, groups coded once), Table 4 from
:class:`hsct_analysis.paper.models.Refit`: the numbers of :func:`hsct_analysis.paper.scorecard.fit_table4` (the
scorecard's and the book's route) by the library's array estimators on a design built once (a Cox refit takes
milliseconds instead of a lifelines fit's 0.1 s; asserted equal in the tests). A move whose curves alone already
decide its rejection is rejected before its p-values and refits (:meth:`Calibrator.run`; the same decisions as the
full evaluation, asserted in the tests).
Deterministic: a fixed number of iterations per phase, every random number from the seed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple

import numpy as np
import pandas as pd

from hsct_analysis.paper.headline import holds_in_identity
from hsct_analysis.paper.study_period import follow_up_range_days
from hsct_analysis.paper.synth.draws import fix_followup_median
from hsct_analysis.paper.synth.targets import paper_targets
from hsct_analysis.paper.synth.writer import EVENT_COLUMNS
from hsct_analysis.paper.tolerances import scaled_miss
from hsct_analysis.stats.counting import distinct_times

#: Endpoints calibrated jointly with the subgroup structure (Table 3 and the overall curves).
CORE_ENDPOINTS = ("os", "lfs", "relapse", "nrm")
#: The paper's stated primary endpoints (Methods): their headline claims come first in the greedy step.
PRIMARY_ENDPOINTS = ("os", "lfs")
#: Relative margin of :meth:`Calibrator.run`'s early rejection, far above the rounding of its sums (about 1e-13 of
#: the objective): a move is rejected without its p-values and refits only when that is certain.
EARLY_SLACK = 1e-9
#: Largest penalty of one entry (squared tolerance units): far-off entries stop pulling.
PENALTY_CAP = 25.0
#: The cap of a headline claim that can hold (one with a step): far off, it still pulls.
HEADLINE_CAP = 400.0
#: Weight of an entry the audit marks inconsistent (the paper's numbers conflict there).
CONFLICT_WEIGHT = 0.1
#: Weight of a headline claim (see :mod:`hsct_analysis.paper.headline`).
HEADLINE_WEIGHT = 10.0
#: Weight of an inconsistent headline NRM estimate: it absorbs the identity gap, as close as it can.
GAP_WEIGHT = 1.0
#: Extra penalty (in squared tolerance units, times the weight) of a headline claim out of tolerance:
#: the squared miss alone lets a heavily weighted claim sit just outside its tolerance.
HEADLINE_STEP = 20.0
#: The step of a headline claim of a primary endpoint (:data:`PRIMARY_ENDPOINTS`), so that where a primary and a
#: secondary claim pull apart the primary one holds. On the bundled seed, with 9 relapses
#: (:func:`~hsct_analysis.paper.synth.targets.relapses_by_three_years`): at 20 (= :data:`HEADLINE_STEP`) the kept
#: chain lost the <= 90 days 3-year LFS (52.7 against 53.9) and left 47 printings out; at 60 it held every primary
#: claim and left 64 out, at 80 68 out, at 120 52 out (both chains held every primary claim).
PRIMARY_STEP = 120.0
STATS = ("value", "lower", "upper")
#: The baseline columns each Table 3 factor is read from, with the columns drawn jointly with them
#: (:func:`~hsct_analysis.paper.synth.draws.baseline`): a covariate swap moves them together between two
#: patients of different levels, so every printed count, cross-count (e.g. intensified conditioning by MRD,
#: graft by donor, ICANS within CRS) and median stays exact. The interval factors (CAR-T to second HSCT,
#: first HSCT to relapse, first to second HSCT) are left out: their intervals are fitted jointly.
COVARIATES: dict[str, tuple[str, ...]] = {
    "sex": ("sex",),
    "age_group": ("age_second_hsct", "age_first_hsct"),
    "bcr_abl1": ("fusion_gene",),
    "cart_source": ("cart_source",),
    "crs": ("crs_after_cart", "crs_grade", "icans_grade"),
    "mrd_second": ("mrd_before_second_hsct", "intensified_conditioning"),
    "conditioning_second": ("conditioning_first", "conditioning_second"),
    "atg_type": ("atg_type",),
    "donor_second_group": ("donor_second", "graft_second"),
}
#: The pre-transplant history, drawn jointly (:func:`~hsct_analysis.paper.synth.draws.baseline`): relapse site, the
#: intervals first HSCT -> MRD+ / relapse -> CAR-T -> second HSCT (each patient's nested inside the first-to-second
#: interval) and diagnosis to each HSCT. An ``"intervals"`` swap of :meth:`Calibrator.reduce_misses` trades the whole
#: history between two patients (each column keeps its values, so every printed median and range; each patient's
#: intervals stay nested), or only the CAR-T to second HSCT interval where both patients' intervals still nest.
HISTORY = (
    "relapse_site",
    "days_first_hsct_to_relapse",
    "days_first_hsct_to_mrd_positive",
    "days_first_to_second_hsct",
    "days_relapse_to_cart",
    "days_cart_to_second_hsct",
    "days_diagnosis_to_first_hsct",
    "days_diagnosis_to_second_hsct",
)
#: The Table 3 factors read from the history, and those of the CAR-T interval alone.
HISTORY_FACTORS = ("relapse_timing", "first_to_second", "cart_interval_90", "cart_interval_60")
CART_INTERVAL_FACTORS = ("cart_interval_90", "cart_interval_60")
#: Distinct days on either side of a follow-up or relapse day next to which the ``"days"`` pass of
#: :meth:`Calibrator.reduce_misses` tries to move it (:meth:`Calibrator._day_candidates`).
DAY_NEIGHBOURS = 4
#: Swap kinds of :meth:`Calibrator._swap_candidates` besides a covariate swap (kind >= 0, the index of its factor).
RECORD_SWAP, HISTORY_SWAP, CART_INTERVAL_SWAP = -1, -2, -3


def core_arrays(fu, dead, rel) -> dict:
    """OS / LFS / relapse-NRM (time, status) arrays, derived by the loader's own rule."""
    from hsct_analysis.cohort import survival_endpoint_arrays

    e = survival_endpoint_arrays(fu, dead, rel)
    relapse_nrm = (e["relapse_nrm_time"], e["relapse_nrm_status"])
    return {
        "os": (e["os_time"], e["os_event"]),
        "lfs": (e["lfs_time"], e["lfs_event"]),
        "relapse": relapse_nrm,
        "nrm": relapse_nrm,
    }


_Z95: list[float] = []


def z95() -> float:
    """The normal quantile of a two-sided 95% interval (computed once)."""
    from hsct_analysis.stats import counting

    if not _Z95:
        _Z95.append(counting.z_value(0.95))
    return _Z95[0]


def _limits(endpoint_name: str, est, spread):
    from hsct_analysis.stats import competing, survival

    if endpoint_name in ("os", "lfs"):
        return survival.survfit_limits(est, spread, z95(), survival.CONF_TYPES["arcsine"])
    return competing.cif_limits(est, spread, z95(), "log")


def _estimates(endpoint_name: str, at_risk, counts):
    """(estimate, se or variance) along the last axis, from per-time counts by code."""
    from hsct_analysis.stats import competing, survival

    if endpoint_name in ("os", "lfs"):
        return survival.product_limit(at_risk, counts[..., 1])
    cause, other = (2, 1) if endpoint_name == "nrm" else (1, 2)
    n_other = counts[..., 1:].sum(axis=-1) - counts[..., cause]
    return competing.cif_core(at_risk, counts[..., cause], n_other)


def curve_values(endpoint_name: str, time: np.ndarray, status: np.ndarray, times: list[float]) -> dict:
    """{(t, stat): percent} of one endpoint's curve at ``times`` (days), as the scorecard reads it.

    KM with arcsine limits (OS, LFS) or cumulative incidence with log limits (relapse cause 1,
    NRM cause 2) through the library's array cores, read as :func:`survival.value_at` reads a
    curve; the same numbers as the library's DataFrame functions (asserted in the tests).
    """
    from hsct_analysis.stats import counting

    codes = np.asarray(status, int)
    n_codes = 2 if endpoint_name in ("os", "lfs") else max(int(codes.max()), 2) + 1
    ts, at_risk, counts = counting.tally(np.asarray(time, float), codes, n_codes)
    est, spread = _estimates(endpoint_name, at_risk, counts)
    lower, upper = _limits(endpoint_name, est, spread)
    start = 1.0 if endpoint_name in ("os", "lfs") else 0.0
    out = {}
    for t in times:
        if t > ts[-1]:
            vals = (np.nan, np.nan, np.nan)
        elif t < ts[0]:
            vals = (start, np.nan, np.nan)  # as survival.value_at: no interval before the first time
        else:
            k = int(np.searchsorted(ts, t, side="right")) - 1
            vals = (est[k], lower[k], upper[k])
        for stat, v in zip(STATS, vals):
            out[(t, stat)] = 100.0 * float(v)
    return out


def _code_sum(counts: np.ndarray, first: int) -> np.ndarray:
    """``counts[..., first:].sum(axis=-1)`` for tallies of whole patients (0/1 weights): the same numbers (sums of
    whole numbers are exact in any order), without a reduction over a short last axis."""
    out = counts[..., first].copy()
    for code in range(first + 1, counts.shape[-1]):
        out += counts[..., code]
    return out


class GroupCurves:
    """Estimates of the core endpoints for many patient groups at once.

    ``masks`` (groups x patients, bool) says who is in each group; ``times`` maps an endpoint to
    the days at which it is read. :meth:`values` returns, per endpoint, an array (groups x
    times x 3) of estimate, lower and upper limit in percent, with :func:`survival.value_at`'s
    conventions (before a group's first time: the start value without limits; after its last
    time: NaN).
    """

    def __init__(self, masks: np.ndarray, times: dict[str, list[float]]):
        self.masks = np.asarray(masks, bool)
        self.weights = self.masks.astype(float)
        self.times = {ep: np.asarray(sorted(ts), float) for ep, ts in times.items()}

    def exchange(self, rows: np.ndarray, i: int, j: int) -> None:
        """Patients ``i`` and ``j`` trade places in the groups ``rows`` (a covariate swap)."""
        for a in (self.masks, self.weights):
            a[np.ix_(rows, [i, j])] = a[np.ix_(rows, [j, i])]

    def _tally(self, times, codes, n_codes, horizon, members):
        """Per group: distinct times up to ``horizon``, at risk and counts by code there, and the index of each
        group's first and last time (among all distinct times). ``times``: :func:`distinct_times` of the patients'
        times; ``members``: (group, patient, weight) of the nonzero cells of the weights (groups x patients) and the
        number of groups."""
        distinct, inverse = times
        group, patient, weight, n_groups = members
        k = distinct.size
        cells = (group * k + inverse[patient]) * n_codes + codes[patient]
        counts = np.bincount(cells, weights=weight, minlength=n_groups * k * n_codes)
        counts = counts.reshape(n_groups, k, n_codes)
        leaving = _code_sum(counts, 0)
        at_risk = leaving[:, ::-1].cumsum(axis=1)[:, ::-1]
        present = leaving > 0
        first = distinct[present.argmax(axis=1)]
        last = distinct[k - 1 - present[:, ::-1].argmax(axis=1)]
        keep = max(int(np.searchsorted(distinct, horizon, side="right")), 1)  # later times change nothing read
        return distinct[:keep], at_risk[:, :keep], counts[:, :keep], first, last

    def _read(self, endpoint_name, distinct, est, spread, first, last):
        times = self.times[endpoint_name]
        k = np.maximum(np.searchsorted(distinct, times, side="right") - 1, 0)
        est, spread = est[:, k], spread[:, k]
        lower, upper = _limits(endpoint_name, est, spread)  # only where read
        out = np.empty(est.shape + (3,))
        for k, a in enumerate((est, lower, upper)):
            np.multiply(a, 100.0, out=out[..., k])
        start = 100.0 if endpoint_name in ("os", "lfs") else 0.0
        out[times[None, :] < first[:, None]] = (start, np.nan, np.nan)
        out[times[None, :] > last[:, None]] = np.nan
        return out

    def values(self, arrays: dict, rows=None, weights=None) -> dict[str, np.ndarray]:
        """Per endpoint: (groups x times x 3) estimate, lower, upper in percent; ``rows`` (optional)
        restricts the computation to those groups (rows of ``masks``, in that order); ``weights`` (groups x
        patients, 0/1) gives the groups explicitly instead (e.g. as a covariate swap would leave them)."""
        from hsct_analysis.stats.competing import cif_core

        rows = np.arange(len(self.masks)) if rows is None else np.asarray(rows, int)
        weights = self.weights[rows] if weights is None else weights
        group, patient = np.nonzero(weights)
        members = (group, patient, weights[group, patient], len(weights))
        tallied: list = []  # (time array, its distinct times): LFS and relapse/NRM end at the same times

        def distinct(t):
            for seen, result in tallied:
                if np.array_equal(seen, t):
                    return result
            tallied.append((t, distinct_times(t)))
            return tallied[-1][1]

        out = {}
        for ep in ("os", "lfs"):
            if ep in self.times:
                t, e = arrays[ep]
                distinct_at, at_risk, counts, first, last = self._tally(
                    distinct(t), np.asarray(e, int), 2, self.times[ep][-1], members
                )
                est, se = _estimates(ep, at_risk, counts)
                out[ep] = self._read(ep, distinct_at, est, se, first, last)
        competing = [ep for ep in ("relapse", "nrm") if ep in self.times]
        if competing:
            t, s = arrays["relapse"]
            horizon = max(self.times[ep][-1] for ep in competing)
            distinct_at, at_risk, counts, first, last = self._tally(
                distinct(t), np.asarray(s, int), 3, horizon, members
            )
            # both causes in one call (a leading axis; the same arithmetic element by element as one call per cause)
            n_cause = np.stack([counts[..., 2 if ep == "nrm" else 1] for ep in competing])
            n_other = _code_sum(counts, 1)[None] - n_cause
            est, var = cif_core(at_risk[None], n_cause, n_other)
            for k, ep in enumerate(competing):
                out[ep] = self._read(ep, distinct_at, est[k], var[k], first, last)
        return out


class GroupTest:
    """Log-rank (OS, LFS) or Gray's test (relapse, NRM) p-value for one grouping of the patients,
    tested many times on changing outcomes.

    The groups are coded once (``levels``: one label per patient, None where missing; codes as
    the library's tests sort them); :meth:`p` runs the library's array cores
    (:func:`~hsct_analysis.stats.survival.logrank_core`,
    :func:`~hsct_analysis.stats.competing.gray_core`), so it equals
    :func:`~hsct_analysis.stats.survival.logrank` and :func:`~hsct_analysis.stats.competing.gray_test`
    (asserted in the tests) at a fraction of their cost.
    """

    def __init__(self, levels: np.ndarray):
        self.keep = pd.notna(levels)
        cat = pd.Categorical(np.asarray(levels[self.keep]).astype(str))
        self.codes = cat.codes.astype(np.int64)
        self.n_groups = len(cat.categories)
        self.position = np.cumsum(self.keep) - 1  # a kept patient's index into codes

    def exchange(self, i: int, j: int) -> None:
        """Patients ``i`` and ``j`` (both with a level) trade groups."""
        a, b = self.position[i], self.position[j]
        self.codes[a], self.codes[b] = self.codes[b], self.codes[a]

    def p(self, endpoint_name: str, time, status) -> float:
        from hsct_analysis.stats.chisquare import chi2_p_value
        from hsct_analysis.stats.competing import gray_core
        from hsct_analysis.stats.survival import logrank_core

        if self.n_groups < 2:
            return np.nan
        t = np.asarray(time, float)[self.keep]
        s = np.asarray(status, np.int64)[self.keep]
        if endpoint_name in ("os", "lfs"):
            *_, stat, df = logrank_core(t, s, self.codes, self.n_groups)
            return chi2_p_value(stat, df)
        code3 = s if endpoint_name == "relapse" else np.choose(s, [0, 2, 1])  # NRM: cause 2 is the one compared
        *_, stat = gray_core(t, code3, self.codes, self.n_groups)
        return chi2_p_value(stat, self.n_groups - 1)


def entry_penalty(kind: str, stat: str, target: float, value: float, printed: str = "", step: float = 0.0) -> float:
    """Squared miss of one entry in units of its tolerance, capped at :data:`PENALTY_CAP`, plus
    ``step`` once the entry is out of tolerance (used for the headline claims, whose cap is
    :data:`HEADLINE_CAP`).

    ``kind`` is the registry kind (km, cif, p, hr); the tolerance is the scorecard's
    (:func:`hsct_analysis.paper.tolerances.scaled_miss`), so the objective always aims at the
    rules the scorecard applies. A value that cannot be computed scores the cap (and the step).
    """
    x = scaled_miss(kind, stat, "%", target, value, printed)
    cap = HEADLINE_CAP if step else PENALTY_CAP
    if not np.isfinite(x):
        return cap + step
    return min(x * x, cap) + (step if x > 1.0 else 0.0)


def entry_weights(registry: pd.DataFrame, headline: set[str], proven: frozenset[str] = frozenset()) -> dict[str, float]:
    """Objective weight of every canonical registry id (see the module docstring).

    One per printing of the number (the scorecard scores each), :data:`CONFLICT_WEIGHT` per
    printing the audit marks inconsistent, except LFS and RI estimates whose only conflict is
    the identity (:func:`holds_in_identity`: held at weight 1, NRM absorbs) and bounds proven out of
    reach (:func:`only_out_of_reach`: weight 1, as close as they can come); headline claims
    :data:`HEADLINE_WEIGHT` per printing, except an inconsistent headline NRM estimate and a headline
    bound in ``proven`` (no cohort can meet it, :func:`~hsct_analysis.paper.headline.bound_proofs`):
    :data:`GAP_WEIGHT`, as close as it can come without pulling the claims that can hold away.
    """
    from hsct_analysis.paper.headline import identity_proofs

    reg = registry.fillna("")
    dup = reg["duplicate_of"].astype(str)
    status = reg["status"].astype(str)
    canonical = reg[dup == ""].set_index("id").to_dict("index")  # id -> row (a dict: read a thousand times)
    gaps = {(r.factor, r.level, float(r.time_days)) for r in identity_proofs(registry).itertuples()}
    weights: dict[str, float] = {}
    for rid, d, st in zip(reg["id"], dup, status):
        key = d or rid
        row = canonical[key]
        if key in headline:  # NRM absorbs a gap only where no cohort can meet LFS, RI and NRM together
            gap = (
                row["endpoint"] == "nrm"
                and row["stat"] == "value"
                and ((row["factor"], row["level"], float(row["time_days"] or "nan")) in gaps)
            )
            w = GAP_WEIGHT if gap or key in proven else HEADLINE_WEIGHT
        elif st == "inconsistent" and holds_in_identity(row):
            w = 1.0  # an identity conflict: LFS and RI are held (so their CIs can be), NRM absorbs the gap
        elif st == "inconsistent" and only_out_of_reach(row):
            w = 1.0  # a bound proven out of reach: its nearest reachable value is still the best answer
        else:
            w = CONFLICT_WEIGHT if st == "inconsistent" else 1.0
        weights[key] = weights.get(key, 0.0) + w
    return weights


def entry_steps(
    registry: pd.DataFrame, headline: set[str], proven: frozenset[str] = frozenset(), weights: dict | None = None
) -> dict[str, float]:
    """:data:`HEADLINE_STEP` for every headline claim that can hold (not an NRM that absorbs a proven gap,
    nor a bound in ``proven``). ``weights``: :func:`entry_weights` of the same arguments, when the caller has them."""
    weights = entry_weights(registry, headline, proven) if weights is None else weights
    endpoint = dict(zip(registry["id"], registry["endpoint"]))
    step = {i: PRIMARY_STEP if endpoint.get(i) in PRIMARY_ENDPOINTS else HEADLINE_STEP for i in weights}
    return {i: (step[i] if i in headline and weights[i] >= HEADLINE_WEIGHT else 0.0) for i in weights}


def only_out_of_reach(row) -> bool:
    """Whether an inconsistent entry's only conflict is a proof that the bound itself is out of reach
    (the audit's ``unreachable_bound``): the calibration still pulls it, at weight 1, as close as it can."""
    reason = str(row["reason"])
    return reason.startswith("unreachable_bound:") and " | " not in reason


class _Misses:
    """What :meth:`Calibrator.reduce_misses` counts on one calibrator, and its judge of a move just made.

    It holds the misses (distance in tolerances, :func:`_distance`) of the curve entries ``c``, the p-values ``t`` and
    the Table 4 entries ``m`` as the calibrator stands, and their tally ``now``: (primary headline claims out,
    headline claims out, non-conflicting printings out, numbers lost, slack). ``slack`` sums how far the entries out
    are, each capped at ``cap`` tolerances (:data:`SLACK_CAPS`)."""

    def __init__(self, cal: Calibrator, cap: float):
        self.cal = cal
        self.cap = cap
        counted, held = cal._printings()

        def marks(ids, endpoints):  # per entry: (primary headline claim, headline claim, printings counted)
            head = np.array([i in held for i in ids], bool)
            first = head & np.array([ep in PRIMARY_ENDPOINTS for ep in endpoints], bool)
            return first, head, np.array([counted.get(i, 0) for i in ids], int)

        self.families = (  # the curve entries, the p-values, the Table 4 entries
            marks(cal.c_ids, cal.c_ep),
            marks([t[0] for t in cal.tests], [t[1] for t in cal.tests]),
            marks([m[0] for m in cal.models], [m[2] for m in cal.models]),
        )
        self.first_at, self.head_at, self.printings = (np.concatenate(marked) for marked in zip(*self.families))
        cal._refresh_tests(cal.factor_names)
        cal._refresh_models()
        _, self.c = cal._curve_misses()
        self.t, self.m = cal._test_misses(), cal._model_misses()
        self.now = self.tally(self.c, self.t, self.m)

    def tally(self, c, t, m) -> tuple:
        """(primary headline, headline, other, lost, slack) of the misses ``c``, ``t``, ``m`` of the three families."""
        x = np.concatenate((c, t, m))
        out = x > 1
        slack = 0
        for v, (_, _, n) in zip((c, t, m), self.families):  # family by family
            slack = slack + ((np.minimum(np.maximum(v, 1.0), self.cap) - 1.0) * n).sum()
        return (
            int(np.count_nonzero(out & self.first_at)),
            int(np.count_nonzero(out & self.head_at)),
            int(self.printings[out].sum()),
            int(np.count_nonzero(x >= FAR)),
            float(slack),
        )

    def improves(self, trial: tuple) -> bool:
        """Fewer primary, headline, other misses than now, then nearer; never a number lost."""
        return trial[3] <= self.now[3] and (*trial[:3], trial[4]) < (*self.now[:3], self.now[4])

    def with_curves(self, hit: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The curve misses as they stand, with the entries ``hit`` at ``x``."""
        c_new = self.c.copy()
        c_new[hit] = x
        return c_new

    def on_curves(self, c_new: np.ndarray, facs) -> bool:
        """Whether a move leaving the curve misses ``c_new`` can improve: the tests of the factors ``facs`` it touches
        at best on target, Table 4 as it is (a lower bound of the full count)."""
        cal = self.cal
        return self.improves(self.tally(c_new, np.where(cal.tests_of(facs), 0.0, self.t), self.m))

    def judge(self, c_new: np.ndarray, facs, modelled) -> bool:
        """Keep the move just made (its curve misses ``c_new``, the factors ``facs`` it touches, the factors
        ``modelled`` whose Table 4 models must be refitted, None for all) if it leaves fewer misses: judged on the
        tests that miss now, then every test touched, then Table 4 refitted. Else restore the tests and Table 4 (the
        caller undoes the move)."""
        cal = self.cal
        touched = cal.tests_of(facs)
        saved_tests = {key: cal.test_cache[key] for key in list(cal.test_cache) if key[0] in facs}
        missing = np.flatnonzero(touched & (self.t > 1))  # only these can come in
        refreshed = {(cal.tests[k][2], cal.tests[k][1]) for k in missing}
        cal._refresh_test_keys(sorted(refreshed))
        t_new = np.where(touched, 0.0, self.t)
        t_new[missing] = cal._test_misses()[missing]
        if self.improves(self.tally(c_new, t_new, self.m)):
            cal._refresh_tests(facs, done=refreshed)
            t_new = cal._test_misses()
            if self.improves(self.tally(c_new, t_new, self.m)):  # then Table 4, refitted, must keep the gain
                saved_models = dict(cal.model_cache)
                cal._refresh_models(modelled)
                m_new = cal._model_misses()
                trial = self.tally(c_new, t_new, m_new)
                if self.improves(trial):
                    self.now, self.c, self.t, self.m = trial, c_new, t_new, m_new
                    return True
                cal.model_cache = saved_models
        cal.test_cache.update(saved_tests)
        return False


class Calibrator:
    """Simulated annealing of outcome records against the scorecard's KM / CIF / p / Table 4 entries.

    The state is a table of outcome *records* (follow-up, death, relapse and the other event
    days), the assignment of records to patients, and per factor of :data:`COVARIATES` the assignment
    of its baseline columns to patients. The annealing's moves: swap two patients' records (keeps every
    count and every overall estimate; changes every subgroup the two differ in), or move one record's
    death day, censoring day or relapse day (keeps the numbers of deaths and relapses, the printed
    minimum, median and maximum follow-up). The greedy last step (:meth:`reduce_misses`) swaps records,
    or one factor's covariates between two patients of different levels (keeps every count; changes
    that factor's groups only). Every curve entry is recomputed per move in one batched pass;
    p-values only for the factors a move touches; Table 4 (``with_models``) is refitted per move.
    """

    def __init__(
        self,
        base: pd.DataFrame,
        out: pd.DataFrame,
        registry: pd.DataFrame,
        rng: np.random.Generator,
        with_tests: bool = True,
        with_models: bool = False,
        headline: set[str] | None = None,
        proven: frozenset[str] = frozenset(),
        only: frozenset[str] | None = None,
    ):
        from hsct_analysis.cohort.factors import FACTORS, factor
        from hsct_analysis.paper.headline import headline_ids

        self.rng = rng
        self.n = len(base)
        self.out = out.reset_index(drop=True).copy()
        self.perm = np.arange(self.n)  # patient p holds record perm[p]
        self.fu = self.out["followup_days"].to_numpy(float).copy()
        self.dead = self.out["dead"].to_numpy(int).copy()
        self.rel = self.out["relapse_days"].to_numpy(float).copy()
        self.cens = self.out["admin_censoring_days"].to_numpy(float).copy()
        self._arrays_at: tuple = (None, None)  # (state, arrays) of :meth:`_arrays`
        events = self.out[[c for c in EVENT_COLUMNS if c != "relapse_days"]].to_numpy(float)
        self.last_event = np.nan_to_num(np.nanmax(np.where(np.isnan(events), -np.inf, events), axis=1), neginf=0.0)
        self.median_followup = float(np.median(self.fu))
        # the printed minimum and maximum follow-up (days), which the day moves keep in place
        self.followup_range = tuple(float(d) for d in paper_targets()["medians"]["followup_days"][1:3])
        # a survivor's last contact: no earlier than the last transplant's potential follow-up (days)
        self.survivor_followup = follow_up_range_days()[0]
        self.registry = registry
        headline = set(headline_ids(registry)) if headline is None else headline
        weights = entry_weights(registry, headline, proven)
        steps = entry_steps(registry, headline, proven, weights)
        reg = registry.fillna("")
        reg = reg[reg["duplicate_of"].astype(str) == ""]
        core = reg[reg["kind"].isin(["km", "cif", "p"]) & reg["endpoint"].isin(CORE_ENDPOINTS)]
        core = core[(core["factor"] == "") | core["factor"].isin(list(FACTORS))]
        core = core[~((core["kind"] == "p") & (core["test"].isin(["wald", "fisher", "chisq"]) | (core["level"] != "")))]
        if not with_tests:
            core = core[core["kind"] != "p"]
        if only is not None:
            core = core[core["id"].isin(only)]
        self.factor_names = sorted({f for f in core["factor"] if f})
        self.base = base.reset_index(drop=True)
        self.levels = {f: factor(self.base, f).astype(object).to_numpy() for f in self.factor_names}
        self.swappable = [f for f in self.factor_names if f in COVARIATES]
        # patient p holds factor f's covariates of baseline row cov_perm[f][p]
        self.cov_perm = {f: np.arange(self.n) for f in self.swappable}
        # the pre-transplant history as the interval swaps leave it (patient p's row p)
        self.history = {c: self.base[c].to_numpy().copy() for c in HISTORY if c in self.base.columns}
        self.history_factors = [f for f in HISTORY_FACTORS if f in self.factor_names]
        self.group_tests = {f: GroupTest(self.levels[f]) for f in self.factor_names}
        groups = [("", "")] + [(f, lv) for f in self.factor_names for lv in FACTORS[f].levels]
        self.groups = [g for g in groups if g == ("", "") or (self.levels[g[0]] == g[1]).any()]
        gindex = {g: k for k, g in enumerate(self.groups)}
        self.masks = np.array(
            [np.ones(self.n, bool) if g == ("", "") else (self.levels[g[0]] == g[1]) for g in self.groups]
        )
        curves = core[
            core["kind"].isin(["km", "cif"]) & core.apply(lambda r: (r["factor"], r["level"]) in gindex, axis=1)
        ]
        times: dict[str, set] = {}
        for r in curves.itertuples(index=False):
            times.setdefault(r.endpoint, set()).add(float(r.time_days))
        self.curves = GroupCurves(self.masks, {ep: sorted(ts) for ep, ts in times.items()})
        self.masks = self.curves.masks
        self.factor_rows = {
            f: np.array([k for k, g in enumerate(self.groups) if g[0] == f], int) for f in self.factor_names
        }
        self.c_ids = list(curves["id"])
        self.c_ep = curves["endpoint"].to_numpy()
        # where each entry sits in the values of :meth:`GroupCurves.values` laid end to end (endpoint by endpoint in
        # the order of CORE_ENDPOINTS, each groups x times x 3): its endpoint's times, and the times of the
        # endpoints before it
        n_times = {ep: len(self.curves.times.get(ep, ())) for ep in CORE_ENDPOINTS}
        before = {ep: sum(n_times[e] for e in CORE_ENDPOINTS[: CORE_ENDPOINTS.index(ep)]) for ep in CORE_ENDPOINTS}
        self.c_n_times = np.array([n_times[ep] for ep in self.c_ep], int)
        self.c_before = np.array([before[ep] for ep in self.c_ep], int)
        self.c_g = np.array([gindex[(f, lv)] for f, lv in zip(curves["factor"], curves["level"])], int)
        self.c_t = np.array(
            [
                int(np.searchsorted(self.curves.times[ep], float(t)))
                for ep, t in zip(curves["endpoint"], curves["time_days"])
            ],
            int,
        )
        self.c_s = np.array([STATS.index(s) for s in curves["stat"]], int)
        self.c_target = curves["value"].to_numpy(float)
        self.c_tol = np.where(self.c_s == 0, 1.0, 2.0)
        self.c_w = np.array([weights[i] for i in self.c_ids])
        self.c_step = np.array([steps[i] for i in self.c_ids])
        self.c_cap = np.where(self.c_step > 0, HEADLINE_CAP, PENALTY_CAP)
        tests = core[core["kind"] == "p"]
        self.tests = [
            (r.id, r.endpoint, r.factor, float(r.value), str(r.printed), weights[r.id], steps[r.id])
            for r in tests.itertuples(index=False)
        ]
        self.test_keys = {(f, ep) for _, ep, f, *_ in self.tests}
        self.test_factors = np.array([t[2] for t in self.tests], object)  # the factor of each scored p-value
        self.models = []
        if with_models:
            hr = reg[
                reg["endpoint"].isin(CORE_ENDPOINTS)
                & (
                    ((reg["kind"] == "hr") & (reg["level"] != reg["reference"]))
                    | ((reg["kind"] == "p") & (reg["test"] == "wald"))
                )
            ]
            self.models = [
                (
                    r.id,
                    r.kind,
                    r.endpoint,
                    r.factor,
                    r.level,
                    r.stat,
                    float(r.value),
                    str(r.printed),
                    weights[r.id],
                    steps[r.id],
                )
                for r in hr.itertuples(index=False)
            ]
        self.refits = self._refits()
        self.model_frames = self._model_frames(self.base)
        self.early_rejections = 0  # moves :meth:`run` rejected on their curves alone
        self._test_memo: list = [(None, 0.0)] * len(self.tests)  # per p-value entry: (p, its miss) last computed
        self.test_cache: dict = {}
        self.model_cache: dict = {}
        self._refresh_tests(self.factor_names)
        self._refresh_models()

    # -- evaluation -------------------------------------------------------------------
    def _arrays(self):
        """The core endpoints' (time, status) arrays on the current assignment (:func:`core_arrays`), kept until the
        assignment, a follow-up or a relapse day changes: a move's curves, tests and refits read the same arrays."""
        key = (self.perm.tobytes(), self.fu.tobytes(), self.rel.tobytes())
        if self._arrays_at[0] != key:
            p = self.perm
            self._arrays_at = (key, core_arrays(self.fu[p], self.dead[p], self.rel[p]))
        return self._arrays_at[1]

    def _curve_values(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the curve entries of the groups ``rows``, their values on the current assignment)."""
        return self._entries(self.curves.values(self._arrays(), rows), rows)

    def _entries(self, values: dict, rows: np.ndarray, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the curve entries of the groups ``rows``, their values) from :meth:`GroupCurves.values` whose
        rows ``offset``, ``offset + 1``, ... are those groups."""
        pos = np.full(len(self.groups), -1)
        pos[rows] = np.arange(len(rows)) + offset
        hit = pos[self.c_g] >= 0
        if not hit.any():  # no curve entry among these groups (or none scored at all)
            return hit, np.empty(0)
        flat = np.concatenate([values[ep].ravel() for ep in CORE_ENDPOINTS if ep in values])
        n_rows = next(iter(values.values())).shape[0]
        at = (n_rows * self.c_before[hit] + pos[self.c_g[hit]] * self.c_n_times[hit] + self.c_t[hit]) * 3
        return hit, flat[at + self.c_s[hit]]

    def curve_penalties(self, groups=None) -> np.ndarray:
        """Weighted penalty of every curve entry; with ``groups`` (ids of the groups a move
        touched) only those groups are recomputed, the rest come from the last accepted state."""
        if groups is None or not hasattr(self, "_cpen"):
            rows = np.arange(len(self.groups))
        else:
            rows = np.array(sorted(groups), int)
        hit, v = self._curve_values(rows)
        x2 = ((v - self.c_target[hit]) / self.c_tol[hit]) ** 2
        pen = self._cpen.copy() if hasattr(self, "_cpen") else np.zeros(len(self.c_ids))
        x2 = np.where(np.isfinite(x2), x2, np.inf)
        step = np.where(x2 > 1.0, self.c_step[hit], 0.0)
        pen[hit] = self.c_w[hit] * (np.minimum(x2, self.c_cap[hit]) + step)
        return pen

    def tests_of(self, factor_names) -> np.ndarray:
        """Mask of the scored p-values (:attr:`tests`) of the factors ``factor_names`` (a set)."""
        return np.fromiter((f in factor_names for f in self.test_factors), bool, len(self.test_factors))

    def _refresh_tests(self, factor_names, done=()) -> None:
        """Recompute the scored p-values of the factors ``factor_names``, but for the keys ``done`` (already
        recomputed on the current assignment)."""
        self._refresh_test_keys(
            [
                (f, ep)
                for f in factor_names
                for ep in CORE_ENDPOINTS
                if (f, ep) in self.test_keys and (f, ep) not in done
            ]
        )

    def _refresh_test_keys(self, keys) -> None:
        """Recompute the scored p-values ``keys`` ((factor, endpoint) pairs)."""
        if not keys:
            return
        arrays = self._arrays()
        for f, ep in keys:
            self.test_cache[(f, ep)] = self.group_tests[f].p(ep, *arrays[ep])

    def _refits(self):
        """Per Table 4 endpoint scored, its :class:`~hsct_analysis.paper.models.Refit` (which holds the model's
        factors and reference levels, read from the registry once)."""
        from hsct_analysis.paper.models import Refit
        from hsct_analysis.paper.scorecard import table4_covariates

        return {ep: Refit(ep, table4_covariates(self.registry, ep)) for ep in sorted({m[2] for m in self.models})}

    def _model_frames(self, base: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per Table 4 endpoint scored, its model frame (:func:`~hsct_analysis.paper.models.paper_model_frame`),
        built once: a move changes only ``time`` and ``status``."""
        from hsct_analysis.paper.models import paper_model_frame

        if not self.refits:
            return {}
        f = base.reset_index(drop=True).copy()
        arrays = self._arrays()
        f["os_time"], f["os_event"] = arrays["os"]
        f["lfs_time"], f["lfs_event"] = arrays["lfs"]
        f["relapse_nrm_time"], f["relapse_nrm_status"] = arrays["relapse"]
        return {ep: paper_model_frame(f, ep, refit.reference) for ep, refit in self.refits.items()}

    def _refresh_models(self, factor_names=None) -> None:
        """Refit Table 4 on the current assignment (:class:`~hsct_analysis.paper.models.Refit`: the numbers of the
        scorecard's own route, :func:`~hsct_analysis.paper.scorecard.fit_table4`, on the frames of
        :meth:`_model_frames`); with ``factor_names`` (after a covariate swap) only the models with one of those
        factors."""
        if not self.models:
            return
        arrays = self._arrays()
        for ep, frame in self.model_frames.items():
            if factor_names is not None and not set(factor_names) & set(frame.columns):
                continue
            rows = frame.index.to_numpy()
            frame["time"], frame["status"] = (a[rows] for a in arrays[ep])
            terms = self.refits[ep].terms(frame)
            self.model_cache[ep] = None if isinstance(terms, str) else terms

    def _model_value(self, m) -> float:
        from hsct_analysis.cohort.factors import FACTORS

        _, kind, ep, fac, level, stat, *_ = m
        terms = self.model_cache.get(ep)
        if terms is None:
            return np.nan
        if not level:
            ref = self.refits[ep].reference.get(fac)
            level = [lv for lv in FACTORS[fac].levels if lv != ref][0]
        term = terms.get(f"{fac}[{level}]")
        if term is None:
            return np.nan
        return term["p" if kind == "p" else {"value": "hr", "lower": "hr_lower", "upper": "hr_upper"}[stat]]

    def other_penalties(self) -> np.ndarray:
        """Weighted penalties of the p-value and Table 4 entries."""
        out = [
            w * entry_penalty("p", "value", target, self.test_cache.get((f, ep), np.nan), printed, step)
            for _, ep, f, target, printed, w, step in self.tests
        ]
        out += [m[8] * entry_penalty(m[1], m[5], m[6], self._model_value(m), m[7], m[9]) for m in self.models]
        return np.array(out, float)

    def objective(self) -> float:
        return float(self.curve_penalties().sum() + self.other_penalties().sum())

    # -- moves ------------------------------------------------------------------------
    def _propose(self, swap_share: float = 0.55):
        """Apply a random move; return (undo, touched groups, touched factors) or None if invalid."""
        rng, n = self.rng, self.n
        u = rng.random()
        if u < swap_share:
            i, j = rng.integers(0, n, size=2)
            if i == j or self.perm[i] == self.perm[j]:
                return None
            diff = np.flatnonzero(self.masks[:, i] != self.masks[:, j])
            if diff.size == 0:
                return None
            self.perm[i], self.perm[j] = self.perm[j], self.perm[i]

            def undo(i=i, j=j):
                self.perm[i], self.perm[j] = self.perm[j], self.perm[i]

            facs = {self.groups[g][0] for g in diff if self.groups[g][0]}
            return undo, set(diff.tolist()), facs
        p = int(rng.integers(0, n))
        r = self.perm[p]
        old = (self.fu[r], self.rel[r])
        shortest, longest = self.followup_range
        if self.fu[r] <= shortest or self.fu[r] >= longest:  # the printed minimum and maximum stay put
            return None
        if rng.random() < 0.67 or np.isnan(self.rel[r]):
            new = float(np.round(self.fu[r] * np.exp(rng.normal(0.0, 0.35))))
            if not self._day_allowed(r, 0, new):
                return None
            self.fu[r] = new
        else:
            new = float(np.round(self.rel[r] * np.exp(rng.normal(0.0, 0.4))))
            if not self._day_allowed(r, 1, new):
                return None
            self.rel[r] = new

        def undo(r=r, old=old):
            self.fu[r], self.rel[r] = old

        groups = set(np.flatnonzero(self.masks[:, p]).tolist())
        facs = {f for f in self.factor_names if pd.notna(self.levels[f][p])}
        return undo, groups, facs

    def swap_covariates(self, f: str, i: int, j: int) -> None:
        """Patients ``i`` and ``j`` trade factor ``f``'s baseline columns (:data:`COVARIATES`); its own inverse."""
        levels, held = self.levels[f], self.cov_perm[f]
        if pd.isna(levels[i]) or pd.isna(levels[j]):
            raise ValueError(f"covariate swap of {f}: patients {i} and {j} must both have a level")
        held[i], held[j] = held[j], held[i]
        self._exchange_levels(f, i, j)

    def _exchange_levels(self, f: str, i: int, j: int) -> None:
        """Patients ``i`` and ``j`` (both with a level of factor ``f``) trade their levels of ``f`` in the groups,
        the tests and the Table 4 frames; its own inverse."""
        levels = self.levels[f]
        levels[i], levels[j] = levels[j], levels[i]
        self.curves.exchange(self.factor_rows[f], i, j)
        self.group_tests[f].exchange(i, j)
        for frame in self.model_frames.values():
            if f in frame.columns:
                for k in (i, j):
                    if k in frame.index:
                        frame.at[k, f] = levels[k]

    def _moves(self, iterations: int, t_start: float, t_end: float, swap_share: float):
        """The annealing's steps: for each of ``iterations`` steps of geometric cooling from ``t_start`` to ``t_end``,
        (step, temperature, the move made by :meth:`_propose`: undo, groups, factors); a step whose proposal is not
        valid is skipped."""
        for it in range(iterations):
            temp = t_start * (t_end / t_start) ** (it / max(iterations - 1, 1))
            move = self._propose(swap_share)
            if move is not None:
                yield it, temp, move

    def run(
        self,
        iterations: int,
        t_start: float = 2.0,
        t_end: float = 0.02,
        verbose: bool = False,
        swap_share: float = 0.55,
    ) -> float:
        """Anneal for ``iterations`` proposals (geometric cooling); return the final objective."""
        other = self.other_penalties()
        self._cpen = self.curve_penalties()
        current = float(self._cpen.sum() + other.sum())
        best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
        refitted = np.zeros(len(self.models), bool)  # every model is refitted after a move
        for it, temp, (undo, groups, facs) in self._moves(iterations, t_start, t_end, swap_share):
            new_cpen = self.curve_penalties(groups)
            u = None
            if self.tests or self.models:
                # The p-values and refits cost most; a move whose curves alone are already too bad is rejected
                # without them. The entries they would recompute cannot fall below 0, so the new objective is at
                # least `floor`; the random number is drawn exactly when the full evaluation would draw it (the
                # move is uphill), so the decisions, and the result, are the same as evaluating every move in full.
                # a test is recomputed when the move touched its factor
                unchanged = np.concatenate([~self.tests_of(facs), refitted])
                floor = float(new_cpen.sum() + other[unchanged].sum()) - current
                margin = EARLY_SLACK * max(1.0, abs(current))
                if floor > margin:
                    u = self.rng.random()
                    if u >= np.exp(-(floor - margin) / temp):
                        undo()
                        self.early_rejections += 1
                        continue
            saved_tests = {k: self.test_cache[k] for k in list(self.test_cache) if k[0] in facs}
            saved_models = dict(self.model_cache)
            self._refresh_tests(facs)
            self._refresh_models()
            new_other = self.other_penalties() if (self.tests or self.models) else other
            new = float(new_cpen.sum() + new_other.sum())
            delta = new - current
            if u is None and delta > 0:
                u = self.rng.random()
            if delta <= 0 or u < np.exp(-delta / temp):
                current, other, self._cpen = new, new_other, new_cpen
                if current < best[0]:
                    best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
            else:
                undo()
                self.test_cache.update(saved_tests)
                self.model_cache = saved_models
            if verbose and it % 2000 == 0:
                print(f"  iteration {it}: objective {current:.1f} (best {best[0]:.1f}, T={temp:.3f})", flush=True)
        _, self.perm, self.fu, self.rel = best
        del self._cpen
        self._refresh_tests(self.factor_names)
        self._refresh_models()
        return self.objective()

    def push_claims(self, iterations: int, t_start: float, t_end: float, swap_share: float) -> float:
        """Anneal for ``iterations`` proposals on the headline claims that can hold (those with a step) and nothing
        else, counting misses as :meth:`reduce_misses` does rather than squared: the energy is, over those claims,
        how far each is beyond its tolerance (in tolerances) plus one half per claim out. A claim out of tolerance
        at the start by at most :data:`PUSH_REACH` tolerances beyond its own counts :data:`PUSH_WEIGHT` times: the
        search leans on the claims nearly in. Built with ``only`` the headline claims (the curves and tests it
        scores); the best state seen is kept. Returns its energy."""
        held_c, held_t, _ = self._held()
        start = np.concatenate((self._curve_misses()[1][held_c], self._test_misses()[held_t]))
        weight = np.where((start > 1.0) & (start <= 1.0 + PUSH_REACH), PUSH_WEIGHT, 1.0)
        w_c, w_t = weight[: held_c.sum()], weight[held_c.sum() :]

        def part(d: np.ndarray, w: np.ndarray) -> float:
            return float((np.maximum(d - 1.0, 0.0) * w).sum() + 0.5 * np.count_nonzero(d > 1.0))

        def curve_part() -> float:
            return part(self._curve_misses()[1][held_c], w_c)

        def test_part() -> float:
            return part(self._test_misses()[held_t], w_t)

        current = curve_part() + test_part()
        best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
        for _, temp, (undo, _, facs) in self._moves(iterations, t_start, t_end, swap_share):
            # accepted when the energy rises by at most -temp ln(u); the tests add at least 0, so a move whose curves
            # alone rise by more is rejected before its tests are recomputed (the same decision)
            rise = -temp * np.log(max(self.rng.random(), 1e-300))
            new = curve_part()
            if new - current > rise:
                undo()
                continue
            saved_tests = {k: self.test_cache[k] for k in list(self.test_cache) if k[0] in facs}
            self._refresh_tests(facs)
            new += test_part()
            if new - current <= rise:
                current = new
                if current < best[0]:
                    best = (current, self.perm.copy(), self.fu.copy(), self.rel.copy())
            else:
                undo()
                self.test_cache.update(saved_tests)
        _, self.perm, self.fu, self.rel = best
        self._refresh_tests(self.factor_names)
        return best[0]

    # -- the last step: fewer misses, one swap at a time ----------------------------------
    def _printings(self) -> tuple[dict[str, int], set[str]]:
        """Per canonical id, how many of its printings the scorecard counts among the non-conflicting entries; and
        the headline claims that can hold (those with a step)."""
        reg = self.registry.fillna("")
        ok = reg[reg["status"] == "ok"]
        keys = ok["duplicate_of"].where(ok["duplicate_of"] != "", ok["id"])
        counted = keys.value_counts().to_dict()
        held_c, held_t, held_m = self._held()
        ids = (self.c_ids, [t[0] for t in self.tests], [m[0] for m in self.models])
        held = {i for names, mask in zip(ids, (held_c, held_t, held_m)) for i, h in zip(names, mask) if h}
        return counted, held

    def _held(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks of the headline claims that can hold (those with a step) among the curve entries, the p-values and
        the Table 4 entries."""
        return (
            self.c_step > 0,
            np.array([t[6] > 0 for t in self.tests], bool),
            np.array([m[9] > 0 for m in self.models], bool),
        )

    def _curve_misses(self, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """(mask, distance in tolerances) of the curve entries of the groups ``rows`` (all when None); an entry
        is out of tolerance above 1, and one that cannot be computed is :data:`FAR`."""
        rows = np.arange(len(self.groups)) if rows is None else np.asarray(sorted(rows), int)
        return self._curve_distance(*self._curve_values(rows))

    def _curve_distance(self, hit: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask, distance in tolerances) of the curve entries ``hit`` whose values are ``v``."""
        return hit, _distance(np.abs(v - self.c_target[hit]) / self.c_tol[hit])

    def _test_misses(self) -> np.ndarray:
        """The p-values' distances (:func:`_distance`), each recomputed only when its p-value changed."""
        out = []
        for k, (_, ep, f, target, printed, *_) in enumerate(self.tests):
            p = self.test_cache.get((f, ep), np.nan)
            seen, miss = self._test_memo[k]
            if seen is not p:
                miss = scaled_miss("p", "value", "%", target, p, printed)
                self._test_memo[k] = (p, miss)
            out.append(miss)
        return _distance(out)

    def _model_misses(self) -> np.ndarray:
        return _distance([scaled_miss(m[1], m[5], "%", m[6], self._model_value(m), m[7]) for m in self.models])

    def reduce_misses(
        self, candidates: int, moves: str = "records"
    ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """Greedy last step on what the scorecard counts: try ``candidates`` moves (each once in an order drawn
        from the generator, then again) and keep one only if it leaves fewer misses, counted in this order:
        headline claims of the primary endpoints (:data:`PRIMARY_ENDPOINTS`) out of tolerance; all headline claims
        out of tolerance; non-conflicting entries out of tolerance (each printing counted); how
        far those are out (in tolerances, each capped at :data:`SLACK_CAPS`; this lets the search cross plateaus
        and bring an entry closer before it comes in); and never more numbers impossible to compute (a
        cumulative incidence of 0 has no log interval, a group without events no hazard ratio). Judged on the
        curves, then the tests that miss now, then every test touched, then Table 4 refitted: each stage's count,
        with what is not yet recomputed at best on target, is a lower bound of the full count, so a move rejected
        early is one the full count rejects. ``moves``:

        - ``"records"`` swaps the outcome records of two patients in different groups;
        - ``"covariates"`` swaps one factor's baseline columns (:data:`COVARIATES`) between two patients of
          different levels, which moves no other factor's groups;
        - ``"intervals"`` swaps the pre-transplant history (:data:`HISTORY`) between two patients, or only their
          CAR-T to second HSCT intervals where both still nest;
        - ``"days"`` moves one patient's follow-up or relapse day next to another patient's day or a day read
          (:meth:`_day_candidates`), keeping what the annealing's day moves keep.

        Returns (primary headline misses, headline misses, other misses) before and after. The annealing minimises
        capped squared misses, which lets an entry sit just outside its tolerance; this counts."""
        if moves not in SLACK_CAPS:
            raise ValueError(f"moves: {', '.join(repr(m) for m in SLACK_CAPS)}, not {moves!r}")
        count = _Misses(self, SLACK_CAPS[moves])
        start = count.now
        if moves == "days":
            self._reduce_by_days(candidates, count)
            return start[:3], count.now[:3]
        swaps = self._swap_candidates(moves)
        rounds = -(-candidates // len(swaps)) if candidates > 0 and len(swaps) else 0
        order = np.concatenate([self.rng.permutation(len(swaps)) for _ in range(rounds)] or [np.zeros(0, int)])
        draws = swaps[order[:candidates]]  # every swap once in a random order, then again in another
        screened: list = []  # swaps ahead, with their curve misses on the current assignment
        at = 0
        while at < len(draws) or screened:
            if not screened:  # curves screened in batches; a swap is made only once it passes them
                screened = self._screen_swaps(draws[at : at + SCREEN_BATCH], at)
                at += SCREEN_BATCH
                continue
            place, k, i, j, hit, x, facs = screened.pop(0)
            c_new = count.with_curves(hit, x)
            if not count.on_curves(c_new, facs):
                continue
            _, facs, modelled = self._swap(k, i, j)  # modelled: the factors whose models must be refitted (None: all)
            if count.judge(c_new, facs, modelled):
                screened, at = [], place + 1  # those screened after it were judged on the assignment before it
                continue
            self._swap(k, i, j)
        return start[:3], count.now[:3]

    def _reduce_by_days(self, candidates: int, count: _Misses) -> None:
        """The ``"days"`` pass of :meth:`reduce_misses`: ``candidates`` day moves (:meth:`_day_candidates`, drawn on
        the state the pass starts from, in an order drawn from the generator), each made if it is still allowed,
        judged on its patient's groups' curves, then by ``count`` (:meth:`_Misses.judge`), and undone unless kept."""
        moves = self._day_candidates()
        order = self.rng.permutation(len(moves))[: max(candidates, 0)]
        for p, column, day in moves[order]:
            p = int(p)
            undo = self._move_day(p, int(column), float(day))
            if undo is None:
                continue
            c_new = count.with_curves(*self._curve_misses(np.flatnonzero(self.masks[:, p])))
            facs = {f for f in self.factor_names if pd.notna(self.levels[f][p])}
            if not (count.on_curves(c_new, facs) and count.judge(c_new, facs, None)):
                undo()

    def _day_candidates(self, near: int | None = None) -> np.ndarray:
        """Rows (patient, column, day) of the day moves the ``"days"`` pass tries: column 0 moves a patient's
        follow-up (death or last contact), 1 a relapse, to a whole day next to each of the ``near`` distinct days
        (any patient's follow-up or relapse day, or a day the scorecard reads, e.g. 1095.75 for 3 years) on either
        side of where it is: the day before, the day itself (a tie) and the day after, or for a day read between two
        whole days those two and their outer neighbours. Between two such days the order of events, hence every
        estimate, stays the same. ``near`` defaults to :data:`DAY_NEIGHBOURS`."""
        near = DAY_NEIGHBOURS if near is None else near
        days = [self.fu, self.rel[~np.isnan(self.rel)]] + [np.asarray(t, float) for t in self.curves.times.values()]
        distinct = np.unique(np.concatenate(days))
        rows = []
        for p in range(self.n):
            r = self.perm[p]
            for column, now in ((0, self.fu[r]), (1, self.rel[r])):
                if np.isnan(now):
                    continue
                k = int(np.searchsorted(distinct, now))
                nearby = distinct[max(k - near, 0) : k + near + 1]
                whole = np.concatenate([np.floor(nearby) - 1, np.floor(nearby), np.ceil(nearby), np.ceil(nearby) + 1])
                for day in np.unique(whole):
                    if day != now and self._day_allowed(r, column, day):
                        rows.append((p, column, day))
        return np.array(rows, float).reshape(-1, 3)

    def _day_allowed(self, r: int, column: int, day: float) -> bool:
        """Whether record ``r``'s follow-up (``column`` 0) or relapse (1) day may move to ``day``: what the
        annealing's day moves (:meth:`_propose`) keep too: the printed minimum, median and maximum follow-up; a death
        before the record's administrative censoring; a survivor followed at least as long as the last transplant of
        the study period could be (:func:`~hsct_analysis.paper.study_period.follow_up_range_days`); every event of
        the record before its end; a relapse on day 1 or later, before the end of follow-up."""
        fu, rel = self.fu[r], self.rel[r]
        if column == 1:
            return 1 <= day < fu
        shortest, longest = self.followup_range
        med = self.median_followup  # stays exact: nobody crosses it, the middle record stays put
        if fu <= shortest or fu >= longest or fu == med or day == med or (day < med) != (fu < med):
            return False
        if day < max(self.last_event[r], 0 if np.isnan(rel) else rel) + 1:
            return False
        if self.dead[r]:
            return shortest < day < min(self.cens[r], longest)
        return self.survivor_followup <= day < longest

    def _move_day(self, p: int, column: int, day: float):
        """Move patient ``p``'s follow-up (``column`` 0) or relapse (1) day to ``day`` if allowed
        (:meth:`_day_allowed`); return the undo, or None (and change nothing)."""
        r = self.perm[p]
        if not self._day_allowed(r, column, day):
            return None
        old = (self.fu[r], self.rel[r])
        if column == 0:
            self.fu[r] = day
        else:
            self.rel[r] = day

        def undo():
            self.fu[r], self.rel[r] = old

        return undo

    def _screen_swaps(self, draws: np.ndarray, start: int = 0) -> list:
        """The swaps ``draws`` (rows kind, i, j of :meth:`_swap_candidates`; the first is number ``start``) that would
        change a group on the current assignment, in order, each with the curve misses it would leave and the
        factors it touches: (number, kind, i, j, mask, distance, factors), the mask and distance as
        :meth:`_curve_misses` finds them after the swap. Computed for all at once (one :meth:`GroupCurves.values`
        call) without making any: every swap trades patients i and j between the groups it touches (a record swap
        the groups where they differ, a covariate swap the groups of one factor, an interval swap those of the
        factors it moves), so it is columns i and j of those groups' weights trading places."""
        kept, blocks = [], []
        for place, (k, i, j) in enumerate((tuple(int(v) for v in d) for d in draws), start):
            if k >= 0 and self.levels[self.swappable[k]][i] == self.levels[self.swappable[k]][j]:
                continue
            rows, facs = self._touched(k, i, j)
            if not len(rows):
                continue
            block = self.curves.weights[rows]  # a copy (fancy indexing)
            block[:, [i, j]] = block[:, [j, i]]
            kept.append((place, k, i, j, rows, facs))
            blocks.append(block)
        if not kept:
            return []
        values = self.curves.values(self._arrays(), weights=np.concatenate(blocks))
        out, offset = [], 0
        for place, k, i, j, rows, facs in kept:
            out.append((place, k, i, j, *self._curve_distance(*self._entries(values, rows, offset)), facs))
            offset += len(rows)
        return out

    def _swap_candidates(self, moves: str) -> np.ndarray:
        """Rows (kind, i, j) of every swap of ``moves`` that changes a group: kind :data:`RECORD_SWAP` swaps the
        outcome records of patients i and j (``"records"``); kind k >= 0 swaps the covariates of factor
        ``swappable[k]`` between two of its levels (``"covariates"``); :data:`HISTORY_SWAP` and
        :data:`CART_INTERVAL_SWAP` swap the pre-transplant history or the CAR-T interval alone (``"intervals"``,
        those whose intervals nest now; :meth:`_swap` checks again)."""
        pairs = np.array([(i, j) for i in range(self.n) for j in range(i + 1, self.n)])
        if moves == "records":
            records = pairs[(self.masks[:, pairs[:, 0]] != self.masks[:, pairs[:, 1]]).any(axis=0)]
            return np.column_stack([np.full(len(records), RECORD_SWAP), records]).astype(int)
        swaps = [np.zeros((0, 3), int)]
        if moves == "intervals":
            for kind in (HISTORY_SWAP, CART_INTERVAL_SWAP):
                keep = [self._interval_factors(kind, int(i), int(j)) is not None for i, j in pairs]
                swaps.append(np.column_stack([np.full(int(np.sum(keep)), kind), pairs[keep]]))
            return np.concatenate(swaps).astype(int)
        for k, f in enumerate(self.swappable):
            levels = self.levels[f]
            a, b = levels[pairs[:, 0]], levels[pairs[:, 1]]
            keep = pd.notna(a) & pd.notna(b) & (a != b)
            swaps.append(np.column_stack([np.full(int(keep.sum()), k), pairs[keep]]))
        return np.concatenate(swaps).astype(int)

    def _interval_factors(self, kind: int, i: int, j: int) -> list[str] | None:
        """The factors an interval swap (:data:`HISTORY_SWAP` or :data:`CART_INTERVAL_SWAP`) of patients ``i`` and
        ``j`` moves them between, or None when it would move none, when one of them has no level of such a factor
        (an MRD-only relapse), or when the CAR-T intervals would not nest in the other's history."""
        factors = (
            self.history_factors
            if kind == HISTORY_SWAP
            else [f for f in self.history_factors if f in CART_INTERVAL_FACTORS]
        )
        moved = [f for f in factors if self.levels[f][i] != self.levels[f][j]]
        if not moved or any(pd.isna(self.levels[f][i]) or pd.isna(self.levels[f][j]) for f in moved):
            return None
        if kind == CART_INTERVAL_SWAP and not (self._nests(i, j) and self._nests(j, i)):
            return None
        return moved

    def _nests(self, i: int, j: int) -> bool:
        """Whether patient ``j``'s CAR-T to second HSCT interval fits patient ``i``'s history: relapse (or MRD+) day
        plus relapse to CAR-T plus that interval within the first-to-second HSCT interval (days)."""
        h = self.history
        relapse = h["days_first_hsct_to_relapse"][i]
        anchor = relapse if pd.notna(relapse) else h["days_first_hsct_to_mrd_positive"][i]
        cart, gap = float(h["days_cart_to_second_hsct"][j]), float(h["days_first_to_second_hsct"][i])
        return bool(float(anchor) + float(h["days_relapse_to_cart"][i]) + cart <= gap and cart < gap)

    def _swap(self, kind: int, i: int, j: int):
        """Apply one swap of :meth:`_swap_candidates` (its own inverse); return (touched groups, touched
        factors, the factors whose Table 4 models must be refitted or None for all), or None (and change
        nothing) when it would change no group (or an interval swap is not allowed)."""
        if kind == RECORD_SWAP:
            if self.perm[i] == self.perm[j]:
                return None
            self.perm[i], self.perm[j] = self.perm[j], self.perm[i]
            return *self._touched(kind, i, j), None
        if kind < 0:
            moved = self._interval_factors(kind, i, j)
            if moved is None:
                return None
            rows, facs = self._factor_groups(moved)
            for f in moved:
                self._exchange_levels(f, i, j)
            for column in HISTORY if kind == HISTORY_SWAP else ("days_cart_to_second_hsct",):
                values = self.history[column]
                values[i], values[j] = values[j], values[i]
            return rows, facs, facs
        f = self.swappable[kind]
        if self.levels[f][i] == self.levels[f][j]:
            return None
        self.swap_covariates(f, i, j)
        return *self._touched(kind, i, j), {f}

    def _touched(self, kind: int, i: int, j: int) -> tuple[np.ndarray, set[str]]:
        """The groups (rows of ``masks``) and factors a swap of :meth:`_swap_candidates` moves patients i and j
        between: for a record swap the groups where they differ, for a covariate swap its factor's groups, for an
        interval swap the groups of the factors it moves (none when it is not allowed)."""
        if kind == RECORD_SWAP:
            rows = np.flatnonzero(self.masks[:, i] != self.masks[:, j])
            return rows, {self.groups[g][0] for g in rows if self.groups[g][0]}
        if kind < 0:
            return self._factor_groups(self._interval_factors(kind, i, j) or [])
        return self._factor_groups([self.swappable[kind]])

    def _factor_groups(self, factors: list[str]) -> tuple[np.ndarray, set[str]]:
        """The groups (rows of ``masks``) of ``factors``, and the factors as a set."""
        rows = [self.factor_rows[f] for f in factors]
        return np.concatenate(rows) if rows else np.zeros(0, int), set(factors)

    def result(self) -> pd.DataFrame:
        """Outcome table aligned to patients (records permuted, times moved)."""
        out = self.out.copy()
        out["followup_days"] = self.fu
        out["relapse_days"] = self.rel
        return out.iloc[self.perm].reset_index(drop=True)

    def result_base(self) -> pd.DataFrame:
        """Baseline table with each swappable factor's columns (:data:`COVARIATES`) and the pre-transplant history
        (:data:`HISTORY`) where the moves left them."""
        base = self.base.copy()
        for f, held in self.cov_perm.items():
            for column in COVARIATES[f]:
                base[column] = self.base[column].iloc[held].set_axis(base.index)  # keeps the column's dtype
        for column, values in self.history.items():
            base[column] = pd.Series(values, index=base.index, dtype=self.base[column].dtype)
        return base


#: Endpoints calibrated on their own after the core (whole-cohort cumulative incidences only),
#: with the endpoint each must nest in (grade III–IV within grade II–IV, extensive within any cGVHD,
#: PTLD after EBV viremia).
SECONDARY_ENDPOINTS = {
    "agvhd_2_4": None,
    "agvhd_3_4": "agvhd_2_4",
    "cgvhd": None,
    "cgvhd_extensive": "cgvhd",
    "cmv": None,
    "ebv": None,
    "ptld": "ebv",
    "tma": None,
    "platelet_engraftment": None,
}
#: Measurement windows (days after the second HSCT): plasma CMV and EBV DNA were quantified by
#: qPCR up to day 100 only (Methods), so no viremia is recorded later.
MEASURED_UNTIL = {"cmv": 100.0, "ebv": 100.0}
_NESTED = (("agvhd_3_4_days", "agvhd_2_4_days"), ("cgvhd_extensive_days", "cgvhd_days"), ("ptld_days", "ebv_days"))


def _distance(x) -> np.ndarray:
    """Distances in tolerances, capped at :data:`FAR`; a value that cannot be computed is :data:`FAR`."""
    x = np.asarray(x, float)
    return np.where(np.isfinite(x), np.minimum(x, FAR), FAR)


def competing_arrays(event_days: np.ndarray, fu: np.ndarray, dead: np.ndarray):
    """time/status of an event with death as competing risk (as the loader derives them)."""
    happened = ~np.isnan(event_days)
    return np.where(happened, event_days, fu), np.where(happened, 1, np.where(dead == 1, 2, 0))


class _Facts:
    """Per-patient event days as arrays, to check a patient's facts quickly."""

    def __init__(self, out: pd.DataFrame):
        self.fu = out["followup_days"].to_numpy(float)
        self.days = {c: out[c].to_numpy(float).copy() for c in EVENT_COLUMNS}
        cause = out["cause_of_death"].astype(object).fillna("").astype(str).to_numpy()
        self.gvhd_death = np.array(["GVHD" in c for c in cause])
        self.tma_death = np.array(["TA-TMA" in c for c in cause])

    def ok(self, i: int) -> bool:
        """Patient ``i`` respects follow-up, nesting, measurement windows and cause-of-death facts."""
        fu, d = self.fu[i], self.days
        for v in d.values():
            if not np.isnan(v[i]) and not (0 < v[i] <= fu):
                return False
        for ep, until in MEASURED_UNTIL.items():
            if d[f"{ep}_days"][i] > until:
                return False
        for later, earlier in _NESTED:
            if not np.isnan(d[later][i]) and not (d[earlier][i] <= d[later][i]):
                return False
        if self.gvhd_death[i] and not (d["agvhd_2_4_days"][i] < fu or d["cgvhd_days"][i] < fu):
            return False
        if self.tma_death[i] and not d["tma_days"][i] < fu:
            return False
        return True


def calibrate_secondary(
    out: pd.DataFrame, registry: pd.DataFrame, rng: np.random.Generator, iterations: int | None = None
) -> pd.DataFrame:
    """Anneal each secondary endpoint's event days against its whole-cohort incidences.

    Moves: shift one event day, or hand an event (its day) from one patient to another, or add
    or remove one. The calibration never adds an event after the endpoint's last printed time
    (it could not be checked against anything), nor a CMV or EBV viremia after day 100
    (:data:`MEASURED_UNTIL`). Platelet engraftment only hands days between patients, so its
    printed median (range) stays exact. Follow-up, deaths and relapses are not touched.
    """
    iterations = SECONDARY_ITERATIONS if iterations is None else iterations
    out = out.copy()
    reg = registry.fillna("")
    reg = reg[reg["duplicate_of"].astype(str) == ""]
    weights = entry_weights(registry, set())
    facts = _Facts(out)
    fu = facts.fu
    dead = out["dead"].to_numpy(int)
    n = len(out)
    for ep in SECONDARY_ENDPOINTS:
        rows = reg[(reg["kind"] == "cif") & (reg["endpoint"] == ep) & (reg["factor"] == "")]
        if rows.empty:
            continue
        col = f"{ep}_days"
        targets = [(float(r.time_days), r.stat, float(r.value), weights[r.id]) for r in rows.itertuples()]
        times = sorted({t for t, *_ in targets})
        horizon = min(times[-1], MEASURED_UNTIL.get(ep, np.inf))
        parent = SECONDARY_ENDPOINTS[ep]
        days = facts.days[col]
        pdays = facts.days[f"{parent}_days"] if parent else None

        def score(days=days, ep=ep, times=times, targets=targets):
            t, st = competing_arrays(days, fu, dead)
            vals = curve_values(ep, t, st, times)
            return sum(w * entry_penalty("cif", stat, target, vals[(tt, stat)]) for tt, stat, target, w in targets)

        current = score()
        for it in range(iterations):
            temp = 1.0 * (0.01 ** (it / iterations))
            i, j = (int(x) for x in rng.integers(0, n, size=2))
            old_i, old_j = days[i], days[j]
            u = rng.random()
            if parent is not None and 0.15 <= u < 0.6:
                # relocate: the event leaves i and goes to j, shortly after j's parent event
                has = ~np.isnan(days)
                free = np.flatnonzero(~has & ~np.isnan(pdays))
                if not has.any() or free.size == 0:
                    continue
                i = int(rng.choice(np.flatnonzero(has)))
                j = int(rng.choice(free))
                old_i, old_j = days[i], days[j]
                days[i], days[j] = np.nan, pdays[j] + float(rng.integers(0, 15))
            elif ep != "platelet_engraftment" and u < 0.15:  # an event more or less
                have = days[~np.isnan(days)]
                if not np.isnan(old_i):
                    days[i] = np.nan
                elif parent is not None:  # nested: shortly after the patient's parent event
                    days[i] = pdays[i] + float(rng.integers(0, 15))
                elif have.size:
                    days[i] = float(have[int(rng.integers(0, have.size))])
            elif ep == "platelet_engraftment" or u < 0.55:
                days[i], days[j] = old_j, old_i  # hand the event over (or swap two days)
            elif not np.isnan(old_i):
                days[i] = float(max(1.0, np.round(old_i * np.exp(rng.normal(0.0, 0.3)))))
            else:
                continue
            added = [k for k, old in ((i, old_i), (j, old_j)) if not np.isnan(days[k]) and days[k] != old]
            if (
                ep != "platelet_engraftment"
                and any(days[k] > horizon for k in added)
                or not (facts.ok(i) and facts.ok(j))
            ):
                days[i], days[j] = old_i, old_j
                continue
            new = score()
            if new <= current or rng.random() < np.exp(-(new - current) / temp):
                current = new
            else:
                days[i], days[j] = old_i, old_j
        out[col] = days
    return out


class Phase(NamedTuple):
    """One annealing phase: what it scores, how long and how hot it runs."""

    name: str
    #: Only the headline claims (curves and the headline factor's tests), or every entry.
    headline_only: bool
    with_tests: bool
    with_models: bool
    #: Share of proposals that swap two patients' records (the rest move one record's days).
    swap_share: float
    iterations: int
    t_start: float
    t_end: float


#: The calibration schedule. The headline claims first, on their own (few entries, so the search is hot
#: and long, and free to cross what the other entries would hold it back from); then every curve; then
#: with the Table 3 p-values; then with the Table 4 models (refitted per move, so few iterations).
PHASES = (
    Phase("headline", True, True, False, 0.55, 6000, 20.0, 0.05),
    Phase("curves", False, False, False, 0.55, 20000, 2.0, 0.02),
    Phase("tests", False, True, False, 0.9, 2000, 0.3, 0.01),
    Phase("models", False, True, True, 0.9, 250, 0.2, 0.01),
)
#: Distance (in tolerances) at which :meth:`Calibrator.reduce_misses` stops telling misses apart; also the distance
#: of a number that cannot be computed.
FAR = 100.0
#: Swaps whose curves :meth:`Calibrator.reduce_misses` computes at once, before making any of them.
SCREEN_BATCH = 32
#: The passes of the last, greedy step (:meth:`Calibrator.reduce_misses`): the kind of move and how many are tried.
#: Record swaps first, then covariate swaps (about 15,000 pairs of different levels on the bundled seed, so 30,000 tries
#: every pair twice, in two random orders), then interval swaps (about 3,000 allowed pairs), then a shorter round of
#: records and covariates in fresh orders, which retries pairs the state has changed around; then day moves (about
#: 1,600 on the bundled seed), interval swaps and day moves again, and covariate swaps last. Covariate and interval
#: swaps are cheap (a few factors' curves, no refit unless Table 4 has the factor); record swaps and day moves refit
#: Table 4. Measured from the states the annealing leaves on six random streams of the bundled seed (chains 0-5),
#: printings out of tolerance after the step: with 9,000 and 4,000 covariate swaps 50, 61, 74, 76, 84, 60 (mean 67.5);
#: with 30,000 and 15,000 47, 55, 77, 68, 82, 59 (mean 64.7; one primary headline miss fewer on chain 3), for about
#: 10 s more per chain. Without the second record pass: 47, 56, 78, 70, 83, 59. With the interval and day passes
#: (about 25 s more per chain): 41, 47, 69, 56, 68, 43 (mean 54.0).
GREEDY_PASSES: tuple[tuple[str, int], ...] = (
    ("records", 2500),
    ("covariates", 30000),
    ("intervals", 6000),
    ("records", 1000),
    ("covariates", 15000),
    ("days", 3000),
    ("intervals", 6000),
    ("days", 3000),
    ("covariates", 15000),
)
#: Per kind of swap, the distance (in tolerances) beyond which :meth:`Calibrator.reduce_misses` no longer tells how
#: far a miss is; 1 = only whether it misses. Covariate swaps are cheap and move one factor: bringing misses nearer
#: lets them cross plateaus (on the bundled seed 93 -> 66 misses, against 93 -> 76 counting only); so do interval swaps
#: and day moves, which move a few factors or one patient. A record swap moves a patient in every factor: there it
#: costs Table 4 refits and did not help.
SLACK_CAPS = {"records": 1.0, "covariates": 3.0, "intervals": 3.0, "days": 3.0}
#: Annealing iterations of each secondary endpoint (:func:`calibrate_secondary`). From the bundled seed's state before
#: this step, 1,500 left the 100-day TA-TMA incidence (printed twice) one event too high with two of three random
#: streams; 3,000 met every secondary entry with all three, for about 6 s more.
SECONDARY_ITERATIONS = 3000


#: Independent calibrations (annealing and greedy step, each from its own stream of the seed), one per core of the
#: 2-core target machine; the cohort is the one left with the fewest misses, ranked by :func:`rank` (primary headline
#: claims first, then within the budget of other printings, then the other headline claims, then the rest). The
#: search is chaotic: on the bundled seed, single calibrations that differ only in the last bits of their arithmetic
#: left 62, 75 and 84 printings out of tolerance (:mod:`.numerics`); with the floating point pinned, 9 relapses,
#: :data:`PRIMARY_STEP` and the passes of :data:`GREEDY_PASSES`, the two chains left 2 headline claims and 41 other
#: printings, and 3 and 47; after the headline push (:data:`PUSH`) 1 and 42 (kept), and 1 and 45. A chain over the
#: budget of other printings (:func:`miss_budget`) ranks below one within it.
CHAINS = 2


#: The headline push, a last step of each chain (:func:`calibrate_chain`): where headline claims that can hold are
#: still out after the greedy passes, anneal on those claims alone (:meth:`Calibrator.push_claims`), run the passes of
#: :data:`PUSH_PASSES`, and keep the result only if its counts (primary headline claims, headline claims, other
#: printings out) rank better (:func:`rank`). Its annealing: iterations, temperatures, share of record swaps (none:
#: only day moves, which leave the Table 4 models less to bring back). Measured from the state the greedy passes left
#: on the bundled seed's kept chain before the push (2 headline claims out), four random streams, 20,000 iterations:
#: with record swaps (share 0.3) the passes after the push kept the claim brought in on 2 of 3 streams, with day moves
#: only on 2 of 2 (39 and 43 other printings out). On the bundled seed the push takes chain 0 from 2 headline claims
#: and 41 other printings out to 1 and 42, chain 1 from 3 and 47 to 1 and 45; it adds about 27 s to a chain.
PUSH = Phase("push", True, True, False, 0.0, 20000, 0.3, 0.002)
#: The greedy passes after the push's annealing (as :data:`GREEDY_PASSES`): records first, which bring back the Table 4
#: entries the annealing (on the curves and tests alone) moved, then covariates, intervals and covariates again.
PUSH_PASSES: tuple[tuple[str, int], ...] = (
    ("records", 2500),
    ("covariates", 30000),
    ("intervals", 6000),
    ("covariates", 15000),
)
#: A claim out of tolerance at the start of the push by at most this many tolerances beyond its own is weighted
#: :data:`PUSH_WEIGHT` times in the push's energy. Measured from the same state (the ≤ 90 days 3-year NRM lower bound
#: 0.07 tolerances beyond its own, the whole cohort's upper bound 0.39): with every claim weighted once, 1 of 4
#: streams brought one in; with both weighted 5 times, both came in on 2 of 2 streams but 3-year LFS, a primary
#: endpoint, went out (whole cohort and ≤ 90 days); with the near one alone weighted 5 times, 4 of 4 runs brought it
#: in, 3 of them with every other headline claim of the curves and tests held.
PUSH_REACH = 0.25
PUSH_WEIGHT = 5.0
#: :func:`calibrate_cohort`'s schedule, the numbers its ``iterations`` replaces: one per phase, one per greedy pass, the
#: headline push's iterations, one per pass after the push, the secondary endpoints' iterations.
ITERATIONS: tuple[int, ...] = (
    *(p.iterations for p in PHASES),
    *(n for _, n in GREEDY_PASSES),
    PUSH.iterations,
    *(n for _, n in PUSH_PASSES),
    SECONDARY_ITERATIONS,
)
#: How many numbers that is.
ITERATION_SLOTS = len(ITERATIONS)


#: The share of the non-conflicting printings (audit status ``ok``) the calibration aims to bring within tolerance.
#: A state with more printings out than this allows (:func:`miss_budget`) ranks below any state within it
#: (:func:`rank`). Met by the bundled seed only, of the seeds tried: it reaches 95.2% with 63 of the 68 headline claims;
#: seeds 1, 2 and 3 missed it, at 94.2%, 94.2% and 93.8% (51, 51 and 54 of the 874 out, every count exact) with 63, 62
#: and 61 claims, and on all three a bound of the whole cohort's 3-year NRM interval out without a proof (calibrated at
#: 36975f4 on 2026-12-04, scored with ``scorecard.scorecard_for`` and each cohort's screening log beside it).
TARGET_SHARE = 0.95


def miss_budget(registry: pd.DataFrame) -> int:
    """How many non-conflicting printings (rows of ``registry`` with audit status ``ok``) may be out of tolerance
    with :data:`TARGET_SHARE` of them still within."""
    counted = int((registry["status"].fillna("") == "ok").sum())
    return int(np.floor((1.0 - TARGET_SHARE) * counted + 1e-9))


def rank(left: tuple[int, int, int], budget: int) -> tuple:
    """The order in which the calibration prefers states left with ``left`` = (primary headline claims, headline
    claims, other printings) out: fewer primary headline claims first, then within the ``budget`` of other printings
    (:func:`miss_budget`), then fewer headline claims, then fewer other printings."""
    return (left[0], left[2] > budget, left[1], left[2])


def _audited_registry() -> pd.DataFrame:
    """The published-results registry with the audit's statuses."""
    from hsct_analysis.paper import registry as published
    from hsct_analysis.paper.scorecard import audited

    return audited(published.load_registry())


def _registry_and_claims():
    """(audited registry, headline ids, headline bounds proven out of reach)."""
    from hsct_analysis.paper.headline import bound_proofs, headline_ids

    registry = _audited_registry()
    headline = frozenset(headline_ids(registry))
    return registry, headline, frozenset(bound_proofs(registry, sorted(headline)))


def calibrate_chain(
    base: pd.DataFrame, out: pd.DataFrame, seed: int, chain: int, counts: tuple[int, ...], verbose: bool = False
) -> tuple[tuple[int, int, int], pd.DataFrame, pd.DataFrame]:
    """One calibration (the phases of :data:`PHASES`, the greedy passes of :data:`GREEDY_PASSES`, then the headline
    push of :data:`PUSH`) with the random stream ``(seed, 1, chain)``; ``counts`` as in :func:`calibrate_cohort`,
    without the secondary endpoints. Returns ((primary headline misses, headline misses, other misses) left,
    baseline, outcomes), rows in the order of ``base``."""
    claims = _registry_and_claims()  # (registry, headline ids, proven ids)
    registry = claims[0]
    rng = np.random.default_rng([seed, 1, chain])
    t0 = time.perf_counter()
    stage = out
    for phase, n_iterations in zip(PHASES, counts[: len(PHASES)]):
        if not n_iterations:
            continue
        cal = _phase_calibrator(phase, base, stage, claims, rng)
        if verbose:
            print(
                f"chain {chain}, {phase.name}: {len(cal.c_ids) + len(cal.tests) + len(cal.models)} entries, start "
                f"objective {cal.objective():.1f} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        cal.run(n_iterations, t_start=phase.t_start, t_end=phase.t_end, verbose=verbose, swap_share=phase.swap_share)
        stage = cal.result()
    at = len(PHASES) + len(GREEDY_PASSES)
    left, base, stage = _greedy(
        base, stage, claims, rng, GREEDY_PASSES, counts[len(PHASES) : at], f"chain {chain}" if verbose else "", t0
    )
    push = counts[at]
    if push and left[1] > 0:  # headline claims that can hold are out: push them (PUSH), keep only a gain
        cal = _phase_calibrator(PUSH, base, stage, claims, rng)
        cal.push_claims(push, PUSH.t_start, PUSH.t_end, PUSH.swap_share)
        label = f"chain {chain}, push" if verbose else ""
        pushed = _greedy(cal.result_base(), cal.result(), claims, rng, PUSH_PASSES, counts[at + 1 :], label, t0)
        budget = miss_budget(registry)
        kept = rank(pushed[0], budget) < rank(left, budget)
        if kept:
            left, base, stage = pushed
        if verbose:
            print(f"chain {chain}, push: {pushed[0]} ({'kept' if kept else 'not kept'})", flush=True)
    return left, base, stage


def _phase_calibrator(phase: Phase, base, stage, claims, rng) -> Calibrator:
    """The calibrator of an annealing ``phase`` (:data:`PHASES`, :data:`PUSH`) on the state (``base``, ``stage``):
    what it scores as the phase says; ``claims`` = (registry, headline ids, proven ids)."""
    registry, headline, proven = claims
    return Calibrator(
        base,
        stage,
        registry,
        rng,
        with_tests=phase.with_tests,
        with_models=phase.with_models,
        headline=headline,
        proven=proven,
        only=headline if phase.headline_only else None,
    )


def _greedy(base, stage, claims, rng, passes, candidates, label: str, t0: float):
    """The greedy ``passes`` (:data:`GREEDY_PASSES` or :data:`PUSH_PASSES`; ``candidates`` swaps or moves each, 0
    skips one) from ``stage``; ``claims`` = (registry, headline ids, proven ids). Returns ((primary headline,
    headline, other) misses left, baseline, outcomes). ``label``: print each pass's counts under it (empty: quiet)."""
    registry, headline, proven = claims
    left = None
    for (moves, _), n in zip(passes, candidates):
        if not n:
            continue
        cal = Calibrator(base, stage, registry, rng, with_models=True, headline=headline, proven=proven)
        before, left = cal.reduce_misses(n, moves)
        stage, base = cal.result(), cal.result_base()
        if label:
            print(
                f"{label}, fewer misses ({moves}): primary headline {before[0]} -> {left[0]}, "
                f"headline {before[1]} -> {left[1]}, other {before[2]} -> {left[2]} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    if left is None:  # no greedy pass: count the misses as they are
        left = Calibrator(base, stage, registry, rng, with_models=True, headline=headline, proven=proven).reduce_misses(
            0
        )[1]
    return left, base, stage


def _chain_job(job: tuple) -> tuple:
    return calibrate_chain(*job)


def calibrate_cohort(
    base: pd.DataFrame,
    out: pd.DataFrame,
    seed: int,
    verbose: bool = False,
    max_seconds: float = 240.0,
    iterations: tuple[int, ...] | None = None,
    workers: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run :data:`CHAINS` independent calibrations (:func:`calibrate_chain`: anneal the outcomes against the
    registry phase by phase, :data:`PHASES`; then cut the entries out of tolerance swap by swap in the passes of
    :data:`GREEDY_PASSES`, swapping outcome records or one factor's covariates between two patients; then the headline
    push, :data:`PUSH`), keep the one with the fewest misses by :func:`rank` (primary headline claims first, then
    within the budget of other printings, then the other headline claims, then the rest; the first chain on a tie),
    then calibrate the
    secondary endpoints. Returns (baseline, outcomes), one row per patient in the order of ``base``, both indexed like
    ``out``: the covariate swaps move baseline columns between patients, never a count.

    Deterministic: a fixed number of iterations per phase, all randomness from ``seed``, and the same result for
    any number of ``workers`` (processes running the chains at once; default one per chain, at most one per core).
    ``iterations`` (optional, for quick runs) replaces the iterations of the phases, the swaps tried by each greedy
    pass, the headline push's iterations (:data:`PUSH`), the swaps or moves of each pass after it
    (:data:`PUSH_PASSES`) and the iterations of each secondary endpoint, in that order
    (:data:`ITERATIONS`, :data:`ITERATION_SLOTS` numbers). ``max_seconds`` is not used to stop (that
    would make the result depend on the machine); it is kept for callers that pass it.
    """
    counts = tuple(iterations or ITERATIONS)
    if len(counts) != ITERATION_SLOTS:
        raise ValueError(
            f"iterations: {ITERATION_SLOTS} numbers (one per phase, one per greedy pass, the headline push, one per "
            "pass after it, then the secondary endpoints)"
        )
    t0 = time.perf_counter()
    jobs = [(base, out, seed, k, counts[:-1], verbose) for k in range(CHAINS)]
    workers = min(CHAINS, os.cpu_count() or 1) if workers is None else max(1, min(workers, CHAINS))
    if workers > 1:  # spawned, not forked: a fork of a process with BLAS threads can hang
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            chains = list(pool.map(_chain_job, jobs))
    else:
        chains = [_chain_job(job) for job in jobs]
    registry = _audited_registry()
    budget = miss_budget(registry)
    best = min(range(CHAINS), key=lambda k: (rank(chains[k][0], budget), k))
    if verbose:
        left = ", ".join(
            f"chain {k}: {c[0][1]} headline ({c[0][0]} primary) and {c[0][2]} other" for k, c in enumerate(chains)
        )
        print(f"misses left by {left}; chain {best} kept ({time.perf_counter() - t0:.0f} s)", flush=True)
    _, base, stage = chains[best]
    rng = np.random.default_rng([seed, 3])
    final = stage.copy()
    final.index = out.index
    base = base.copy()
    base.index = out.index
    fix_followup_median(final, paper_targets()["medians"]["followup_days"][0], rng)
    final = calibrate_secondary(final, registry, rng, iterations=counts[-1])
    if verbose:
        print(f"calibrated in {time.perf_counter() - t0:.0f} s", flush=True)
    return base, final
