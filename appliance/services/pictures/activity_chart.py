"""The picture of a stream's activity: hours at a glance, one lane per channel, level in dBFS against time.

Each lane shows the RMS level (filled) and the peak (line) of every bucket
on a -90..0 dBFS scale, with clipping marked; a MIDI stream shows notes per
bucket and the range of pitches played. Time runs in minutes before the
window's end, so "what happened 40 minutes ago" can be read off the axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from appliance.pitches import note_name
from appliance.services.pictures.canvas import LABEL_PT, TICK_PT, TITLE_PT, new_figure, render

FLOOR_DBFS = -90.0
LEVEL, PEAK, CLIP = "#1f77b4", "#08306b", "#d62728"


def activity_png(*, title: str, bucket_s: float, end_label: str, rms_dbfs: Sequence[Sequence[float | None]],
                 peak_dbfs: Sequence[Sequence[float | None]], clipped: Sequence[Sequence[int]],
                 channel_labels: Sequence[str], width: int, height: int) -> bytes:
    """Audio: per channel lists of bucket values (None where nothing is indexed)."""
    return render(lambda: _audio(title, bucket_s, end_label, rms_dbfs, peak_dbfs, clipped, channel_labels, width,
                                 height))


def note_activity_png(*, title: str, bucket_s: float, end_label: str, notes: Sequence[int],
                      lowest: Sequence[int | None], highest: Sequence[int | None], width: int, height: int) -> bytes:
    return render(lambda: _midi(title, bucket_s, end_label, notes, lowest, highest, width, height))


def _minutes_before_end(buckets: int, bucket_s: float) -> np.ndarray:
    """Bucket edges as minutes before the window's end (negative), buckets + 1 of them."""
    return (np.arange(buckets + 1) - buckets) * bucket_s / 60.0


def _values(values: Sequence[float | None], floor: float) -> np.ndarray:
    out = np.array([floor if v is None else max(v, floor) for v in values], dtype=np.float64)
    return np.append(out, out[-1:])  # step plots need the last edge too


def _audio(title: str, bucket_s: float, end_label: str, rms: Sequence[Sequence[float | None]],
           peak: Sequence[Sequence[float | None]], clipped: Sequence[Sequence[int]], labels: Sequence[str],
           width: int, height: int) -> Figure:
    figure = new_figure(width, height)
    lanes = figure.subplots(len(labels), 1, sharex=True, squeeze=False)[:, 0]
    edges = _minutes_before_end(len(rms[0]), bucket_s)
    for lane, label, level, top, clips in zip(lanes, labels, rms, peak, clipped):
        lane.fill_between(edges, FLOOR_DBFS, _values(level, FLOOR_DBFS), step="post", color=LEVEL, alpha=0.6,
                          linewidth=0, label="RMS")
        lane.step(edges, _values(top, FLOOR_DBFS), where="post", color=PEAK, linewidth=0.7, label="peak")
        clip_at = [edges[i] + bucket_s / 120 for i, n in enumerate(clips) if n]
        if clip_at:
            lane.plot(clip_at, [0] * len(clip_at), "v", color=CLIP, markersize=4, label="clipped")
        lane.set_ylim(FLOOR_DBFS, 3)
        lane.set_yticks([-60, -30, 0])
        lane.set_ylabel(label, fontsize=LABEL_PT, rotation=0, ha="right", va="center")
        lane.tick_params(labelsize=TICK_PT)
        lane.grid(axis="y", color="0.85", linewidth=0.5)
    lanes[0].legend(loc="upper left", fontsize=TICK_PT, ncols=3, frameon=False)
    lanes[-1].set_xlim(edges[0], edges[-1])
    lanes[-1].set_xlabel(f"minutes before {end_label}", fontsize=LABEL_PT)
    figure.supylabel("level (dBFS)", fontsize=LABEL_PT)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure


def _midi(title: str, bucket_s: float, end_label: str, notes: Sequence[int], lowest: Sequence[int | None],
          highest: Sequence[int | None], width: int, height: int) -> Figure:
    figure = new_figure(width, height)
    count_axes, range_axes = figure.subplots(2, 1, sharex=True)
    edges = _minutes_before_end(len(notes), bucket_s)
    count_axes.step(edges, np.append(notes, notes[-1:]), where="post", color=LEVEL)
    count_axes.set_ylabel("notes per bucket", fontsize=LABEL_PT)
    played = [i for i, low in enumerate(lowest) if low is not None]
    for i in played:
        low, high = lowest[i], highest[i]
        assert low is not None and high is not None
        range_axes.fill_between([edges[i], edges[i + 1]], low - 0.5, high + 0.5, color=LEVEL, alpha=0.6, linewidth=0)
    if played:
        low = min(lowest[i] or 0 for i in played)
        high = max(highest[i] or 0 for i in played)
        ticks = sorted({low, high, *range(((low + 11) // 12) * 12, high + 1, 12)})
        range_axes.set_yticks(ticks, [note_name(p) for p in ticks])
        range_axes.set_ylim(low - 2, high + 2)
    range_axes.set_ylabel("pitches played", fontsize=LABEL_PT)
    range_axes.set_xlim(edges[0], edges[-1])
    range_axes.set_xlabel(f"minutes before {end_label}", fontsize=LABEL_PT)
    for axes in (count_axes, range_axes):
        axes.tick_params(labelsize=TICK_PT)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure
