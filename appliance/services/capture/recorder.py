"""One stream's live state in hootenanny: what the stream service, its recovery and its users share.

A Recorder is only touched from the event loop; the steps that await
chaosgarden midway (a seal, a start, a stop, a reconcile) hold its `lock` so
that they do not interleave.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from appliance.proto.stream_definition import StreamDefinition, StreamKind
from appliance.services.capture.manifest import ClockSnapshot, Manifest
from appliance.services.slicing.timepoints import available_range


@dataclass
class Recorder:
    """One stream's live state in hootenanny."""

    definition: StreamDefinition
    manifest: Manifest
    manifest_path: Path | None = None
    recording: bool = False
    xruns: int = 0
    last_error: str = ""
    device_connected: bool = True
    head_seen: float = 0.0  # time.monotonic() of the last head broadcast
    live_dirty: bool = False
    garden_lost: bool = False
    broken: str = ""  # why the manifest could not be read; the stream is unusable until repaired
    stopping: bool = False  # a stop of our own (disk full) is on its way
    head_clock: ClockSnapshot | None = None  # the clocks of the newest head chaosgarden told us of
    head_moved: asyncio.Event = field(default_factory=asyncio.Event)  # set (and replaced) at every head
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def head_sample(self) -> int:
        """Where the timeline is readable to. A MIDI timeline runs on with time, event or not: its head is the
        newest head's position (or the stop clock's), though no chunk may be open."""
        if self.definition.kind is StreamKind.AUDIO:
            return self.manifest.head_sample  # what available_range says for audio, without walking the chunks
        head = available_range(self.manifest)[1]
        if self.recording and self.head_clock is not None:
            head = max(head, self.head_clock.sample)
        return head
