"""Validating a very long cohort file: wall time and peak memory of ``hsct-book validate``.

Writes a cohort of ``--rows`` patients (the bundled cohort repeated, ids made unique) once, then runs the
installed console script ``--runs`` times in a fresh process each, and prints the median wall time and the
median peak resident memory (``ru_maxrss`` of the child), next to a reference run on the bundled 95-patient file
in the same session (the ratio is what to compare across machines).

    .venv/bin/python benchmarks/validate_large.py --rows 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "cohort.csv"
HSCT_BOOK = Path(sys.executable).with_name("hsct-book")


def write_cohort(path: Path, n_rows: int) -> None:
    with BUNDLED.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    at = header.index("patient_id")
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for k in range(n_rows):
            row = list(body[k % len(body)])
            row[at] = f"P{k:08d}"
            writer.writerow(row)


def one_run(path: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``hsct-book validate`` run in its own process."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execv(str(HSCT_BOOK), [str(HSCT_BOOK), "validate", str(path)])
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"validate failed on {path}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.csv"
        write_cohort(big, args.rows)
        reference = [one_run(BUNDLED) for _ in range(args.runs)]
        runs = [one_run(big) for _ in range(args.runs)]
    ref_s = statistics.median(s for s, _ in reference)
    big_s, big_mb = statistics.median(s for s, _ in runs), statistics.median(m for _, m in runs)
    print(f"reference (95 rows): median {ref_s:.2f} s, peak RSS {statistics.median(m for _, m in reference):.0f} MB")
    print(
        f"{args.rows} rows ({big.stat().st_size / 1e6 if big.exists() else 0:.0f} MB file): median {big_s:.1f} s, "
        f"peak RSS {big_mb:.0f} MB ({len(runs)} runs; {big_s / ref_s:.0f}x the reference); "
        f"target <= 30 s and <= 1024 MB"
    )


if __name__ == "__main__":
    main()
