"""Heartbeat bookkeeping: which peers have spoken recently enough to count as alive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Liveness:
    """Peers are alive while they were heard from within `interval * misses` seconds."""

    interval: float
    misses: int
    _last_heard: dict[bytes, float] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        return self.interval * self.misses

    def heard(self, peer: bytes, now: float | None = None) -> bool:
        """Record traffic from `peer`; True when the peer was not known before."""
        new = peer not in self._last_heard
        self._last_heard[peer] = time.monotonic() if now is None else now
        return new

    def forget(self, peer: bytes) -> None:
        self._last_heard.pop(peer, None)

    def is_alive(self, peer: bytes, now: float | None = None) -> bool:
        last = self._last_heard.get(peer)
        now = time.monotonic() if now is None else now
        return last is not None and now - last <= self.deadline

    def expire(self, now: float | None = None) -> list[bytes]:
        """Forget and return every peer silent for longer than the deadline."""
        now = time.monotonic() if now is None else now
        gone = [p for p, t in self._last_heard.items() if now - t > self.deadline]
        for peer in gone:
            del self._last_heard[peer]
        return gone

    def peers(self) -> list[bytes]:
        return list(self._last_heard)
