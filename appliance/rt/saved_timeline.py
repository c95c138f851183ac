"""chaosgarden's memory across a restart: transport, regions and markers in one small Cap'n Proto file.

`<data>/chaosgarden/timeline.bin` holds a `SavedTimeline` message. It is
replaced whole by an atomic rename after every change, so a kill -9 at any
moment leaves either the old or the new version, never half of one. Writes
run in a worker thread, in the order their snapshots were taken; snapshots
that pile up behind a write are coalesced into one write of the newest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from appliance.proto import codec
from appliance.proto.timeline_messages import TimelineSnapshot

log = logging.getLogger(__name__)


class SavedTimeline:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()
        self._taken = 0  # snapshots taken so far
        self._written = 0  # the number of the newest snapshot on disk
        self._newest: tuple[int, bytes] | None = None  # the newest snapshot not yet on disk

    def load(self) -> TimelineSnapshot | None:
        """The saved snapshot; None when there is none. An unreadable file is moved aside and logged."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return TimelineSnapshot.from_wire(codec.unpack(codec.garden.SavedTimeline, data))
        except codec.BodyError as exc:
            aside = self.path.with_suffix(".unreadable")
            os.replace(self.path, aside)
            log.error("%s: %s; starting with an empty timeline (the file is kept as %s)", self.path, exc, aside.name)
            return None

    async def save(self, snapshot: TimelineSnapshot) -> None:
        """Replace the file with `snapshot` (taken by the caller before awaiting, so later snapshots win).

        Returns once `snapshot` or a newer one is on disk. A burst of commands thus costs a few
        writes, not one fsync each (tens of ms apiece on an SD card) and, while they waited, one held
        copy of the whole timeline each (the fuzz scenario's markers made that 0.7 MB).
        """
        self._taken += 1
        mine = self._taken
        self._newest = (mine, codec.pack(codec.garden.SavedTimeline, snapshot.to_wire()))
        async with self._lock:
            if self._written >= mine:
                return
            number, data = self._newest  # set: ours or a newer one, since nothing newer is on disk
            await asyncio.to_thread(_write_atomically, self.path, data)
            self._written = number
            if self._newest[0] == number:
                self._newest = None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
