"""The spectrogram: level over time and frequency, on a log-frequency axis from 20 Hz to Nyquist, in dBFS.

A full-scale sine reads 0 dBFS at its frequency (magnitude scaling, one-sided
spectrum doubled), so the colour bar means what the waveform's level axis means.
The colour scale is fixed at -100..0 dBFS rather than fitted to the signal, so
two pictures compare and silence looks silent.

The FFT count is bounded by the picture, not the window: at most four FFTs per
pixel column, hopping further apart as the window grows (an hour takes as many
as ten seconds), computed a batch at a time; each column keeps the loudest of
its frames, so a short event is not averaged away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

from appliance.services.pictures.canvas import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    LABEL_PT,
    TICK_PT,
    TICK_PX,
    TITLE_PT,
    check_size,
    new_figure,
    plot_height,
    render,
    time_axis,
)

LOWEST_HZ = 20.0
FLOOR_DBFS, CEILING_DBFS = -100.0, 0.0
WINDOW_S = 0.085  # 4096 samples at 48 kHz: 12 Hz bins, fine enough for the low octaves a log axis spreads out
FRAMES_PER_COLUMN = 4
BATCH_FRAMES = 256  # FFT frames at once: what is held is a small share of the window, whatever its length
FREQUENCY_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
SPARSE_TICKS_HZ = (20, 100, 1000, 10000)


@dataclass(frozen=True)
class Spectrum:
    """Levels in dBFS, shape (rows, columns): rows log-spaced in frequency from the lowest, columns in time."""

    dbfs: np.ndarray
    seconds_per_column: float
    edges_hz: np.ndarray  # rows + 1 log-spaced edges, LOWEST_HZ to Nyquist


def spectrum(samples_mono: np.ndarray, sample_rate: int, columns: int, rows: int) -> Spectrum:
    """The loudest level per (log-frequency row, time column) of `samples_mono`, at most `columns` x `rows`."""
    if samples_mono.ndim != 1 or not len(samples_mono):
        raise ValueError(f"a spectrogram takes mono samples shaped (frames,) with at least one frame, "
                         f"not {samples_mono.shape}")
    window = 1 << round(math.log2(sample_rate * WINDOW_S))
    frames = len(samples_mono)
    hop = max(1, math.ceil(frames / (columns * FRAMES_PER_COLUMN)))
    stft = ShortTimeFFT(hann(window, sym=False), hop, sample_rate, fft_mode="onesided2X", scale_to="magnitude")
    slices = math.ceil(frames / hop)  # slice p is centred on sample p * hop: these cover the window
    per_column = math.ceil(slices / columns)
    batch = per_column * max(1, BATCH_FRAMES // per_column)  # whole columns per batch
    # The STFT wants at least half a window of input; silence after a shorter window is what it pads with anyway.
    padded = samples_mono if frames >= window else np.pad(samples_mono, (0, window - frames))
    loudest = [_column_max(stft.spectrogram(padded, p0=p0, p1=min(slices, p0 + batch)), per_column)
               for p0 in range(0, slices, batch)]
    power = np.concatenate(loudest, axis=1)
    edges = np.geomspace(LOWEST_HZ, sample_rate / 2, rows + 1)
    levels = 10 * np.log10(np.maximum(_rows(power, stft.f, edges), 10 ** (FLOOR_DBFS / 10)))
    return Spectrum(levels, per_column * hop / sample_rate, edges)


def _column_max(power: np.ndarray, per_column: int) -> np.ndarray:
    """The loudest of each `per_column` consecutive frames (the last group may be short)."""
    return np.maximum.reduceat(power, np.arange(0, power.shape[1], per_column), axis=1)


def _rows(power: np.ndarray, bins_hz: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Linear FFT bins into log-spaced rows: the loudest bin inside a row, or the nearest where a row is narrower."""
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = power[(bins_hz >= low) & (bins_hz < high)]
        rows.append(inside.max(axis=0) if len(inside) else power[np.abs(bins_hz - math.sqrt(low * high)).argmin()])
    return np.array(rows)


def spectrogram_png(samples_mono: np.ndarray, sample_rate: int, *, title: str, start_s: float = 0.0,
                    width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> bytes:
    """A `width` x `height` PNG of the spectrogram of `samples_mono`, (n,) floats where 1.0 is full scale."""
    check_size(width, height)
    levels = spectrum(samples_mono, sample_rate, columns=width, rows=height)
    duration_s = len(samples_mono) / sample_rate
    return render(lambda: _figure(levels, duration_s, title=title, start_s=start_s, width=width, height=height))


def _figure(levels: Spectrum, duration_s: float, *, title: str, start_s: float, width: int, height: int) -> Figure:
    figure = new_figure(width, height)
    axes = figure.add_subplot()
    lowest, nyquist = math.log10(levels.edges_hz[0]), math.log10(levels.edges_hz[-1])
    # Rows are evenly spaced in log10(Hz), so the image is drawn on that axis and its ticks are named in Hz.
    image = axes.imshow(levels.dbfs, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                        vmin=FLOOR_DBFS, vmax=CEILING_DBFS,
                        extent=(start_s, start_s + levels.dbfs.shape[1] * levels.seconds_per_column, lowest, nyquist))
    decade_px = plot_height(height) / (nyquist - lowest)
    ticks = FREQUENCY_TICKS_HZ if math.log10(2) * decade_px >= 1.3 * TICK_PX else SPARSE_TICKS_HZ
    shown = [hz for hz in ticks if hz <= levels.edges_hz[-1]]
    axes.set_yticks([math.log10(hz) for hz in shown], [f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in shown])
    axes.set_ylim(lowest, nyquist)
    axes.set_ylabel("frequency (Hz, log scale)", fontsize=LABEL_PT)
    time_axis(axes, start_s, duration_s, width)
    bar = figure.colorbar(image, ax=axes, pad=0.01)
    bar.set_label("level (dBFS)", fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=TICK_PT)
    figure.suptitle(title, fontsize=TITLE_PT)
    return figure
