"""Builds under faults: signals, SIGKILL, concurrent builds, leftovers of stopped builds, read-only output.

Each test runs the installed ``hsct-book`` console script as a user would, on a private copy of the project
(``--project``) so that its cache starts empty and the repository is not touched. "Orphans" are processes whose
command line names that private project (workers run chapters from it; kernels run in its stage folders).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import book_runs
from book_runs import build_args, hsct_book, project_copy
from hsct_analysis.book import build

COHORT = Path(__file__).resolve().parent / "data" / "own" / "small_n30.csv"
CHAPTER = "05_survival"  # long enough to be stopped while it runs

pytestmark = pytest.mark.slow


def _stat(pid: str) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, from /proc/PID/stat; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], fields[19]


def descendants(root_pid: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``root_pid`` (workers, kernels, Jupyter Book)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = set(), [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            stat = _stat(str(child))
            if stat is not None and stat[1] != "Z":
                found.add((child, stat[2]))
                todo.append(child)
    return found


def alive(processes: set[tuple[int, str]]) -> list[int]:
    """The processes of ``processes`` still running (same pid and start time, not a zombie)."""
    return [pid for pid, started in processes if (stat := _stat(str(pid))) and stat[2] == started and stat[1] != "Z"]


def wait_for(predicate, timeout: float, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def start_build(project: Path, out: Path, *extra: str) -> subprocess.Popen:
    return book_runs.start_build(COHORT, out, project, *extra)


def an_old_book(out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True)
    (out / "index.html").write_text("<p>the previous book</p>", encoding="utf-8")
    (out / build.STAMP_NAME).write_text('{"key": "old"}', encoding="utf-8")
    return {p.name: p.read_bytes() for p in out.iterdir()}


def kernels_started(proc: subprocess.Popen) -> bool:
    """True once the build runs a worker and a kernel under it (a process three levels down)."""
    assert proc.poll() is None, proc.communicate()
    return any((stat := _stat(str(pid))) and stat[0] != proc.pid for pid, _ in descendants(proc.pid))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_the_build_cleanly(tmp_path, signum):
    project = project_copy(tmp_path)
    out = tmp_path / "site" / "html"
    before = an_old_book(out)
    proc = start_build(project, out, "--chapter", CHAPTER, "--chapter", "06_univariate")
    assert wait_for(lambda: kernels_started(proc), 300), "no kernel started"
    time.sleep(2)
    tree = descendants(proc.pid)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and f"interrupted by {signal.Signals(signum).name}" in stderr
    assert len(tree) >= 3 and wait_for(lambda: not alive(tree), 30), alive(tree)  # no orphan
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old book is intact
    assert sorted(p.name for p in out.parent.iterdir()) == ["html"]  # no stage, no backup
    assert list((project / ".cache" / "running").glob("*.ipynb")) == []  # no partial notebook


def test_after_sigkill_no_orphans_and_the_next_build_is_clean(tmp_path, monkeypatch):
    project = project_copy(tmp_path)
    out = tmp_path / "site" / "html"
    temporary = tmp_path / "temporary"  # the builds' temporary folder, where their kernels' sockets are
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    before = an_old_book(out)
    proc = start_build(project, out, "--chapter", CHAPTER)
    assert wait_for(lambda: kernels_started(proc), 300), "no kernel started"
    time.sleep(2)
    tree = descendants(proc.pid)
    proc.kill()
    proc.communicate(timeout=60)
    assert len(tree) >= 3 and wait_for(lambda: not alive(tree), 30), alive(tree)  # workers and kernels died too
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    stale = [p.name for p in out.parent.iterdir() if p.name != "html"]
    assert stale and all(name.startswith(".html.stage-") for name in stale)  # what SIGKILL cannot clean up
    sockets = list(temporary.glob(f"{build.SOCKETS_PREFIX}{proc.pid}-*"))
    assert len(sockets) == 1  # nor its kernels' socket folder
    # the next build removes the leftovers and builds
    again = start_build(project, out, "--chapter", CHAPTER)
    stdout, stderr = again.communicate(timeout=1200)
    assert again.returncode == 0, stdout + stderr
    assert f"removed {stale[0]}, left by a build that was stopped" in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["html"]
    assert (out / "book" / f"{CHAPTER}.html").exists()
    assert list((project / ".cache" / "running").glob("*.ipynb")) == []
    assert list(temporary.glob(f"{build.SOCKETS_PREFIX}*")) == []


def test_a_second_build_into_the_same_folder_is_refused(tmp_path):
    project = project_copy(tmp_path)
    out = tmp_path / "site" / "html"
    first = start_build(project, out, "--chapter", CHAPTER)
    assert wait_for(lambda: kernels_started(first), 300), "no kernel started"
    second = hsct_book(*build_args(COHORT, out, project, "--chapter", CHAPTER), timeout=300)
    assert second.returncode == 1
    assert f"another hsct-book build is writing {out.resolve()}" in second.stderr
    assert "Traceback" not in second.stderr
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert first.returncode == 128 + signal.SIGTERM


def test_a_read_only_book_is_refused_before_anything_is_built(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    project = project_copy(tmp_path)
    out = tmp_path / "site" / "html"
    before = an_old_book(out)
    (out / "sub").mkdir()
    before["sub"] = b""
    (out / "sub").chmod(0o555)
    try:
        result = hsct_book(*build_args(COHORT, out, project, "--chapter", CHAPTER), timeout=300)
    finally:
        (out / "sub").chmod(0o755)
    assert result.returncode == 1 and "is read-only" in result.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["html"]  # no hidden copy of the old book
