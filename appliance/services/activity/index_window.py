"""A window of a stream's activity index, named with time points as a slice is.

The index outlives the audio, so a window may reach back past what retention
kept: time points resolve against the stream's clocks over everything
indexed, not only over the samples still readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from appliance.services.activity.activity_store import ActivityStore, IndexedStream
from appliance.services.capture.manifest import Manifest
from appliance.services.capture.streams import StreamService
from appliance.services.service_error import ServiceError
from appliance.services.slicing.timepoints import TimePointError, available_range, realtime_at_sample, resolve_window

NS = 1_000_000_000


@dataclass(frozen=True)
class IndexWindow:
    """Samples [first, end) of an indexed stream, with the manifest that maps them to wall-clock time."""

    stream: IndexedStream
    manifest: Manifest
    first: int
    end: int
    now_ns: int  # the request's arrival

    @property
    def first_block(self) -> int:
        return self.first // self.stream.block_samples

    @property
    def end_block(self) -> int:
        return -(-self.end // self.stream.block_samples)

    def wall_time(self, sample: int) -> str | None:
        """ISO 8601 UTC time of `sample`; None when the stream has no clock."""
        realtime = realtime_at_sample(self.manifest, sample)
        if realtime is None:
            return None
        return datetime.fromtimestamp(realtime / NS, tz=timezone.utc).isoformat(timespec="milliseconds")

    def seconds_ago(self, sample: int) -> float | None:
        realtime = realtime_at_sample(self.manifest, sample)
        return None if realtime is None else round((self.now_ns - realtime) / NS, 3)


def open_window(streams: StreamService, index: ActivityStore, uri: str, start: Any, end: Any,
                now_ns: int) -> IndexWindow:
    """Resolve `start`/`end` on `uri` over everything indexed or still readable; `start` None is the oldest."""
    with streams.snapshot(uri) as manifest:
        stream = index.stream(uri)
        if stream is None:
            raise ServiceError("unavailable", f"uri: {uri} has nothing in the activity index yet: it is indexed as "
                                              "its chunks are sealed (within a second or two of the first seal)")
        readable_first, head = available_range(manifest)
        oldest, newest = min(stream.first_sample, readable_first), max(head, stream.indexed_to)
        try:
            # A start before the recording began is clamped to it: "the last hour" of a box that has recorded
            # for ten minutes is those ten minutes. An end past the head is still refused, as for a slice.
            first, last = resolve_window({"sample": oldest} if start is None else start, end, manifest,
                                         now_realtime_ns=now_ns, span=(-(1 << 62), newest),
                                         session_edge=streams.session_edge)
        except TimePointError as exc:
            raise ServiceError("badRequest", str(exc)) from None
        first = max(first, oldest)
        if last <= first:
            raise ServiceError("badRequest", f"end: the window ends at sample {last}, before anything of {uri} "
                                             f"was recorded (from sample {oldest})")
        return IndexWindow(stream, manifest, first, last, now_ns)
