"""What a stream holds after a scenario, read straight from the data directory and checked.

The manifest says where each sealed chunk lies on the timeline and where the
gaps are; the counter card's values say which source frame each sample is.
Between them: samples lost, duplicated, shifted, and chunks that do not
verify.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.cas import ContentStore
from appliance.cas.digest import hash_file
from appliance.services.capture import manifest as manifests
from tests.faults.counter_card import RATE, source_frame


@dataclass(frozen=True)
class Run:
    """Audio laid down without a break: timeline frames [start, start+length) are source frames [source, ...)."""

    start: int
    length: int
    source: int

    @property
    def end(self) -> int:
        return self.start + self.length

    @property
    def offset(self) -> int:
        return self.source - self.start


@dataclass
class Recording:
    manifest: manifests.Manifest
    timeline: np.ndarray  # (frames, channels) int32; silence and gaps are zero
    unverified: list[str] = field(default_factory=list)  # digests whose content does not hash to them
    covered: np.ndarray | None = None  # bool per frame: backed by a sealed chunk

    @classmethod
    def load(cls, data_dir: Path, uri: str, channels: int) -> "Recording":
        db = sqlite3.connect(data_dir / "hootenanny" / "catalog.db")
        try:
            (path,) = db.execute("SELECT manifest_path FROM streams WHERE uri=?", (uri,)).fetchone()
        finally:
            db.close()
        manifest = manifests.read(Path(path))
        store = ContentStore(data_dir / "cas")
        end = max([c.end_sample for c in manifest.chunks] + [g.start_sample + g.samples for g in manifest.gaps] + [0])
        timeline = np.zeros((end, channels), dtype="<i4")
        covered = np.zeros(end, dtype=bool)
        unverified = []
        for chunk in manifest.chunks:
            content = store.path(chunk.digest)
            if hash_file(content) != chunk.digest:
                unverified.append(chunk.digest)
            frames = np.frombuffer(content.read_bytes(), dtype="<i4").reshape(-1, channels)
            timeline[chunk.first_sample : chunk.end_sample] = frames[: chunk.samples]
            covered[chunk.first_sample : chunk.end_sample] = True
        return cls(manifest, timeline, unverified, covered)

    @property
    def frames(self) -> int:
        return len(self.timeline)

    def runs(self) -> list[Run]:
        """Maximal stretches where timeline and source advance together frame by frame."""
        src = source_frame(self.timeline)
        at = np.flatnonzero(src >= 0)
        if not len(at):
            return []
        # A run breaks where the timeline skips (silence between) or the source does (lost or shifted).
        breaks = np.flatnonzero((np.diff(at) != 1) | (np.diff(src[at]) != 1)) + 1
        return [Run(int(at[a]), int(b - a), int(src[at[a]])) for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(at)])]

    def holes(self) -> int:
        """Timeline frames neither backed by a chunk nor inside a recorded gap: the timeline lost length."""
        inside_gap = np.zeros(self.frames, dtype=bool)
        for gap in self.manifest.gaps:
            inside_gap[gap.start_sample : gap.start_sample + gap.samples] = True
        return int(np.count_nonzero(~(self.covered | inside_gap)))

    def gap_between(self, before: Run, after: Run) -> int:
        """Frames of recorded gap (not silence) lying between two runs."""
        return sum(max(0, min(g.start_sample + g.samples, after.start) - max(g.start_sample, before.end))
                   for g in self.manifest.gaps)

    def garbage_between(self, before: Run, after: Run) -> int:
        """Frames between two runs that are neither a recorded gap nor silence: audio that is not the source's."""
        between = slice(before.end, after.start)
        sound = np.any(self.timeline[between] != 0, axis=1) & self.covered[between]
        return int(np.count_nonzero(sound))


def ms(frames: int | float) -> float:
    return round(frames * 1000 / RATE, 1)

