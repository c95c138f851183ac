"""One printed line per figure, always with the peer it is measured against."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def figure(name: str, ours: float, peer: float, peer_name: str, unit: str, higher_is_better: bool,
           target: float | None = None) -> str:
    """Print `name: ours unit vs peer unit (ratio x)`; ratio > 1 always means we are better."""
    ratio = ours / peer if higher_is_better else peer / ours
    verdict = "" if target is None else (" ok" if ratio >= target else f" BELOW target {target:g}x")
    line = f"{name}: {ours:.4g} {unit} vs {peer_name} {peer:.4g} {unit} -> {ratio:.2f}x{verdict}"
    print(line, flush=True)
    return line


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def require(tool: str, bench: str, install: str) -> None:
    """Stop this benchmark (not the others) with a clear line when its peer program is missing."""
    if shutil.which(tool) is None:
        raise SystemExit(f"{bench}: {tool} is missing ({install})")


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A directory on disk (not tmpfs, so fsync costs what it costs) removed afterwards; BENCH_DIR moves it."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("BENCH_DIR", "/var/tmp")))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
