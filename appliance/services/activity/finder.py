"""stream_find: moments in a stream's history, found in the activity index and placed to the sample.

The index (100 ms blocks) says where to look; where the audio is still kept,
a hit is then placed on the sample from the audio itself (`exact`), so that
its `start` and `end` cut the event and nothing before it. Where retention
has released the audio, a hit keeps its block's bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from appliance.pitches import PITCH_CLASSES, note_name
from appliance.services.activity.activity_store import ActivityStore
from appliance.services.activity.block_figures import BLOCKS_PER_SECOND, MISSING_CDB, BlockFigures
from appliance.services.activity.index_window import IndexWindow
from appliance.services.analysis.audio_figures import CLIP_THRESHOLD
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.slices import chosen_channels

Query = Literal["loudest", "sound_starts", "silence_starts", "clipping", "change", "note"]
AUDIO_QUERIES = ("loudest", "sound_starts", "silence_starts", "clipping", "change")
CHANGE_CELL_BLOCKS = 10  # "change" looks at whole seconds
CHANGE_WINDOW_CELLS = 4  # and compares the 4 s before each moment with the 4 s after it
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
    total: int = Field(description="hits found before `limit` (for `loudest`, which ranks every sound, the "
                                   "events returned)")
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
    search = _AudioSearch(window, figures, request, read)
    hits = search.run(channels)
    total = search.total
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
        self.total = 0  # hits found, before `limit`: counted by the queries that make only the newest into hits

    def run(self, channels: list[int]) -> list[Hit]:
        query = self.request.query
        if query == "sound_starts":
            return self._sound_starts(channels)
        if query == "silence_starts":
            return self._silence_starts(channels)
        if query == "loudest":
            hits = self._loudest(channels)
        elif query == "change":
            hits = self._change(channels)
        else:
            hits = [hit for channel in channels for hit in self._clipping(channel)]
        self.total = len(hits)
        return hits

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
        """The loudest blocks at least 1 s apart, found via 1 s cells so a day sorts 86,400 values, not 864,000."""
        per_cell = LOUDEST_APART_BLOCKS
        loudest = self.figures.peak_cdb[:, channels].max(axis=1)
        cells = -(-len(loudest) // per_cell)
        padded = np.full(cells * per_cell, MISSING_CDB, dtype=np.int16)
        padded[:len(loudest)] = loudest
        by_cell = padded.reshape(cells, per_cell)
        cell_max = by_cell.max(axis=1)
        taken = np.zeros(cells, dtype=bool)
        quiet = round(self.request.silence_dbfs * 100)
        hits: list[Hit] = []
        # Loudest first; among equals the newest, the one an agent most likely means.
        for cell in (cells - 1 - np.argsort(-cell_max[::-1].astype(np.int32), kind="stable")).tolist():
            if cell_max[cell] < quiet or len(hits) >= self.request.limit:
                break  # silence is nobody's loudest moment
            if taken[cell]:
                continue
            taken[max(0, cell - 1):cell + 2] = True  # hits in cells two apart are at least 1 s apart
            row = cell * per_cell + int(np.argmax(by_cell[cell]))
            channel = channels[int(np.argmax(self.figures.peak_cdb[row, channels]))]
            hits.append(self._loud_event(row, channel, float(cell_max[cell]) / 100))
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

    def _states(self, channels: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(silent, sound), shaped (channels, blocks) so each channel's row is contiguous; a block not indexed is
        neither."""
        rms = self.figures.rms_cdb[:, channels]
        sound = rms >= round(self.request.silence_dbfs * 100)
        silent = ~sound & (rms != MISSING_CDB)
        return np.ascontiguousarray(silent.T), np.ascontiguousarray(sound.T)

    def _min_blocks(self) -> int:
        return max(1, round(self.request.min_silence_s * BLOCKS_PER_SECOND))

    def _sound_starts(self, channels: list[int]) -> list[Hit]:
        silent, sound = self._states(channels)
        m, count = self._min_blocks(), silent.shape[1]
        if count <= m:
            return []
        quiet = all_of(silent, m)
        # Block b starts a sound when it has sound and the m blocks before it are all silence.
        found = np.zeros_like(sound)
        found[:, m:] = sound[:, m:] & quiet[:, :count - m]
        rows, blocks = np.nonzero(found)
        hits = []
        for i in self._newest(blocks, len(blocks)):
            k, row = int(rows[i]), int(blocks[i])
            spoken = np.nonzero(~silent[k, :row])[0]
            quiet_s = (row - (int(spoken[-1]) + 1 if len(spoken) else 0)) / BLOCKS_PER_SECOND
            stops = np.nonzero(~sound[k, row:])[0]
            end_row = row + int(stops[0]) if len(stops) else count
            hits.append(self._edge(row, end_row, channels[k], rising=True,
                                   detail=f"sound after {quiet_s:g} s of silence"))
        return hits

    def _silence_starts(self, channels: list[int]) -> list[Hit]:
        silent, sound = self._states(channels)
        m, count = self._min_blocks(), silent.shape[1]
        if count <= m:
            return []
        quiet = all_of(silent, m)
        # Block b starts a silence when the block before it has sound and b and the m - 1 after it are silent.
        found = np.zeros_like(silent)
        found[:, 1:count - m + 1] = sound[:, :count - m] & quiet[:, 1:]
        rows, blocks = np.nonzero(found)
        hits = []
        for i in self._newest(blocks, len(blocks)):
            k, row = int(rows[i]), int(blocks[i])
            stops = np.nonzero(~silent[k, row:])[0]
            end_row = row + int(stops[0]) if len(stops) else count
            hits.append(self._edge(row, end_row, channels[k], rising=False,
                                   detail=f"silence for {(end_row - row) / BLOCKS_PER_SECOND:g} s"))
        return hits

    def _newest(self, blocks: np.ndarray, found: int) -> list[int]:
        """Indexes of the newest `limit` of `blocks`; all `found` are counted in `total`.

        Only these are placed on the audio and made into hits: a day can hold thousands.
        """
        self.total += found
        return np.argsort(blocks, kind="stable")[-self.request.limit:].tolist()

    def _edge(self, row: int, end_row: int, channel: int, rising: bool, detail: str) -> Hit:
        """A sound (rising) or silence starting in block `row`, placed on the 1 ms envelope crossing the threshold."""
        level = float(self.figures.rms_cdb[row, channel]) / 100
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
        """Where the 4 s after a moment differ most from the 4 s before it, in onset rate or brightness.

        Moments are whole seconds: the figures are first summed over 1 s cells, which makes a day's search ten
        times cheaper, and a change in a texture has no sharper edge than that anyway.
        """
        cell, w = CHANGE_CELL_BLOCKS, CHANGE_WINDOW_CELLS
        cells = len(self.figures.onsets) // cell
        if cells < 2 * w:
            return []
        whole = slice(0, cells * cell)
        onsets = self.figures.onsets[whole, channels].reshape(cells, -1).sum(axis=1, dtype=np.float64)
        centroids = self.figures.centroid_hz[whole, channels].reshape(cells, -1)  # 0: silent or not indexed
        rate = _window_sums(onsets, w) / w
        bright_sum = _window_sums(centroids.sum(axis=1, dtype=np.float64), w)
        bright_n = _window_sums(np.count_nonzero(centroids, axis=1).astype(np.float64), w)
        with np.errstate(invalid="ignore", divide="ignore"):
            brightness = bright_sum / bright_n
            rate_shift = np.abs(np.log2((rate[w:] + 0.5) / (rate[:-w] + 0.5)))
            bright_shift = np.nan_to_num(np.abs(np.log2(brightness[w:] / brightness[:-w])), nan=0.0, posinf=0.0)
        novelty = np.maximum(rate_shift, bright_shift)  # index i: the moment at cell i + w
        hits = []
        taken = np.zeros(len(novelty), dtype=bool)
        candidates = np.nonzero(novelty >= CHANGE_MIN)[0]
        for i in candidates[np.argsort(-novelty[candidates], kind="stable")].tolist():
            if taken[i]:
                continue
            taken[max(0, i - w):i + w + 1] = True
            row = (i + w) * cell
            detail = (f"onsets {rate[i]:.1f}/s -> {rate[i + w]:.1f}/s; brightness "
                      f"{_hz(brightness[i])} -> {_hz(brightness[i + w])}")
            hits.append(self._hit(self._block_start(row), self._block_start(row + cell), None, float(novelty[i]),
                                  "octaves of change", False, detail))
        return hits


def all_of(flags: np.ndarray, width: int) -> np.ndarray:
    """out[:, j] = flags[:, j:j + width].all(), shaped (rows, blocks - width + 1).

    Built from windows of 1, 2, 4, ... blocks ANDed together (log2(width)
    passes over booleans): a noisy day has millions of short runs of silence,
    and neither listing them nor cumulating counts is as cheap.
    """
    result: np.ndarray | None = None
    covered = 0
    power, size = flags, 1  # power[:, j]: all of flags[:, j:j + size]
    while width:
        if width & 1:
            if result is None:
                result, covered = power, size
            else:
                reach = power.shape[1] - covered
                result = result[:, :reach] & power[:, covered:covered + reach]
                covered += size
        width >>= 1
        if width:
            power = power[:, :-size] & power[:, size:]
            size *= 2
    assert result is not None  # width was at least 1
    return result


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
