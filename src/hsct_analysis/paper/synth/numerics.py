"""The same floating point on every machine, so that the seed alone decides the cohort.

The calibration takes tens of thousands of decisions by comparing objective values, and many of
those comparisons are near ties. The values come from numpy (exp, log, sums) and from OpenBLAS (the
Cox refits' matrix products and solves), and both choose their code by the processor at run
time: AVX-512 or AVX2 kernels, fused multiply-add or not, a thread count. The results then differ
in the last bits from one machine to another, a near tie breaks the other way, and the search
takes another path. Measured on 2026-12-02: the cohort the bundled seed had given on one x86-64
machine (with AVX-512) did not regenerate on another (AMD, AVX2 only); the same code there left 75
printed numbers out of tolerance instead of 62, and 84 with these settings.

:data:`X86_PINNED` fixes every such choice to the one all x86-64-v2 processors share: numpy's
baseline code only (its run-time dispatch of newer instruction sets switched off), OpenBLAS's
Nehalem kernels on one thread, and glibc's mathematical functions without the AVX2/FMA variants.
The command ``python -m hsct_analysis.paper.synth`` runs itself again with these settings when
they are not in effect (:func:`rerun_pinned`), so its output is the same file on every such
machine. On other architectures (ARM, for example) only the thread count is pinned, and the
file is the same on machines of one architecture at best.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

#: The settings that pin the floating point. Set in the environment before numpy is imported.
X86_PINNED = {
    # numpy's dispatched instruction sets (numpy 2.4's names on x86-64; the baseline X86_V2 stays)
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Nehalem",
    "OPENBLAS_NUM_THREADS": "1",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA",
}
OTHER_PINNED = {"OPENBLAS_NUM_THREADS": "1"}
#: Marks a process started by :func:`rerun_pinned`, so that it never starts another.
MARKER = "HSCT_SYNTH_PINNED"


def pinned_environment() -> dict[str, str]:
    """The environment variables that pin this machine's floating point (see the module docstring)."""
    return dict(X86_PINNED if platform.machine().lower() in ("x86_64", "amd64") else OTHER_PINNED)


def is_pinned(environ=None) -> bool:
    """Whether ``environ`` (default: this process's) carries every pinned setting."""
    environ = os.environ if environ is None else environ
    return all(environ.get(k) == v for k, v in pinned_environment().items())


def rerun_pinned(module: str, argv: list[str]) -> int:
    """Run ``python -m module argv`` again in a child process with the pinned environment; returns
    its exit code. Raises RuntimeError if this process is already such a child but is not pinned
    (the settings were overridden), rather than loop."""
    if os.environ.get(MARKER):
        raise RuntimeError(f"{MARKER} is set but the floating point is not pinned: {pinned_environment()}")
    env = {**os.environ, **pinned_environment(), MARKER: "1"}
    return subprocess.run([sys.executable, "-m", module, *argv], env=env, check=False).returncode
