"""The SYNTHETIC cohort: 95 made-up patients whose summaries match Cao et al. 2023.

No patient-level data were published. :func:`generate` builds a cohort in the data
contract of :mod:`hsct_analysis.cohort` in two steps:

1. **Exact baseline.** Every count the paper prints (Tables 1 and 2, CRS/ICANS, causes of
   death, Table 3 group sizes) is met exactly by shuffling a list that holds each category
   the printed number of times. Every printed median (range) is met exactly by placing the
   minimum, the maximum and the middle order statistic(s) at the printed values and drawing
   the other order statistics (log-uniform) on either side, inside any printed threshold
   counts (e.g. 38 patients with CAR-T to second HSCT <= 60 days, 84 with <= 90 days).
2. **Calibrated outcomes.** Event times (death, relapse, GVHD, infections, TA-TMA,
   engraftment) are drawn with plausible shapes and then moved by simulated annealing so that
   the published-results scorecard (:mod:`hsct_analysis.paper.scorecard`) is met as closely as
   possible. Moves keep every exact count fixed: whole outcome records are swapped between
   patients (changes only subgroup estimates), event times are moved within a patient, and
   last, one factor's baseline columns are swapped between two patients of different levels
   (changes only that factor's groups; the columns drawn jointly move together).

One concept per module: :mod:`.targets` (the printed numbers, read from the registry),
:mod:`.draws` (exact baseline and first outcome draw), :mod:`.calibration` (the annealing) and
:mod:`.writer` (column order and CSV).

All times are whole days; ages in years (1 decimal); doses in x10^8/kg (MNC, CD3) and
x10^6/kg (CD34). Deterministic for a given seed: ``python -m hsct_analysis.paper.synth --out
data/cohort.csv`` rewrites the committed file byte for byte, on any x86-64 machine, because the
command pins the floating point first (:mod:`.numerics`). :func:`generate` called in a process
that is not pinned is deterministic on that machine only.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from hsct_analysis.paper.synth import numerics
from hsct_analysis.paper.synth.calibration import calibrate_cohort
from hsct_analysis.paper.synth.draws import (
    SynthesisError,
    after_second_hsct,
    baseline,
    exact_order_statistics,
    outcomes,
)
from hsct_analysis.paper.synth.targets import DEFAULT_N, paper_targets, scaled_targets
from hsct_analysis.paper.synth.writer import (
    AFTER_SECOND_COLUMNS,
    COLUMNS,
    assemble,
    screening_log_text,
    to_csv_text,
    write,
    write_text,
    written_columns,
)

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_N",
    "SynthesisError",
    "COLUMNS",
    "AFTER_SECOND_COLUMNS",
    "generate",
    "main",
    "paper_targets",
    "scaled_targets",
    "baseline",
    "outcomes",
    "after_second_hsct",
    "exact_order_statistics",
    "assemble",
    "to_csv_text",
    "write",
    "written_columns",
    "screening_log",
]

DEFAULT_SEED = 20230704


def generate(
    seed: int = DEFAULT_SEED,
    n: int = DEFAULT_N,
    targets: dict | None = None,
    calibrate: bool = True,
    max_seconds: float = 240.0,
    verbose: bool = False,
    calibration_iterations: tuple[int, ...] | None = None,
    calibration_workers: int | None = None,
) -> pd.DataFrame:
    """A synthetic cohort of ``n`` patients in the data contract (deterministic from ``seed``).

    ``targets`` defaults to the paper's printed numbers (:func:`paper_targets`, read from the registry), rescaled
    to ``n`` by largest-remainder rounding. ``calibrate=True`` (n=95 with the paper's targets
    only) runs the simulated-annealing search against the scorecard; it is deterministic
    because it counts iterations, never wall-clock time (``max_seconds`` is only a guard), and gives the
    same cohort for any number of ``calibration_workers`` (processes; default one per core, at most
    :data:`~hsct_analysis.paper.synth.calibration.CHAINS`).
    """
    tg = scaled_targets(n, targets)
    rng = np.random.default_rng(seed)
    base = baseline(n, tg, rng)
    out = outcomes(base, tg, rng)
    if calibrate and n == DEFAULT_N and targets is None:
        kwargs = {"iterations": calibration_iterations} if calibration_iterations else {}
        kwargs["workers"] = calibration_workers
        base, out = calibrate_cohort(base, out, seed=seed, verbose=verbose, max_seconds=max_seconds, **kwargs)
    after = after_second_hsct(out, tg, np.random.default_rng([seed, 2]))
    return assemble(base, pd.concat([out, after], axis=1))


def screening_log(cohort: pd.DataFrame) -> str:
    """The screening log of a synthetic ``cohort`` as CSV text (:mod:`hsct_analysis.cohort.enrolment`): its
    patients enrolled, then the paper's excluded patients with the paper's reason; for a cohort of another size
    than the paper's, the excluded patients are rescaled to it (rounded)."""
    enrolment = paper_targets()["enrolment"]
    n = len(cohort)
    excluded = {reason: int(round(k * n / DEFAULT_N)) for reason, k in enrolment["excluded"].items()}
    screened = enrolment["screened"] if n == DEFAULT_N else n + sum(excluded.values())
    return screening_log_text(cohort["patient_id"], screened, excluded)


def main(argv: list[str] | None = None) -> int:
    """``python -m hsct_analysis.paper.synth --out data/cohort.csv [--screening data/screening.csv] [--seed N] [--n N]
    [--no-calibrate]``."""
    p = argparse.ArgumentParser(prog="python -m hsct_analysis.paper.synth", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--screening", help="also write the cohort's screening log (enrolled and excluded patients) here")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--n", type=int, default=DEFAULT_N)
    p.add_argument("--no-calibrate", action="store_true")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    if not numerics.is_pinned():  # the same floating point on every machine: the seed alone decides the file
        return numerics.rerun_pinned("hsct_analysis.paper.synth", sys.argv[1:] if argv is None else list(argv))
    t0 = time.perf_counter()
    try:
        cohort = generate(seed=a.seed, n=a.n, calibrate=not a.no_calibrate, verbose=a.verbose)
    except SynthesisError as exc:
        print(f"error: seed {a.seed}: {exc}", file=sys.stderr)
        return 1
    write(cohort, a.out)
    if a.screening:
        write_text(screening_log(cohort), a.screening)
    print(
        f"wrote {a.out}: {len(cohort)} synthetic patients, seed {a.seed}, {time.perf_counter() - t0:.1f} s "
        f"(floating point pinned: {' '.join(f'{k}={v}' for k, v in numerics.pinned_environment().items())})"
    )
    return 0
