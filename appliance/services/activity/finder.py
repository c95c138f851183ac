"""stream_find: moments in a stream's history, found in the activity index and placed to the sample.

The index (100 ms blocks) says where to look; where the audio is still kept,
a hit is then placed on the sample from the audio itself (`exact`), so that
its `start` and `end` cut the event and nothing before it. Where retention
has released the audio, a hit keeps its block's bounds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from appliance.pitches import PITCH_CLASSES, note_name
from appliance.services.activity.activity_store import ActivityStore
from appliance.services.activity.block_figures import BLOCKS_PER_SECOND, BlockFigures
from appliance.services.activity.index_window import IndexWindow
from appliance.services.analysis.audio_figures import CLIP_THRESHOLD
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slices import chosen_channels

Query = Literal["loudest", "sound_starts", "silence_starts", "clipping", "change", "note"]
AUDIO_QUERIES = ("loudest", "sound_starts", "silence_starts", "clipping", "change")
CHANGE_WINDOW_BLOCKS = 40  # "change" compares the 4 s before each moment with the 4 s after it
CHANGE_MIN = 1.0  # a doubling (or halving) of onset rate or brightness, in octaves, counts as a change
LOUDEST_APART_BLOCKS = 10  # loudest events at least 1 s apart: one burst is one hit
EDGE_DB = 20.0  # a loud event spans where it stays within this of its own peak
ENVELOPE_S = 0.001  # sound and silence edges are placed on a 1 ms envelope

ReadAudio = Callable[[int, int, int], np.ndarray | None]
"""(first sample, end sample, channel) -> that channel's samples, or None when the audio is no longer kept."""


class SamplePoint(ResultModel):
    """A time point stream_slice and stream_analyze take as it is."""

    sample: int


class Hit(ResultModel):
    start: SamplePoint
    end: SamplePoint
    channel: int | None = Field(description="the audio channel it was found on; null for MIDI")
    score: float = Field(description="how strongly it matched, in `score_unit`; hits of `loudest` are ranked by it")
    score_unit: str
    exact: bool = Field(description="placed on the sample from the audio; false when only the index's 100 ms "
                                    "blocks were left (audio released by retention) or the query is block-wise")
    wall_time: str | None = Field(description="start, ISO 8601 UTC")
    seconds_ago: float | None = Field(description="start, seconds before the request")
    detail: str


class FindResult(ResultModel):
    uri: str
    query: Query
    sample_range: tuple[int, int] = Field(description="the window searched, [start, end) in samples")
    indexed_to_sample: int = Field(description="what was sealed below this sample is searched; newer audio is "
                                               "indexed within seconds")
    total: int = Field(description="hits found before `limit`")
    hits: list[Hit] = Field(description="the loudest first for `loudest`; otherwise the newest `limit`, oldest "
                                        "first")


@dataclass(frozen=True)
class FindRequest:
    query: Query
    limit: int
    channels: list[int] | None
    silence_dbfs: float
    min_silence_s: float
    pitch: int | str | None


def find(window: IndexWindow, index: ActivityStore, request: FindRequest, read: ReadAudio) -> FindResult:
    stream = window.stream
    if request.pitch is not None and request.query != "note":
        raise ServiceError("badRequest", f"pitch: only query 'note' takes a pitch, not {request.query}")
    if stream.kind == "midi":
        if request.query != "note":
            raise ServiceError("badRequest", f"query: {request.query} is for audio; {stream.uri} is MIDI, searched "
                                             "with query 'note' (and pitch)")
        pitches = _pitches(request.pitch)
        hits = _notes(window, index, pitches, request.limit)
        return FindResult(uri=stream.uri, query=request.query, sample_range=(window.first, window.end),
                          indexed_to_sample=stream.indexed_to,
                          total=index.count_notes(stream.uri, window.first, window.end, pitches), hits=hits)
    if request.query == "note":
        raise ServiceError("badRequest", f"query: note is for MIDI; {stream.uri} is audio, searched with "
                                         f"{', '.join(AUDIO_QUERIES)}")
    channels = chosen_channels(request.channels, stream.channels, stream.uri)
    # Only the figures the query reads: a day of 8 channels is 14 MB per figure.
    columns = {"loudest": ("peak",), "clipping": ("clipped",), "change": ("onsets", "centroid")}.get(
        request.query, ("rms",))
    figures = index.blocks(stream.uri, window.first_block, window.end_block, stream.channels, columns)
    hits = _AudioSearch(window, figures, request, read).run(channels)
    total = len(hits)
    if request.query == "loudest":
        hits = sorted(hits, key=lambda h: -h.score)[:request.limit]
    else:
        hits = sorted(hits, key=lambda h: h.start.sample)[-request.limit:]
    return FindResult(uri=stream.uri, query=request.query, sample_range=(window.first, window.end),
                      indexed_to_sample=stream.indexed_to, total=total, hits=hits)


class _AudioSearch:
    def __init__(self, window: IndexWindow, figures: BlockFigures, request: FindRequest, read: ReadAudio) -> None:
        self.window, self.figures, self.request, self.read = window, figures, request, read
        self.size = window.stream.block_samples
        self.origin = window.first_block * self.size  # sample of figures' row 0

    def run(self, channels: list[int]) -> list[Hit]:
        query = self.request.query
        if query == "loudest":
            return self._loudest(channels)
        if query == "change":
            return self._change(channels)
        out: list[Hit] = []
        for channel in channels:
            if query == "sound_starts":
                out += self._sound_starts(channel)
            elif query == "silence_starts":
                out += self._silence_starts(channel)
            else:
                out += self._clipping(channel)
        return out

    # -- placing -----------------------------------------------------------
    def _hit(self, start: int, end: int, channel: int | None, score: float, unit: str, exact: bool,
             detail: str) -> Hit:
        start, end = max(start, self.window.first), min(end, self.window.end)
        return Hit(start=SamplePoint(sample=start), end=SamplePoint(sample=max(end, start + 1)), channel=channel,
                   score=round(score, 2), score_unit=unit, exact=exact, wall_time=self.window.wall_time(start),
                   seconds_ago=self.window.seconds_ago(start), detail=detail)

    def _block_start(self, row: int) -> int:
        return self.origin + row * self.size

    def _envelope(self, first: int, end: int, channel: int) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The samples of [first, end), their 1 ms RMS envelope (value i covers samples i to i + 1 ms) and the
        first sample's number; None when the audio is no longer kept."""
        first = max(first, self.window.first)
        samples = self.read(first, end, channel)
        if samples is None or len(samples) == 0:
            return None
        width = max(1, round(ENVELOPE_S * self.window.stream.sample_rate))
        power = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
        ahead = np.minimum(np.arange(len(samples)) + width, len(samples))
        return samples, np.sqrt((power[ahead] - power[:-1]) / width), first

    def _first_above(self, samples: np.ndarray, at: int, level: float) -> int:
        """The first sample from index `at` on (within 1 ms) at or above `level`: where the envelope's window began
        to hold the sound, the sound itself begins."""
        width = max(1, round(ENVELOPE_S * self.window.stream.sample_rate))
        above = np.nonzero(np.abs(samples[at:at + width]) >= level)[0]
        return at + (int(above[0]) if len(above) else 0)

    # -- queries -----------------------------------------------------------
    def _loudest(self, channels: list[int]) -> list[Hit]:
        peaks = self.figures.peak_dbfs[:, channels]
        with np.errstate(invalid="ignore"):
            loudest = np.where(np.isnan(peaks).all(axis=1), -np.inf, np.nan_to_num(peaks, nan=-np.inf).max(axis=1))
        order = np.argsort(-loudest, kind="stable")
        taken = np.zeros(len(loudest), dtype=bool)
        hits: list[Hit] = []
        for row in order:
            if not np.isfinite(loudest[row]) or len(hits) >= self.request.limit:
                break
            if taken[row]:
                continue
            taken[max(0, row - LOUDEST_APART_BLOCKS):row + LOUDEST_APART_BLOCKS + 1] = True
            channel = channels[int(np.nanargmax(peaks[row]))]
            hits.append(self._loud_event(row, channel, float(loudest[row])))
        return hits

    def _loud_event(self, row: int, channel: int, peak_db: float) -> Hit:
        first = self._block_start(row - LOUDEST_APART_BLOCKS)
        found = self._envelope(first, self._block_start(row + LOUDEST_APART_BLOCKS + 1), channel)
        if found is None:
            return self._hit(self._block_start(row), self._block_start(row + 1), channel, peak_db, "dBFS peak",
                             False, f"peak {peak_db:.1f} dBFS in this 100 ms block")
        samples, envelope, at = found
        top = int(np.argmax(envelope))
        floor = envelope[top] * 10 ** (-EDGE_DB / 20)
        quiet_before = np.nonzero(envelope[:top] < floor)[0]
        quiet_after = np.nonzero(envelope[top:] < floor)[0]
        begins = self._first_above(samples, int(quiet_before[-1]) + 1 if len(quiet_before) else 0, floor)
        end = at + top + (int(quiet_after[0]) if len(quiet_after) else len(envelope) - top)
        return self._hit(at + begins, end, channel, peak_db, "dBFS peak", True,
                         f"peak {peak_db:.1f} dBFS; spans while within {EDGE_DB:g} dB of its peak")

    def _silent(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        rms = self.figures.rms_dbfs[:, channel]
        with np.errstate(invalid="ignore"):
            return rms < self.request.silence_dbfs, rms >= self.request.silence_dbfs

    def _min_blocks(self) -> int:
        return max(1, round(self.request.min_silence_s * BLOCKS_PER_SECOND))

    def _sound_starts(self, channel: int) -> list[Hit]:
        silent, sound = self._silent(channel)
        rows = np.arange(len(silent))
        # How many silent blocks end just before each block (an unindexed block ends a run, as sound does).
        last_not_silent = np.maximum.accumulate(np.where(~silent, rows, -1))
        quiet_before = np.concatenate([[0], rows[:-1] - last_not_silent[:-1]])
        starts = np.nonzero(sound & (quiet_before >= self._min_blocks()))[0]
        stops = np.nonzero(~sound)[0]
        hits = []
        for row in starts:
            after = stops[np.searchsorted(stops, row)] if np.searchsorted(stops, row) < len(stops) else len(sound)
            hits.append(self._edge(int(row), int(after), channel, rising=True,
                                   detail=f"sound after {quiet_before[row] / BLOCKS_PER_SECOND:g} s of silence"))
        return hits

    def _silence_starts(self, channel: int) -> list[Hit]:
        silent, sound = self._silent(channel)
        rows = np.arange(len(silent))
        # How many silent blocks run from each block on.
        next_not_silent = np.minimum.accumulate(np.where(~silent, rows, len(silent))[::-1])[::-1]
        quiet_from = next_not_silent - rows
        before = np.concatenate([[False], sound[:-1]])
        starts = np.nonzero(silent & before & (quiet_from >= self._min_blocks()))[0]
        return [self._edge(int(row), int(row + quiet_from[row]), channel, rising=False,
                           detail=f"silence for {quiet_from[row] / BLOCKS_PER_SECOND:g} s") for row in starts]

    def _edge(self, row: int, end_row: int, channel: int, rising: bool, detail: str) -> Hit:
        """A sound (rising) or silence starting in block `row`, placed on the 1 ms envelope crossing the threshold."""
        level = float(self.figures.rms_dbfs[row, channel])
        end = self._block_start(end_row)
        found = self._envelope(self._block_start(row - 1), self._block_start(row + 1), channel)
        if found is None:
            return self._hit(self._block_start(row), end, channel, level, "dBFS rms", False, detail)
        samples, envelope, at = found
        threshold = 10 ** (self.request.silence_dbfs / 20)
        loud = np.nonzero(envelope >= threshold)[0]
        if rising:
            start = at + self._first_above(samples, int(loud[0]), threshold) if len(loud) else at
        else:
            above = np.nonzero(np.abs(samples) >= threshold)[0]
            start = at + int(above[-1]) + 1 if len(above) else at
        return self._hit(start, end, channel, level, "dBFS rms", True, detail)

    def _clipping(self, channel: int) -> list[Hit]:
        clipped = self.figures.clipped[:, channel] > 0
        edges = np.diff(np.concatenate([[0], clipped.astype(np.int8), [0]]))
        hits = []
        for first, end in zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist()):
            count = int(self.figures.clipped[first:end, channel].sum())
            samples = self.read(self._block_start(first), self._block_start(end), channel)
            at_full = np.nonzero(np.abs(samples) >= CLIP_THRESHOLD)[0] if samples is not None else np.array([])
            exact = len(at_full) > 0
            start = self._block_start(first) + (int(at_full[0]) if exact else 0)
            stop = self._block_start(first) + int(at_full[-1]) + 1 if exact else self._block_start(end)
            hits.append(self._hit(start, stop, channel, count, "samples clipped", exact,
                                  f"{count} samples at full scale"))
        return hits

    def _change(self, channels: list[int]) -> list[Hit]:
        """Where the 4 s after a moment differ most from the 4 s before it, in onset rate or brightness."""
        w = CHANGE_WINDOW_BLOCKS
        onsets = self.figures.onsets[:, channels].sum(axis=1).astype(np.float64)
        with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # an all-silent row
            centroid = np.nanmean(self.figures.centroid_hz[:, channels], axis=1)
        if len(onsets) < 2 * w:
            return []
        rate = _window_sums(onsets, w) / (w / BLOCKS_PER_SECOND)
        bright_sum = _window_sums(np.nan_to_num(centroid), w)
        bright_n = _window_sums((~np.isnan(centroid)).astype(np.float64), w)
        with np.errstate(invalid="ignore", divide="ignore"):
            brightness = bright_sum / bright_n
            rate_shift = np.abs(np.log2((rate[w:] + 0.5) / (rate[:-w] + 0.5)))
            bright_shift = np.nan_to_num(np.abs(np.log2(brightness[w:] / brightness[:-w])), nan=0.0, posinf=0.0)
        novelty = np.maximum(rate_shift, bright_shift)  # index i: the moment at row i + w
        hits = []
        taken = np.zeros(len(novelty), dtype=bool)
        for i in np.argsort(-novelty, kind="stable"):
            if novelty[i] < CHANGE_MIN:
                break
            if taken[i]:
                continue
            taken[max(0, i - w):i + w + 1] = True
            row = int(i) + w
            detail = (f"onsets {rate[i]:.1f}/s -> {rate[i + w]:.1f}/s; brightness "
                      f"{_hz(brightness[i])} -> {_hz(brightness[i + w])}")
            hits.append(self._hit(self._block_start(row), self._block_start(row + 1), None, float(novelty[i]),
                                  "octaves of change", False, detail))
        return hits


def _window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """Sums of each `width` consecutive values (index i: values[i:i + width])."""
    total = np.concatenate([[0.0], np.cumsum(values)])
    return total[width:] - total[:-width]


def _hz(value: float) -> str:
    return "silent" if not np.isfinite(value) else f"{value:.0f} Hz"


# -- MIDI ----------------------------------------------------------------------

def _pitches(pitch: int | str | None) -> set[int] | None:
    """MIDI numbers asked for: a number (60), a note name ('C4', 'F#2') or a pitch class in every octave ('Eb')."""
    if pitch is None:
        return None
    if isinstance(pitch, int):
        if not 0 <= pitch <= 127:
            raise ServiceError("badRequest", f"pitch: {pitch} is not a MIDI note number (0 to 127)")
        return {pitch}
    name = pitch.strip()
    flats = {"Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#", "Bb": "A#"}
    letters = name[:2] if len(name) > 1 and name[1] in "#b" else name[:1]
    octave = name[len(letters):]
    pitch_class = flats.get(letters, letters.upper() if len(letters) == 1 else letters[0].upper() + letters[1])
    if pitch_class not in PITCH_CLASSES or (octave and not octave.lstrip("-").isdigit()):
        raise ServiceError("badRequest", f"pitch: {pitch!r} is not a pitch; give a MIDI number (60), a note name "
                                         "('C4', 'F#2', 'Eb3'; middle C is C4) or a pitch class ('C#', 'Eb')")
    index = PITCH_CLASSES.index(pitch_class)
    if octave:
        number = (int(octave) + 1) * 12 + index
        if not 0 <= number <= 127:
            raise ServiceError("badRequest", f"pitch: {pitch} is outside MIDI's range (C-1 to G9)")
        return {number}
    return set(range(index, 128, 12))


def _notes(window: IndexWindow, index: ActivityStore, pitches: set[int] | None, limit: int) -> list[Hit]:
    """The newest `limit` notes of the asked pitches, oldest first."""
    hits = []
    for note in index.notes(window.stream.uri, window.first, window.end, pitches, newest=limit):
        end = note.end_sample if note.end_sample is not None else window.end
        hits.append(Hit(start=SamplePoint(sample=note.sample), end=SamplePoint(sample=min(end, window.end)),
                        channel=None, score=note.velocity, score_unit="velocity", exact=True,
                        wall_time=window.wall_time(note.sample), seconds_ago=window.seconds_ago(note.sample),
                        detail=f"{note_name(note.pitch)} (pitch {note.pitch}) on MIDI channel {note.channel}"
                               + ("" if note.end_sample is not None else ", no note off indexed yet")))
    return hits
