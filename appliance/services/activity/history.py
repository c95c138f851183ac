"""stream_activity: hours of a stream's history from the activity index, in buckets an agent can read at once.

Each bucket folds whole index blocks (100 ms): energy-mean RMS, highest
peak, onsets and clipped samples summed, mean brightness of the blocks that
were not silent. A bucket nothing was indexed for is null, never NaN.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from pydantic import Field

from appliance.services.activity.activity_store import ActivityStore
from appliance.services.activity.block_figures import BLOCKS_PER_SECOND, BlockFigures
from appliance.services.activity.index_window import IndexWindow
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError

MAX_BUCKETS = 2000
AUTO_BUCKETS = 240  # what an automatic resolution aims at: a line of numbers per channel an agent can scan


class ChannelActivity(ResultModel):
    channel: int
    rms_dbfs: list[float | None] = Field(description="per bucket: RMS level (energy mean of its 100 ms blocks), "
                                                     "floored at -120 dBFS; null where nothing is indexed")
    peak_dbfs: list[float | None] = Field(description="per bucket: the highest sample peak")
    onsets: list[int] = Field(description="per bucket: sound onsets counted")
    centroid_hz: list[float | None] = Field(description="per bucket: mean spectral centroid (brightness) of the "
                                                        "blocks that were not silent; null when all were")
    clipped_samples: list[int] = Field(description="per bucket: samples at full scale")


class NoteActivity(ResultModel):
    notes: list[int] = Field(description="per bucket: notes started")
    lowest_pitch: list[int | None]
    highest_pitch: list[int | None]


class StreamActivity(ResultModel):
    uri: str
    kind: str
    sample_rate_hz: int
    sample_range: tuple[int, int] = Field(description="[start, end) in samples; bucket i starts at "
                                                      "start + i * bucket_samples")
    start_wall_time: str | None
    end_wall_time: str | None
    resolution_s: float = Field(description="seconds per bucket")
    bucket_samples: int
    buckets: int
    indexed_to_sample: int = Field(description="the index holds what was sealed below this sample; newer "
                                               "buckets fill in within seconds")
    channels: list[ChannelActivity] = Field(description="audio, per channel; empty for MIDI")
    midi: NoteActivity | None


def activity(window: IndexWindow, index: ActivityStore, resolution_s: float | None) -> StreamActivity:
    """The window in buckets of `resolution_s` (rounded to whole 100 ms blocks; chosen when None)."""
    stream = window.stream
    seconds = (window.end - window.first) / stream.sample_rate
    if resolution_s is None:
        resolution_s = max(seconds / AUTO_BUCKETS, 1 / BLOCKS_PER_SECOND)
    per_bucket = max(1, round(resolution_s * BLOCKS_PER_SECOND))
    first_block = window.first_block
    buckets = math.ceil((window.end_block - first_block) / per_bucket)
    if buckets > MAX_BUCKETS:
        raise ServiceError("badRequest", f"resolution: {seconds:.0f} s at {per_bucket / BLOCKS_PER_SECOND:g} s a "
                                         f"bucket is {buckets} buckets; at most {MAX_BUCKETS} are returned: give a "
                                         f"resolution of at least {seconds / MAX_BUCKETS:.1f} s")
    bucket_samples = per_bucket * stream.block_samples
    start = first_block * stream.block_samples
    end = start + buckets * bucket_samples
    channels: list[ChannelActivity] = []
    midi = None
    if stream.kind == "midi":
        midi = _notes(index, stream.uri, start, end, bucket_samples, buckets)
    else:
        figures = index.blocks(stream.uri, first_block, first_block + buckets * per_bucket, stream.channels)
        channels = [_channel(figures, c, per_bucket) for c in range(stream.channels)]
    return StreamActivity(uri=stream.uri, kind=stream.kind, sample_rate_hz=stream.sample_rate,
                          sample_range=(start, end), start_wall_time=window.wall_time(start),
                          end_wall_time=window.wall_time(end), resolution_s=per_bucket / BLOCKS_PER_SECOND,
                          bucket_samples=bucket_samples, buckets=buckets, indexed_to_sample=stream.indexed_to,
                          channels=channels, midi=midi)


def _channel(figures: BlockFigures, channel: int, per_bucket: int) -> ChannelActivity:
    def fold(values: np.ndarray) -> np.ndarray:
        return values[:, channel].reshape(-1, per_bucket)

    rms, peak, centroid = fold(figures.rms_dbfs), fold(figures.peak_dbfs), fold(figures.brightness_hz)
    # nanmean and nanmax warn on an all-NaN bucket, which is only a bucket nothing was indexed for.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings(action="ignore",
                                                                                  category=RuntimeWarning):
        energy = np.nanmean(10.0 ** (rms / 10.0), axis=1)
        level = 10.0 * np.log10(energy)
        highest = np.nanmax(peak, axis=1)
        brightness = np.nanmean(centroid, axis=1)
    return ChannelActivity(channel=channel, rms_dbfs=_numbers(level, 1), peak_dbfs=_numbers(highest, 1),
                           onsets=fold(figures.onsets).sum(axis=1).tolist(),
                           centroid_hz=_numbers(brightness, 0), clipped_samples=fold(figures.clipped).sum(axis=1).tolist())


def _notes(index: ActivityStore, uri: str, start: int, end: int, bucket: int, buckets: int) -> NoteActivity:
    notes = [0] * buckets
    lowest: list[int | None] = [None] * buckets
    highest: list[int | None] = [None] * buckets
    for i, count, low, high in index.note_buckets(uri, start, end, bucket):
        notes[i], lowest[i], highest[i] = count, low, high
    return NoteActivity(notes=notes, lowest_pitch=lowest, highest_pitch=highest)


def _numbers(values: np.ndarray, digits: int) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in values]
