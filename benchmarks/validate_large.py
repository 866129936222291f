"""Validating a very long cohort file: wall time and peak memory of ``hsct-book validate``.

Writes a cohort of ``--rows`` patients (the bundled cohort repeated, ids made unique) once, then runs, ``--runs``
times each and alternately, in a fresh process each time:

- the installed console script ``hsct-book validate FILE`` (what a user runs);
- the reference: ``pandas.read_csv(FILE, dtype=str)`` alone, the cost of merely reading the same file.

With ``--quoted`` the file is written as R's ``write.csv`` writes it (a column of row names, every text cell and
every column name quoted); without, it holds no quote at all. With ``--multiline`` it gets a free-text ``notes``
column written as Excel writes it (a cell quoted only when it holds a comma, a quote or a line break), where one
row in 100 holds a note over two lines, as a cell typed with Alt+Enter: 1 % of rows, each reported once (a line
break is a control character). With ``--control`` one ``patient_id`` in 1,000 ends with a zero-width space
(U+200B), each reported once. With either, ``validate`` is expected to exit 2 (problems found), not 0.

Prints the median wall time and the median peak resident memory (``ru_maxrss`` of the child) of each, the
ratio of the medians (what to compare across machines and loads) and the load average before and after.
The issue's target is <= 30 s and <= 1 GB for 1,000,000 rows on 2 cores.

    .venv/bin/python benchmarks/validate_large.py --rows 1000000 --runs 5 [--quoted | --multiline] [--control]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "cohort.csv"
HSCT_BOOK = Path(sys.executable).with_name("hsct-book")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


#: The notes of ``--multiline``, one per row in turn: one in 100 over two lines.
NOTES = ["", "moved abroad, followed by phone", 'said "fine"'] * 33 + ["seen on day 100\nthen by phone"]


def write_cohort(path: Path, n_rows: int, quoted: bool = False, multiline: bool = False, control: bool = False) -> None:
    """Plain: no quote at all. Quoted: as R's ``write.csv(df, na = "")`` writes it, a first column of row names
    under the name ``""``, every name and every cell of a text column quoted (``""`` when empty), numbers bare.
    Multiline: plain, and a ``notes`` column (``NOTES``) quoted where Excel would quote it. Control: one id in
    1,000 ends with a zero-width space."""
    with BUNDLED.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    at = header.index("patient_id")
    numeric = [all(not r[j] or NUMBER.fullmatch(r[j]) for r in body) for j in range(len(header))]

    def patient(k: int) -> str:
        return f"P{k:08d}\u200b" if control and k % 1000 == 999 else f"P{k:08d}"

    with path.open("w", newline="", encoding="utf-8") as fh:
        if not quoted:
            writer = csv.writer(fh, lineterminator="\n")  # quotes a cell only when it holds , " or a line break
            writer.writerow(header + ["notes"] * multiline)
            for k in range(n_rows):
                row = list(body[k % len(body)])
                row[at] = patient(k)
                writer.writerow(row + [NOTES[k % len(NOTES)]] * multiline)
            return
        fh.write('"",' + ",".join(map(quote, header)) + "\n")
        for k in range(n_rows):
            row = list(body[k % len(body)])
            row[at] = patient(k)
            cells = [c if numeric[j] else quote(c) for j, c in enumerate(row)]
            fh.write(f'"{k + 1}",' + ",".join(cells) + "\n")


def one_run(argv: list[str], expect: int = 0) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command run in its own process (it must exit with ``expect``)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)  # the "OK: ... valid cohort" line
        if expect:
            os.dup2(devnull, 2)  # the problems found
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != expect:
        raise SystemExit(f"exit status {os.waitstatus_to_exitcode(status)}, not {expect}: {' '.join(argv)}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quoted", action="store_true", help="write the file as R's write.csv does (quoted text)")
    parser.add_argument("--multiline", action="store_true", help="add notes, one in 100 over two lines (Excel)")
    parser.add_argument("--control", action="store_true", help="one id in 1,000 ends with a zero-width space")
    args = parser.parse_args()
    if args.quoted and args.multiline:
        parser.error("--multiline writes the file as Excel does: not with --quoted")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.csv"
        write_cohort(big, args.rows, args.quoted, args.multiline, args.control)
        size_mb = big.stat().st_size / 1e6
        validate = [str(HSCT_BOOK), "validate", str(big)]
        reference = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(big)!r}, dtype=str)"]
        runs: dict[str, list[tuple[float, float]]] = {"validate": [], "reference": []}
        for _ in range(args.runs):
            runs["validate"].append(one_run(validate, expect=2 if args.multiline or args.control else 0))
            runs["reference"].append(one_run(reference))
    medians = {k: (statistics.median(s for s, _ in v), statistics.median(m for _, m in v)) for k, v in runs.items()}
    (val_s, val_mb), (ref_s, ref_mb) = medians["validate"], medians["reference"]
    kind = "quoted (R write.csv)" if args.quoted else "with multi-line notes (Excel)" if args.multiline else "plain"
    kind += ", ids with U+200B" if args.control else ""
    print(
        f"{args.rows} rows, {size_mb:.0f} MB {kind} file, "
        f"{args.runs} runs each, medians; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs"
    )
    print(f"  hsct-book validate       {val_s:7.1f} s  {val_mb:6.0f} MB peak RSS")
    print(f"  pandas.read_csv (ref.)   {ref_s:7.1f} s  {ref_mb:6.0f} MB peak RSS")
    print(
        f"  ratio validate / reference: {val_s / ref_s:.2f} (time), {val_mb / ref_mb:.2f} (memory); "
        f"target <= 30 s and <= 1024 MB"
    )


if __name__ == "__main__":
    main()
