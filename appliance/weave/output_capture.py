"""Per-cell stdout/stderr, routed by context so concurrent rules never print into a cell's output.

`sys.stdout` and `sys.stderr` are wrapped once by a `Router` that writes to the
`Sink` of the current asyncio context (each task has its own), or passes
through to the real stream where no sink is set. Nothing swaps the process's
streams per cell, so output from another task or thread cannot leak in.
"""

from __future__ import annotations

import contextvars
import io
import sys
from typing import TextIO

_current: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("weave_sink", default=None)


class Sink:
    """The captured text of one cell or one rule firing."""

    def __init__(self) -> None:
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.closed = False

    def stream(self, name: str) -> io.StringIO:
        return self.stdout if name == "stdout" else self.stderr


class Router(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr; writes go to the context's sink."""

    def __init__(self, name: str, fallback: TextIO) -> None:
        self.name = name
        self.fallback = fallback

    def write(self, text: str) -> int:
        sink = _current.get()
        if sink is None or sink.closed:
            return self.fallback.write(text)
        return sink.stream(self.name).write(text)

    def flush(self) -> None:
        sink = _current.get()
        if sink is None or sink.closed:
            self.fallback.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8")


def install() -> None:
    """Wrap sys.stdout and sys.stderr unless already wrapped (test runners may swap them back)."""
    if not isinstance(sys.stdout, Router):
        sys.stdout = Router("stdout", sys.stdout)
    if not isinstance(sys.stderr, Router):
        sys.stderr = Router("stderr", sys.stderr)


def capture_into(sink: Sink) -> None:
    """Send this context's output (and that of tasks it starts) to `sink`."""
    install()
    _current.set(sink)
