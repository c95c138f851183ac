"""chaosgarden locks everything it maps, so numpy must not start BLAS threads (and their buffers) in it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT_THREADS = "import {0}, numpy, os; print(len(os.listdir('/proc/self/task')))"


def threads_after_importing(module: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    done = subprocess.run([sys.executable, "-c", COUNT_THREADS.format(module)], env=env, capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="OpenBLAS starts no extra thread on one core")
def test_numpy_in_chaosgarden_runs_no_blas_threads() -> None:
    assert threads_after_importing("json") > 1, "numpy here starts BLAS threads, so the check below means something"
    assert threads_after_importing("appliance.rt") == 1
