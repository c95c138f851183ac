"""The guest's CLOCK_MONOTONIC on the host's clock: how many seconds after qemu started the guest's clock read zero.

systemd records when a unit became active in guest monotonic time
(`ActiveEnterTimestampMonotonic`), exactly and without anyone polling for it.
To put that on the same axis as something the host measures (seconds since
qemu started), the offset between the two clocks is needed. The kernel's
console lines carry their printk stamp (`[   12.345678] ...`, the same clock
to within tens of milliseconds); a line stamped `s` that the host has read
by host time `h` was written no later than `h`, so `h - s` bounds the offset
from above, and the smallest such bound over a boot's thousands of lines is
tight to about the interval at which the console is read.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

STAMP = re.compile(rb"^\[\s*(\d+\.\d+)\]", re.MULTILINE)


def tighter_bound(bound: float | None, host_seconds: float, complete_lines: bytes) -> float | None:
    """The offset bound after reading `complete_lines` by `host_seconds`; None while nothing was stamped."""
    stamps = [float(s) for s in STAMP.findall(complete_lines)]
    if not stamps:
        return bound
    seen = host_seconds - max(stamps)
    return seen if bound is None else min(bound, seen)


class ConsoleClock:
    """Reads a growing serial-console file every `every` seconds in a thread and keeps the offset bound."""

    def __init__(self, console: Path, since_start: Callable[[], float], every: float = 0.05) -> None:
        self.console = console
        self.since_start = since_start
        self.every = every
        self.bound: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="console-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _watch(self) -> None:
        position = 0
        while not self._stopped.is_set():
            if self.console.exists():
                with self.console.open("rb") as console:
                    console.seek(position)
                    data = console.read()
                # Taken after the read, so every line read had been written by then.
                now = self.since_start()
                complete = data[: data.rfind(b"\n") + 1]
                position += len(complete)
                self.bound = tighter_bound(self.bound, now, complete)
            time.sleep(self.every)

    def host_seconds(self, guest_monotonic_us: int) -> float:
        """A guest monotonic timestamp (microseconds) as seconds since qemu started."""
        if self.bound is None:
            raise RuntimeError(f"{self.console}: no stamped kernel line seen, so the guest clock is not placed")
        return self.bound + guest_monotonic_us / 1e6
