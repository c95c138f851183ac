"""What every picture shares: an exact-size figure with type legible at 800 px, time and bars:beats axes, the PNG.

Why matplotlib: a vision model reads a picture as a person reads a plot, by
its axes, ticks, units and labels, and real axes and text layout are what
hand-drawn numpy pixels cannot give. matplotlib is well kept, has typed
stubs, and ships arm64 wheels for the Pi. Only its object API is used, a
`Figure` on an Agg canvas and never pyplot: no display, no global figure state.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

DPI = 100  # so a size in pixels is a size in inches times 100, and 1 pt is 1.39 px
DEFAULT_WIDTH, DEFAULT_HEIGHT = 800, 400  # legible to an agent reading it at 800 px wide
MIN_WIDTH, MIN_HEIGHT = 320, 200  # below this, title, ticks and labels leave the data no room
TITLE_PT, LABEL_PT, TICK_PT = 10, 9, 8
TICK_PX = TICK_PT * DPI / 72  # the height of a tick label: labels closer than this overlap
# About what the title, the axes' labels and a colour bar take, so tick density can be chosen before layout.
SIDES_PX, TITLE_AND_TIME_PX, BEAT_AXIS_PX = 180, 75, 40
TIME_LABEL_PX = 80  # a time tick label such as "1234.5" and the space around it

_drawing = threading.Lock()


@dataclass(frozen=True)
class BeatGrid:
    """The music's time over a window: its tempo, and where the window's first sample falls in beats.

    Beats count from 0 at bar 1, beat 1, so `beat_at_start=6.5` with four beats
    a bar is halfway through bar 2, beat 3.
    """

    tempo_bpm: float
    beat_at_start: float
    beats_per_bar: int = 4

    def __post_init__(self) -> None:
        if not self.tempo_bpm > 0 or self.beats_per_bar < 1:
            raise ValueError(f"a beat grid needs a tempo above 0 BPM and at least one beat a bar, "
                             f"not {self.tempo_bpm} BPM and {self.beats_per_bar}")

    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo_bpm

    def label(self, beat: int) -> str:
        """'bar:beat', both counted from 1 as a musician counts them."""
        bar, within = divmod(beat, self.beats_per_bar)
        return f"{bar + 1}:{within + 1}"


def check_size(width: int, height: int) -> None:
    """Refuse a picture too small to read, before any work is done for it."""
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"a picture is at least {MIN_WIDTH}x{MIN_HEIGHT} pixels so its axes stay legible; "
                         f"{width}x{height} was asked")


def new_figure(width: int, height: int) -> Figure:
    """An empty figure of exactly `width` x `height` pixels, laid out so no label is cut off."""
    # A millionth of a pixel more: matplotlib before 3.11 truncates inches x dpi, and 402 / 100 * 100 is
    # 401.99999999999994, which would have made a picture a pixel short.
    figure = Figure(figsize=((width + 1e-6) / DPI, (height + 1e-6) / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def render(draw: Callable[[], Figure]) -> bytes:
    """The PNG of the figure `draw` builds, one figure at a time.

    Tools draw in worker threads, and matplotlib's font and text-layout caches
    are shared and not thread-safe.
    """
    with _drawing:
        figure = draw()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def plot_width(width: int) -> float:
    """About how wide the plot itself is in a figure `width` pixels wide."""
    return max(1.0, width - SIDES_PX)


def plot_height(height: int, beats: BeatGrid | None = None) -> float:
    """About how tall the plot itself is in a figure `height` pixels tall, bars:beats along its top or not."""
    return max(1.0, height - TITLE_AND_TIME_PX - (BEAT_AXIS_PX if beats else 0))


def label_step(count: int, pixels: float, needed_px: float) -> int:
    """Label every n-th of `count` evenly spread things across `pixels` so labels stay `needed_px` apart."""
    each = pixels / max(1, count)
    return max(1, math.ceil(needed_px / each)) if each > 0 else max(1, count)


def time_axis(axes: Axes, start_s: float, duration_s: float, width: int) -> None:
    """Seconds along the bottom, as plain numbers (never an offset or 1e3 that a reader could miss)."""
    axes.set_xlim(start_s, start_s + duration_s)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=max(2, int(plot_width(width) / TIME_LABEL_PX)),
                                             steps=[1, 2, 2.5, 5, 10]))
    plain = ScalarFormatter(useOffset=False)
    plain.set_scientific(False)
    axes.xaxis.set_major_formatter(plain)
    axes.set_xlabel("time (s)", fontsize=LABEL_PT)
    axes.tick_params(labelsize=TICK_PT)


def beat_axis(axes: Axes, beats: BeatGrid, start_s: float, duration_s: float, width: int) -> None:
    """bars:beats along the top, with bar lines (and beat lines where they fit) through the plot.

    Every beat is labelled when labels fit, else every bar, else every 2nd,
    4th, 8th ... bar: the labels never crowd, however long the window.
    """
    seconds = beats.seconds_per_beat()
    beat_px = plot_width(width) * seconds / duration_s
    bar = beats.beats_per_bar
    needed = 3 * TIME_LABEL_PX / 4  # "12:3" is shorter than a time label
    step = 1 if beat_px >= needed else bar * 2 ** max(0, math.ceil(math.log2(needed / (beat_px * bar))))
    first = math.ceil(beats.beat_at_start)
    last = math.floor(beats.beat_at_start + duration_s / seconds)
    numbers = np.arange(first, last + 1)

    def at(beat: np.ndarray) -> np.ndarray:
        return start_s + (beat - beats.beat_at_start) * seconds

    labelled = numbers[numbers % step == 0]
    top = axes.secondary_xaxis("top")
    top.set_xticks(at(labelled).tolist(), [beats.label(int(b)) for b in labelled])
    top.tick_params(labelsize=TICK_PT)
    top.set_xlabel(f"bar:beat ({bar}/4 at {beats.tempo_bpm:g} BPM)", fontsize=LABEL_PT)
    lines = numbers if beat_px >= 6 else numbers[numbers % bar == 0] if beat_px * bar >= 6 else labelled
    on_bar = lines % bar == 0
    axes.vlines(at(lines[on_bar]), 0, 1, transform=axes.get_xaxis_transform(), colors="0.45", linewidths=0.8,
                zorder=0.5)
    axes.vlines(at(lines[~on_bar]), 0, 1, transform=axes.get_xaxis_transform(), colors="0.75", linewidths=0.5,
                linestyles="dotted", zorder=0.5)
