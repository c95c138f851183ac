"""The activity tools' work in hootenanny: windows resolved on the event loop, the index read in a worker thread."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from appliance.cas import ContentStore
from appliance.services.activity.activity_store import ActivityStore
from appliance.services.activity.finder import FindRequest, FindResult, find
from appliance.services.activity.history import StreamActivity, activity
from appliance.services.activity.index_window import IndexWindow, open_window
from appliance.services.analysis.window_samples import read_audio
from appliance.services.capture.manifest import Manifest
from appliance.services.capture.streams import StreamService
from appliance.services.slicing.slicer import SliceError, plan_slice


class ActivityQueries:
    def __init__(self, streams: StreamService, store: ContentStore, index: ActivityStore) -> None:
        self.streams, self.store, self.index = streams, store, index

    async def activity(self, uri: str, start: Any, end: Any, resolution_s: float | None,
                       picture: tuple[int, int] | None) -> tuple[StreamActivity, list[bytes]]:
        window = open_window(self.streams, self.index, uri, start, end, time.time_ns())
        return await asyncio.to_thread(self._activity, window, resolution_s, picture)

    async def find(self, uri: str, start: Any, end: Any, request: FindRequest) -> FindResult:
        window = open_window(self.streams, self.index, uri, start, end, time.time_ns())
        sealed = window.manifest.model_copy(update={"live": None})
        return await asyncio.to_thread(find, window, self.index, request,
                                       lambda first, last, channel: self._samples(sealed, first, last, channel))

    # -- in a worker thread --------------------------------------------------
    def _activity(self, window: IndexWindow, resolution_s: float | None,
                  picture: tuple[int, int] | None) -> tuple[StreamActivity, list[bytes]]:
        result = activity(window, self.index, resolution_s)
        return result, [_picture(result, *picture)] if picture else []

    def _samples(self, manifest: Manifest, first: int, end: int, channel: int) -> np.ndarray | None:
        """A channel's samples of [first, end) from sealed chunks (cut at the newest seal: a hit near the
        present is placed on what is sealed); None when they are not all kept."""
        if manifest.chunks:
            end = min(end, manifest.chunks[-1].end_sample)
        if end <= first:
            return None
        try:
            return read_audio(plan_slice(manifest, first, end), self.store, [channel])[:, 0]
        except SliceError:
            return None


def _picture(result: StreamActivity, width: int, height: int) -> bytes:
    from appliance.services.pictures.activity_chart import Timeline, activity_png, note_activity_png

    title = f"{result.uri}  {result.start_wall_time or ''} to {result.end_wall_time or ''}  " \
            f"({result.buckets} x {result.resolution_s:g} s)"
    end, rate = result.sample_range[1], result.sample_rate_hz
    timeline = Timeline(buckets=result.buckets, bucket_s=result.resolution_s,
                        end_label=(result.end_wall_time or f"sample {end}").replace("T", " "),
                        unindexed_s=max(0, end - result.indexed_to_sample) / rate)
    if result.midi is not None:
        return note_activity_png(title=title, timeline=timeline, notes=result.midi.notes,
                                 lowest=result.midi.lowest_pitch, highest=result.midi.highest_pitch, width=width,
                                 height=height)
    return activity_png(title=title, timeline=timeline, rms_dbfs=[c.rms_dbfs for c in result.channels],
                        peak_dbfs=[c.peak_dbfs for c in result.channels],
                        clipped=[c.clipped_samples for c in result.channels],
                        channel_labels=[f"ch {c.channel}" for c in result.channels], width=width, height=height)
