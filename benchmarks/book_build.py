"""Benchmark the book build: `make book` in a fresh clone, then a rebuild with nothing changed.

Each run clones the repository's committed state (``git clone``) into a temporary folder, links the
existing ``.venv`` into it (no installation is timed) and times, in seconds of wall clock:

- cold: ``make book`` with an empty ``.cache`` (every chapter executed, Jupyter Book run);
- no-change: ``make book`` again at once (every chapter cached and the book up to date).

The clone's own ``src/`` is put first on ``PYTHONPATH`` so the clone's package, not the editable install of the
working copy, is what runs. Prints a table of the medians of ``--runs`` runs (default 3).

    .venv/bin/python benchmarks/book_build.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fresh_clone(parent: Path) -> Path:
    """A clone of the committed repository with the shared ``.venv`` linked in."""
    clone = parent / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    (clone / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return clone


def timed_make_book(clone: Path) -> tuple[float, int, str]:
    """Run ``make book`` in ``clone``; returns (seconds, exit status, last output line)."""
    env = dict(os.environ, PYTHONPATH=str(clone / "src"))
    # -o: never rebuild the venv stamp (the clone's files are newer than the shared venv's stamp).
    command = ["make", "-o", ".venv/.installed", "book"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    output = (proc.stdout + proc.stderr).strip().splitlines()
    return seconds, proc.returncode, output[-1] if output else ""


def one_run() -> dict:
    """Cold build and no-change rebuild in one fresh clone."""
    with tempfile.TemporaryDirectory(prefix="hsct-bench-") as tmp:
        clone = fresh_clone(Path(tmp))
        cold, cold_status, cold_last = timed_make_book(clone)
        warm, warm_status, warm_last = timed_make_book(clone)
    return {
        "cold": cold,
        "cold_status": cold_status,
        "cold_last": cold_last,
        "warm": warm,
        "warm_status": warm_status,
        "warm_last": warm_last,
    }


def _seconds(runs: list[dict], step: str) -> str:
    return ", ".join(f"{run[step]:.1f}" for run in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    runs = []
    for i in range(args.runs):
        run = one_run()
        runs.append(run)
        print(
            f"run {i + 1}: cold {run['cold']:.1f} s (exit {run['cold_status']}), "
            f"no-change {run['warm']:.1f} s (exit {run['warm_status']})",
            file=sys.stderr,
        )
    cold = statistics.median(r["cold"] for r in runs)
    warm = statistics.median(r["warm"] for r in runs)
    failed = [r for r in runs if r["cold_status"] or r["warm_status"]]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"book build benchmark: commit {commit.stdout.strip()}, {os.cpu_count()} CPUs, {args.runs} runs, medians;"
        f" load average at the end {load} (other work on the machine slows every figure)"
    )
    print()
    print("| step | median (s) | runs (s) | target (s) |")
    print("| --- | ---: | --- | ---: |")
    print(f"| make book, fresh clone (cold) | {cold:.1f} | {_seconds(runs, 'cold')} | 90 |")
    print(f"| make book, nothing changed | {warm:.1f} | {_seconds(runs, 'warm')} | 15 |")
    if failed:
        print()
        print(
            f"{len(failed)} run(s) exited non-zero; last lines: {failed[0]['cold_last']!r} / {failed[0]['warm_last']!r}"
        )
    else:
        print()
        print(f"last line of a cold build: {runs[0]['cold_last']!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
