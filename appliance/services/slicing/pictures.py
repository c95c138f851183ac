"""Small PNG pictures of a slice, so an agent can see what it cut.

Audio becomes a min/max envelope per pixel column, one lane per channel; the
WAV is read in blocks and decimated while reading, so an hour-long slice costs
no more memory than a second. MIDI becomes a piano roll of its notes.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import mido
import numpy as np
import soundfile
from PIL import Image

WIDTH = 600
HEIGHT = 120
BLOCK_FRAMES = 1 << 18  # frames read per block: bounds memory whatever the slice length
BACKGROUND = (18, 20, 24)
LANE_COLOURS = ((94, 196, 255), (255, 170, 90), (140, 230, 140), (230, 120, 200))
CENTRE = (60, 64, 72)


def audio_png(path: Path, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A `width` x `height` PNG of the WAV at `path`: per column, the min..max of each channel."""
    low, high = envelope(path, width)
    return _png(_draw_lanes(low, high, height))


def envelope(path: Path, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column and channel, the smallest and largest sample (floats in -1..1), shape (width, channels)."""
    with soundfile.SoundFile(str(path)) as wav:
        frames, channels = wav.frames, wav.channels
        per_column = max(1, math.ceil(frames / width))
        low = np.zeros((width, channels), dtype=np.float32)
        high = np.zeros((width, channels), dtype=np.float32)
        block = max(1, BLOCK_FRAMES // per_column) * per_column  # whole columns per block
        column = 0
        while column < width and (data := wav.read(block, dtype="float32", always_2d=True)).size:
            short = -len(data) % per_column  # the last column may be short: repeat its last sample
            if short:
                data = np.concatenate([data, np.repeat(data[-1:], short, axis=0)])
            columns = len(data) // per_column
            shaped = data.reshape(columns, per_column, channels)
            end = min(width, column + columns)
            low[column:end] = shaped.min(axis=1)[: end - column]
            high[column:end] = shaped.max(axis=1)[: end - column]
            column = end
    return low, high


def _draw_lanes(low: np.ndarray, high: np.ndarray, height: int) -> np.ndarray:
    width, channels = low.shape
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    lane = max(1, height // max(1, channels))
    rows = np.arange(lane)[:, None]
    for ch in range(min(channels, height)):
        top = np.round((1 - np.clip(high[:, ch], -1, 1)) / 2 * (lane - 1)).astype(int)
        bottom = np.round((1 - np.clip(low[:, ch], -1, 1)) / 2 * (lane - 1)).astype(int)
        view = pixels[ch * lane:(ch + 1) * lane]
        view[lane // 2] = CENTRE
        view[(rows >= top) & (rows <= bottom)] = LANE_COLOURS[ch % len(LANE_COLOURS)]
    return pixels


def midi_png(path: Path, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A `width` x `height` piano roll of the Standard MIDI File at `path`: one bar per note, pitch upwards."""
    notes, length = _notes(mido.MidiFile(str(path)))
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    if notes:
        lowest, highest = min(n[0] for n in notes), max(n[0] for n in notes)
        row_height = max(1, height // (highest - lowest + 1))
        scale = width / max(length, 1e-9)
        for pitch, start, end in notes:
            y = height - (pitch - lowest + 1) * row_height
            x0, x1 = int(start * scale), max(int(start * scale) + 1, int(end * scale))
            pixels[max(0, y):y + row_height, x0:min(width, x1)] = LANE_COLOURS[0]
    return _png(pixels)


def _notes(smf: mido.MidiFile) -> tuple[list[tuple[int, float, float]], float]:
    """(pitch, start s, end s) per note, and the file's length in seconds; a note never ended ends with the file."""
    now = 0.0
    sounding: dict[tuple[int, int], float] = {}
    notes: list[tuple[int, float, float]] = []
    for message in smf:  # iterating a MidiFile yields messages with delta times in seconds
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            sounding.setdefault((message.channel, message.note), now)
        elif message.type in ("note_on", "note_off") and (message.channel, message.note) in sounding:
            notes.append((message.note, sounding.pop((message.channel, message.note)), now))
    notes += [(note, start, now) for (_channel, note), start in sounding.items()]
    return notes, now


def _png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()
