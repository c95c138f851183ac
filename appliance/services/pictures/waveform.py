"""The waveform: one lane per channel over time, its level in dBFS, markers, and bars:beats when there is a tempo.

Amplitude is drawn linear and its axis labelled in dBFS (0 at full scale,
-6 at half, -12 at a quarter, -24 where lanes are tall enough). A linear lane
keeps the shape every reader knows, transients and clipping at their true
size; a dB-scaled envelope would swell the noise floor and flatten the
dynamics the picture is asked about. What a linear lane cannot show is a
quiet signal (below about -30 dBFS it looks like silence), so each lane's
label also states its peak in dBFS, or says it is silent.

A long window is first reduced to the smallest and largest sample per pixel
column (`envelope`), so what is plotted is at most two points per column per
channel, whatever the sample count. `envelope` also takes the samples block
by block, so a file longer than memory is drawn as cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from appliance.services.pictures.canvas import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    LABEL_PT,
    TICK_PT,
    TICK_PX,
    TITLE_PT,
    BeatGrid,
    beat_axis,
    check_size,
    label_step,
    new_figure,
    plot_height,
    render,
    time_axis,
)

LANE = 2.4  # a lane's height in amplitude units: -1..1 and a gap, so neighbouring lanes never touch
LEVELS_DBFS = (0, -6, -12, -24)  # labelled as far down as the lane's height leaves room
COLOUR = "#1f5fa8"
MARKER_COLOUR = "#c0392b"


@dataclass(frozen=True)
class Envelope:
    """Samples reduced for drawing: per column and channel the smallest and largest, shape (columns, channels).

    Every column spans `frames_per_column` samples but the last, which holds
    what is left of `frames`.
    """

    low: np.ndarray
    high: np.ndarray
    frames_per_column: int
    frames: int


def envelope(blocks: Iterable[np.ndarray], frames: int, columns: int) -> Envelope:
    """The min/max envelope of `frames` samples, given as consecutive (n, channels) blocks, in at most `columns`.

    Pass `[samples]` for an array in memory, or the blocks of a file as they
    are read; only one block is held at a time.
    """
    per_column = max(1, math.ceil(frames / columns))
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    carry: np.ndarray | None = None  # the samples of a column a block ended inside of
    for block in blocks:
        if carry is not None and len(carry):
            block = np.concatenate([carry, block])
        whole = len(block) // per_column * per_column
        shaped = block[:whole].reshape(-1, per_column, block.shape[1])
        lows.append(shaped.min(axis=1))
        highs.append(shaped.max(axis=1))
        carry = block[whole:]
    if carry is not None and len(carry):
        lows.append(carry.min(axis=0, keepdims=True))
        highs.append(carry.max(axis=0, keepdims=True))
    if not lows:
        raise ValueError("a waveform needs at least one sample")
    return Envelope(np.concatenate(lows), np.concatenate(highs), per_column, frames)


def waveform_png(samples: np.ndarray | Envelope, sample_rate: int, *, title: str, channel_labels: Sequence[str],
                 start_s: float = 0.0, markers: Sequence[tuple[float, str]] = (), beats: BeatGrid | None = None,
                 width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> bytes:
    """A `width` x `height` PNG of the waveform of `samples`, (n, channels) floats where 1.0 is full scale.

    Or of their `Envelope`, for a caller that reduced them while reading.
    Time runs from `start_s`; `markers` are (time on that axis, label); with
    `beats`, bars:beats run along the top.
    """
    check_size(width, height)
    reduced = samples if isinstance(samples, Envelope) else envelope([_checked(samples)], len(samples), width)
    return render(lambda: _figure(reduced, sample_rate, title=title, channel_labels=channel_labels,
                                  start_s=start_s, markers=markers, beats=beats, width=width, height=height))


def _checked(samples: np.ndarray) -> np.ndarray:
    if samples.ndim != 2 or not len(samples):
        raise ValueError(f"a waveform takes samples shaped (frames, channels) with at least one frame, "
                         f"not {samples.shape}")
    return samples


def _figure(reduced: Envelope, sample_rate: int, *, title: str, channel_labels: Sequence[str], start_s: float,
            markers: Sequence[tuple[float, str]], beats: BeatGrid | None, width: int, height: int) -> Figure:
    columns, channels = reduced.low.shape
    if len(channel_labels) != channels:
        raise ValueError(f"{len(channel_labels)} channel labels for {channels} channels")
    figure = new_figure(width, height)
    axes = figure.add_subplot()
    duration_s = reduced.frames / sample_rate
    edges = start_s + np.minimum(np.arange(columns + 1) * reduced.frames_per_column, reduced.frames) / sample_rate
    centres = -LANE * np.arange(channels)
    lane_px = plot_height(height, beats) / channels
    levels = _levels_that_fit(lane_px / LANE)
    for channel, centre in enumerate(centres):
        # Steps, not a line through column centres: each column is drawn over exactly the time it covers.
        low = np.append(np.clip(reduced.low[:, channel], -1, 1), reduced.low[-1, channel].clip(-1, 1))
        high = np.append(np.clip(reduced.high[:, channel], -1, 1), reduced.high[-1, channel].clip(-1, 1))
        # An edge as wide as a pixel keeps a column visible where low == high (silence, or one sample each).
        axes.fill_between(edges, centre + low, centre + high, step="post", color=COLOUR, edgecolor=COLOUR,
                          linewidth=0.6)
    grid = [centre + sign * 10 ** (db / 20) for centre in centres for db in levels for sign in (1, -1)]
    axes.hlines(grid, edges[0], edges[-1], colors="0.85", linewidths=0.5, zorder=0.4)
    axes.hlines(centres, edges[0], edges[-1], colors="0.6", linewidths=0.5, zorder=0.4)
    axes.set_ylim(centres[-1] - LANE / 2, LANE / 2)

    peaks = np.maximum(np.abs(reduced.low), np.abs(reduced.high)).max(axis=0)
    shown = range(0, channels, label_step(channels, plot_height(height, beats), TICK_PX * 1.3))
    axes.set_yticks([centres[c] for c in shown], [f"{channel_labels[c]}  {_peak(peaks[c])}" for c in shown])
    axes.tick_params(axis="y", labelsize=TICK_PT, length=0)
    level_axis = axes.secondary_yaxis("right")
    level_axis.set_yticks([centre + 10 ** (db / 20) for centre in centres for db in levels],
                          [f"{db:d}" for _ in centres for db in levels])
    level_axis.tick_params(labelsize=TICK_PT)
    level_axis.set_ylabel("level (dBFS)", fontsize=LABEL_PT)

    time_axis(axes, start_s, duration_s, width)
    if beats is not None:
        beat_axis(axes, beats, start_s, duration_s, width)
    for row, (at, text) in enumerate((m for m in markers if start_s <= m[0] <= start_s + duration_s)):
        axes.axvline(at, color=MARKER_COLOUR, linewidth=1.2)
        # Stagger labels over three rows so markers close together stay readable.
        axes.annotate(text, (at, 1), xycoords=("data", "axes fraction"), xytext=(3, -3 - 12 * (row % 3)),
                      textcoords="offset points", va="top", fontsize=TICK_PT, color=MARKER_COLOUR,
                      bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure


def _levels_that_fit(full_scale_px: float) -> list[int]:
    """The dBFS levels, from 0 down, whose labels on a lane `full_scale_px` tall stay a tick label apart."""
    chosen: list[int] = []
    for db in LEVELS_DBFS:
        if chosen and (10 ** (chosen[-1] / 20) - 10 ** (db / 20)) * full_scale_px < TICK_PX * 1.25:
            break
        chosen.append(db)
    return chosen if full_scale_px >= TICK_PX else []


def _peak(peak: float) -> str:
    """'peak -6.0 dBFS'; a float recording can go past full scale, which reads '+3.0'."""
    if peak == 0:
        return "silent"
    db = round(20 * math.log10(peak), 1) + 0.0  # + 0.0: no "-0.0"
    return f"peak {db:+.1f} dBFS" if db > 0 else f"peak {db:.1f} dBFS"
