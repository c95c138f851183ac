"""The piano roll: notes as bars over time, pitch upwards and named (C4 is MIDI note 60), velocity as shade.

The pitch axis spans the notes played with a note to spare either side, and at
least an octave; rows of the black keys are shaded as on a keyboard. Velocity
is a colour scale with its bar; when the notes come on more than one MIDI
channel, each channel outlines its notes in its own colour, with a legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from appliance.pitches import note_name
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
    new_figure,
    plot_height,
    render,
    time_axis,
)

BLACK_KEYS = {1, 3, 6, 8, 10}
# Pitch classes to name, and the fewest semitones between two of them.
NAME_EVERY, NAME_CEG, NAME_CG, NAME_C = (set(range(12)), 1), ({0, 4, 7}, 3), ({0, 7}, 5), ({0}, 12)
EMPTY_RANGE = (48, 72)  # C3..C5: what an empty roll shows
MIN_SPAN = 12
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


@dataclass(frozen=True)
class Note:
    """One note: its MIDI pitch, when it starts on the picture's time axis and for how long, velocity, channel.

    The channel is as the file has it, 0..15.
    """

    pitch: int
    start_s: float
    duration_s: float
    velocity: int
    channel: int


def piano_roll_png(notes: Sequence[Note], *, title: str, duration_s: float, start_s: float = 0.0,
                   beats: BeatGrid | None = None, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> bytes:
    """A `width` x `height` PNG of `notes` over the window [start_s, start_s + duration_s)."""
    check_size(width, height)
    return render(lambda: _figure(notes, title=title, duration_s=duration_s, start_s=start_s, beats=beats,
                                  width=width, height=height))


def _figure(notes: Sequence[Note], *, title: str, duration_s: float, start_s: float, beats: BeatGrid | None,
            width: int, height: int) -> Figure:
    if not duration_s > 0:
        raise ValueError(f"a piano roll needs a window longer than 0 s, not {duration_s}")
    figure = new_figure(width, height)
    axes = figure.add_subplot()
    low, high = _pitch_range(notes)
    row_px = plot_height(height, beats) / (high - low + 1)
    if row_px >= 3:
        black = [p for p in range(low, high + 1) if p % 12 in BLACK_KEYS]
        axes.barh(black, duration_s, left=start_s, height=1, color="0.93", zorder=0.2)
    octaves = [p for p in range(low, high + 1) if p % 12 == 0]
    axes.hlines([p - 0.5 for p in octaves], start_s, start_s + duration_s, colors="0.7", linewidths=0.6, zorder=0.3)
    named = _named(low, high, row_px)
    axes.set_yticks(named, [note_name(p) for p in named])
    axes.set_ylim(low - 0.5, high + 0.5)
    axes.set_ylabel("pitch", fontsize=LABEL_PT)

    if notes:
        bars = PolyCollection([_bar(note) for note in notes], array=np.array([n.velocity for n in notes]),
                              cmap="viridis_r", norm=Normalize(1, 127), zorder=2)
        channels = sorted({n.channel for n in notes})
        if len(channels) > 1:
            colour = {c: CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)] for i, c in enumerate(channels)}
            bars.set_edgecolor([colour[n.channel] for n in notes])
            bars.set_linewidth(1.2)
            # Beside the plot, where it can hide no note.
            figure.legend([Line2D([], [], color=colour[c], linewidth=2) for c in channels],
                          [f"ch {c}" for c in channels], fontsize=TICK_PT, loc="outside right upper",
                          title="MIDI channel", title_fontsize=TICK_PT)
        else:
            # An edge in the note's own colour keeps a note shorter than a pixel visible.
            bars.set_edgecolor("face")
            bars.set_linewidth(0.8)
        axes.add_collection(bars)
        shade = figure.colorbar(bars, ax=axes, pad=0.01)
        shade.set_label("velocity", fontsize=LABEL_PT)
        shade.ax.tick_params(labelsize=TICK_PT)
    else:
        axes.text(0.5, 0.5, "no notes", transform=axes.transAxes, ha="center", va="center", fontsize=LABEL_PT + 2,
                  color="0.4")
    time_axis(axes, start_s, duration_s, width)
    if beats is not None:
        beat_axis(axes, beats, start_s, duration_s, width)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure


def _named(low: int, high: int, row_px: float) -> list[int]:
    """The pitches to name: every one where rows are tall enough, else C E G, C G, C, or every other C."""
    for classes, closest in (NAME_EVERY, NAME_CEG, NAME_CG, NAME_C):
        if closest * row_px >= 1.1 * TICK_PX:
            return [p for p in range(low, high + 1) if p % 12 in classes]
    return [p for p in range(low, high + 1) if p % 24 == 0]


def _pitch_range(notes: Sequence[Note]) -> tuple[int, int]:
    """The lowest and highest pitch shown: the notes' with one to spare, widened to an octave, within 0..127."""
    if not notes:
        return EMPTY_RANGE
    low, high = min(n.pitch for n in notes) - 1, max(n.pitch for n in notes) + 1
    short = MIN_SPAN - (high - low)
    if short > 0:
        low, high = low - short // 2, high + short - short // 2
    return max(0, low), min(127, high)


def _bar(note: Note) -> list[tuple[float, float]]:
    left, right = note.start_s, note.start_s + note.duration_s
    return [(left, note.pitch - 0.4), (right, note.pitch - 0.4), (right, note.pitch + 0.4), (left, note.pitch + 0.4)]
