"""The picture of a stream's activity: hours at a glance, one lane per channel, level in dBFS against time.

Each lane shows the RMS level (filled) and the peak (line) of every bucket
on a -90..0 dBFS scale, with clipping marked; a MIDI stream shows notes per
bucket and the range of pitches played. Time runs in seconds, minutes or
hours (by the window's length) before its end, so "what happened 40 minutes
ago" can be read off the axis. What is not indexed yet (the newest seconds,
before their chunk seals) is shaded and says so, rather than drawn as silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from appliance.pitches import note_name
from appliance.services.pictures.canvas import LABEL_PT, TICK_PT, TITLE_PT, new_figure, render

FLOOR_DBFS = -90.0
LEVEL, PEAK, CLIP = "#1f77b4", "#08306b", "#d62728"


@dataclass(frozen=True)
class Timeline:
    """The window's buckets: their length, what the end is called, and how much at the end is not indexed yet."""

    buckets: int
    bucket_s: float
    end_label: str
    unindexed_s: float = 0.0

    def scale(self) -> tuple[float, str]:
        """Seconds per axis unit and the unit's name, by the window's length."""
        total = self.buckets * self.bucket_s
        return (1.0, "seconds") if total <= 120 else (60.0, "minutes") if total <= 7200 else (3600.0, "hours")

    def edges(self) -> np.ndarray:
        """Bucket edges in axis units before the end (negative), buckets + 1 of them."""
        return (np.arange(self.buckets + 1) - self.buckets) * self.bucket_s / self.scale()[0]

    def decorate(self, lanes: Sequence[Axes]) -> None:
        edges = self.edges()
        for lane in lanes:
            if self.unindexed_s > 0:
                lane.axvspan(-self.unindexed_s / self.scale()[0], 0, color="0.9", zorder=0)
        if self.unindexed_s > 0:
            lanes[0].annotate("not indexed yet", (1, 1), xycoords="axes fraction", xytext=(-3, -3),
                              textcoords="offset points", ha="right", va="top", fontsize=TICK_PT, color="0.4")
        lanes[-1].set_xlim(edges[0], edges[-1])
        lanes[-1].set_xlabel(f"{self.scale()[1]} before {self.end_label}", fontsize=LABEL_PT)


def activity_png(*, title: str, timeline: Timeline, rms_dbfs: Sequence[Sequence[float | None]],
                 peak_dbfs: Sequence[Sequence[float | None]], clipped: Sequence[Sequence[int]],
                 channel_labels: Sequence[str], width: int, height: int) -> bytes:
    """Audio: per channel lists of bucket values (None where nothing is indexed)."""
    return render(lambda: _audio(title, timeline, rms_dbfs, peak_dbfs, clipped, channel_labels, width, height))


def note_activity_png(*, title: str, timeline: Timeline, notes: Sequence[int], lowest: Sequence[int | None],
                      highest: Sequence[int | None], width: int, height: int) -> bytes:
    return render(lambda: _midi(title, timeline, notes, lowest, highest, width, height))


def _values(values: Sequence[float | None], floor: float) -> np.ndarray:
    """Bucket values for a step plot, NaN (a gap in the drawing) where nothing is indexed."""
    out = np.array([np.nan if v is None else max(v, floor) for v in values], dtype=np.float64)
    return np.append(out, out[-1:])  # step plots need the last edge too


def _audio(title: str, timeline: Timeline, rms: Sequence[Sequence[float | None]],
           peak: Sequence[Sequence[float | None]], clipped: Sequence[Sequence[int]], labels: Sequence[str],
           width: int, height: int) -> Figure:
    figure = new_figure(width, height)
    lanes = figure.subplots(len(labels), 1, sharex=True, squeeze=False)[:, 0]
    edges = timeline.edges()
    half_bucket = (edges[1] - edges[0]) / 2
    for lane, label, level, top, clips in zip(lanes, labels, rms, peak, clipped):
        lane.fill_between(edges, FLOOR_DBFS, _values(level, FLOOR_DBFS), step="post", color=LEVEL, alpha=0.6,
                          linewidth=0, label="RMS")
        lane.step(edges, _values(top, FLOOR_DBFS), where="post", color=PEAK, linewidth=0.7, label="peak")
        clip_at = [edges[i] + half_bucket for i, n in enumerate(clips) if n]
        if clip_at:
            lane.plot(clip_at, [0] * len(clip_at), "v", color=CLIP, markersize=4, label="clipped")
        lane.set_ylim(FLOOR_DBFS, 3)
        lane.set_yticks([-60, -30, 0])
        lane.set_ylabel(label, fontsize=LABEL_PT, rotation=0, ha="right", va="center")
        lane.tick_params(labelsize=TICK_PT)
        lane.grid(axis="y", color="0.85", linewidth=0.5)
    lanes[0].legend(loc="lower left", bbox_to_anchor=(0, 1), fontsize=TICK_PT, ncols=3, frameon=False,
                    borderaxespad=0)
    timeline.decorate(list(lanes))
    figure.supylabel("level (dBFS)", fontsize=LABEL_PT)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure


def _midi(title: str, timeline: Timeline, notes: Sequence[int], lowest: Sequence[int | None],
          highest: Sequence[int | None], width: int, height: int) -> Figure:
    figure = new_figure(width, height)
    count_axes, range_axes = figure.subplots(2, 1, sharex=True)
    edges = timeline.edges()
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
    timeline.decorate([count_axes, range_axes])
    for axes in (count_axes, range_axes):
        axes.tick_params(labelsize=TICK_PT)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure
