"""Benchmark the synthetic-cohort calibration: ``synth.generate()`` with the default schedule.

Each run generates the bundled cohort from scratch in a fresh Python process with the floating point
pinned as the ``python -m hsct_analysis.paper.synth`` command pins it (``synth.numerics``): baseline draws,
the ``calibration.CHAINS`` calibrations (annealing phases and greedy passes; in parallel, one process each),
the secondary endpoints, the treatment after the second HSCT. It reports seconds of wall clock and of CPU
time of that process and the processes it started. CPU time is what the schedule costs; wall clock also
counts waiting for the processor when other work shares the machine.
Prints every run and the medians of ``--runs`` runs (default 3); ``--check`` also confirms that
each run wrote ``data/cohort.csv`` byte for byte. The reference, run as often and alternately in the
same session, is one full scorecard of the committed cohort (``scorecard.scorecard_for``: every
registry entry recomputed, Table 4 refitted), also in a fresh process: the ratio of the medians is
what to compare across machines and loads. The target is a calibration within 120 s on 2 cores.

    .venv/bin/python benchmarks/calibration.py [--runs 3] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from hsct_analysis.paper.synth import numerics

ROOT = Path(__file__).resolve().parents[1]

ONE_RUN = """
import json, resource, time
from hsct_analysis.paper import synth
t0, c0 = time.perf_counter(), time.process_time()
text = synth.to_csv_text(synth.generate())
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = time.process_time() - c0 + children.ru_utime + children.ru_stime
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": cpu, "text": text}))
"""


REFERENCE_RUN = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from hsct_analysis.paper import scorecard
card = scorecard.scorecard_for("data/cohort.csv")
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "text": str(len(card))}))
"""


def one_run(code: str = ONE_RUN) -> dict:
    """Run ``code`` once in a new process with the floating point pinned; returns its wall and CPU seconds and
    its text."""
    env = {**os.environ, **numerics.pinned_environment()}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--check", action="store_true", help="compare every run with data/cohort.csv")
    a = p.parse_args()
    committed = (ROOT / "data" / "cohort.csv").read_text(encoding="utf-8")
    runs, refs = [], []
    load_before = os.getloadavg()[0]
    for k in range(a.runs):
        r = one_run()
        ref = one_run(REFERENCE_RUN)
        same = r["text"] == committed
        runs.append(r)
        refs.append(ref)
        print(
            f"run {k + 1}: calibration {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU; "
            f"reference {ref['wall']:.1f} s wall, {ref['cpu']:.1f} s CPU"
            + (f"; cohort identical: {same}" if a.check else ""),
            flush=True,
        )
        if a.check and not same:
            return 1

    def median(rows, key):
        return statistics.median(r[key] for r in rows)

    cal_wall, cal_cpu, ref_wall, ref_cpu = (
        median(runs, "wall"),
        median(runs, "cpu"),
        median(refs, "wall"),
        median(refs, "cpu"),
    )
    print(
        f"median of {a.runs}: calibration {cal_wall:.1f} s wall, {cal_cpu:.1f} s CPU; reference (one scorecard) "
        f"{ref_wall:.1f} s wall, {ref_cpu:.1f} s CPU; ratio {cal_wall / ref_wall:.1f} (wall), {cal_cpu / ref_cpu:.1f} (CPU); "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
