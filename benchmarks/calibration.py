"""Benchmark the synthetic-cohort calibration: ``synth.generate()`` with the default schedule.

Each run generates the bundled cohort from scratch in a fresh Python process (baseline draws,
the three annealing phases, the secondary endpoints, the treatment after the second HSCT) and
reports seconds of wall clock and of CPU time of that process. CPU time is what the schedule
costs; wall clock also counts waiting for the processor when other work shares the machine.
Prints every run and the medians of ``--runs`` runs (default 3); ``--check`` also confirms that
each run wrote ``data/cohort.csv`` byte for byte.

    .venv/bin/python benchmarks/calibration.py [--runs 3] [--check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE_RUN = """
import json, time
from hsct_analysis.paper import synth
t0, c0 = time.perf_counter(), time.process_time()
text = synth.to_csv_text(synth.generate())
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "text": text}))
"""


def one_run() -> dict:
    """Generate the cohort once in a new process; returns wall and CPU seconds and the CSV text."""
    out = subprocess.run([sys.executable, "-c", ONE_RUN], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--check", action="store_true", help="compare every run with data/cohort.csv")
    a = p.parse_args()
    committed = (ROOT / "data" / "cohort.csv").read_text(encoding="utf-8")
    runs = []
    for k in range(a.runs):
        r = one_run()
        same = r["text"] == committed
        runs.append(r)
        print(
            f"run {k + 1}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU"
            + (f", cohort identical: {same}" if a.check else ""),
            flush=True,
        )
        if a.check and not same:
            return 1
    print(
        f"median of {a.runs}: {statistics.median(r['wall'] for r in runs):.1f} s wall, "
        f"{statistics.median(r['cpu'] for r in runs):.1f} s CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
