"""`[  12.3s] image: step` lines, so a build or an update of minutes is never silent."""

from __future__ import annotations

import time


class Progress:
    """Prints each step with the seconds since this object was made."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:7.1f}s] image: {message}", flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start
