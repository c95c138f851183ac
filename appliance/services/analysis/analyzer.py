"""stream_analyze: what is in a window of a stream, or in an artifact, as figures an agent can reason with.

The window is named as for `stream_slice` and read through the slicer's own
reader, so analysis and slice agree to the sample. Reading and the DSP run in
a worker thread while the stream's snapshot keeps its live chunk readable.
Pictures are drawn from the same samples, on request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import soundfile as sf
from pydantic import Field

from appliance.cas import ContentStore
from appliance.config import AnalysisConfig
from appliance.proto.stream_definition import StreamKind
from appliance.services.analysis.audio_figures import AudioFigures
from appliance.services.analysis.midi_notes import MidiFigures, midi_figures
from appliance.services.analysis.window_samples import read_audio
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.midi_export import SMF_RATE, read_smf, recorded_messages
from appliance.services.slicing.audio_encoding import MIME_FLAC
from appliance.services.slicing.slicer import (
    MIME_MIDI,
    MIME_VIRTUAL,
    MIME_WAV,
    SliceError,
    SlicePlan,
    plan_slice,
    read_records,
)
from appliance.services.slicing.slices import Slicer, chosen_channels, virtual_plan
from appliance.services.store.artifacts import ArtifactStore

PictureKind = Literal["waveform", "spectrogram", "piano_roll"]


class StreamAnalysis(ResultModel):
    source: str = Field(description="the stream uri, or the artifact id analysed")
    kind: Literal["audio", "midi"]
    sample_range: tuple[int, int] | None = Field(description="[start, end) in samples of the stream; null for a "
                                                            "WAV or MIDI file artifact")
    sample_rate_hz: int
    duration_s: float
    channels: list[int] = Field(description="the channel indexes analysed (audio)")
    audio: AudioFigures | None = Field(description="per channel and window-wide audio figures; null for MIDI")
    midi: MidiFigures | None = Field(description="notes and their figures; null for audio")


@dataclass(frozen=True)
class Analysed:
    """A figure set, with the samples it came from (kept for pictures, then dropped)."""

    result: StreamAnalysis
    samples: np.ndarray | None
    labels: list[str]


class Analyzer:
    def __init__(self, slicer: Slicer, artifacts: ArtifactStore, store: ContentStore, config: AnalysisConfig) -> None:
        self.slicer, self.artifacts, self.store, self.config = slicer, artifacts, store, config

    async def stream(self, uri: str, start: Any, end: Any, channels: list[int] | None,
                     picture: PictureKind | None = None, size: tuple[int, int] = (800, 400)
                     ) -> tuple[StreamAnalysis, list[bytes]]:
        """Figures for samples [start, end) of `uri` (time points as stream_slice takes them)."""
        async with self.slicer.window(uri, start, end) as (manifest, (first, last)):
            try:
                plan = plan_slice(manifest, first, last)
            except SliceError as exc:
                raise ServiceError("badRequest", str(exc)) from None
            return await asyncio.to_thread(self._plan, plan, uri, channels, picture, size)

    async def artifact(self, artifact_id: str, channels: list[int] | None, picture: PictureKind | None = None,
                       size: tuple[int, int] = (800, 400)) -> tuple[StreamAnalysis, list[bytes]]:
        """Figures for a WAV, MIDI or virtual-slice artifact."""
        record, path = self.artifacts.content_path(artifact_id)
        if record.mime == MIME_VIRTUAL:
            plan = virtual_plan(record, self.store)
            return await asyncio.to_thread(self._plan, plan, artifact_id, channels, picture, size)
        if record.mime in (MIME_WAV, MIME_FLAC):
            return await asyncio.to_thread(self._wav, path, artifact_id, channels, picture, size)
        if record.mime == MIME_MIDI:
            return await asyncio.to_thread(self._smf, path, artifact_id, picture, size)
        raise ServiceError("badRequest", f"artifact_id: {artifact_id} is {record.mime}; stream_analyze reads "
                                         f"{MIME_WAV}, {MIME_FLAC}, {MIME_MIDI} and virtual slices ({MIME_VIRTUAL})")

    # -- in a worker thread ------------------------------------------------
    def _plan(self, plan: SlicePlan, source: str, channels: list[int] | None, picture: PictureKind | None,
              size: tuple[int, int]) -> tuple[StreamAnalysis, list[bytes]]:
        try:
            return self._read_plan(plan, source, channels, picture, size)
        except SliceError as exc:  # a chunk missing or short: the recording, not the request, is at fault
            raise ServiceError("unavailable", str(exc)) from None

    def _read_plan(self, plan: SlicePlan, source: str, channels: list[int] | None, picture: PictureKind | None,
                   size: tuple[int, int]) -> tuple[StreamAnalysis, list[bytes]]:
        definition = plan.definition
        self._check_length(plan.end - plan.start, definition.sample_rate, source)
        window = (plan.start, plan.end)
        if definition.kind is StreamKind.MIDI:
            if channels:
                raise ServiceError("badRequest", f"channels: {source} is a MIDI stream; channels are for audio "
                                                 "(MIDI channels are reported per note)")
            figures = midi_figures(recorded_messages(read_records(plan, store=self.store)), plan.start, plan.end,
                                   definition.sample_rate, self.config.max_notes)
            return self._midi(source, window, definition.sample_rate, plan.end - plan.start, figures, picture, size)
        # stream_analyze takes an empty list as every channel, as it always has; stream_slice refuses it.
        chosen = chosen_channels(channels or None, definition.channels, source)
        samples = read_audio(plan, self.store, chosen)
        return self._audio(source, window, definition.sample_rate, samples, chosen, picture, size)

    def _wav(self, path: Path, source: str, channels: list[int] | None, picture: PictureKind | None,
             size: tuple[int, int]) -> tuple[StreamAnalysis, list[bytes]]:
        info = sf.info(str(path))
        self._check_length(info.frames, info.samplerate, source)
        chosen = chosen_channels(channels or None, info.channels, source)
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        return self._audio(source, None, rate, np.ascontiguousarray(samples[:, chosen]), chosen, picture, size)

    def _smf(self, path: Path, source: str, picture: PictureKind | None,
             size: tuple[int, int]) -> tuple[StreamAnalysis, list[bytes]]:
        messages, length = read_smf(path)
        self._check_length(length, SMF_RATE, source)
        figures = midi_figures(messages, 0, length, SMF_RATE, self.config.max_notes)
        return self._midi(source, None, SMF_RATE, length, figures, picture, size)

    def _check_length(self, samples: int, rate: int, source: str) -> None:
        seconds = samples / rate
        if seconds > self.config.max_seconds:
            raise ServiceError("badRequest", f"end: {source}'s window is {seconds:.1f} s; stream_analyze reads at "
                                             f"most {self.config.max_seconds:g} s at once (analysis.max_seconds): "
                                             "analyse a shorter window, or use stream_activity for hours")
        if samples <= 0:
            raise ServiceError("badRequest", f"start, end: {source}'s window is empty; give an end after the start")

    def _audio(self, source: str, window: tuple[int, int] | None, rate: int, samples: np.ndarray,
               chosen: list[int], picture: PictureKind | None, size: tuple[int, int]
               ) -> tuple[StreamAnalysis, list[bytes]]:
        if picture == "piano_roll":
            raise ServiceError("badRequest", "picture: piano_roll is for MIDI; an audio window draws a 'waveform' "
                                             "or a 'spectrogram'")
        # Imported here: librosa and numba under it take a second to import, and hootenanny's start is on the
        # boot path; the first analysis pays it instead.
        from appliance.services.analysis.audio_analysis import analyze_audio

        figures = analyze_audio(samples, rate, chosen)
        result = StreamAnalysis(source=source, kind="audio", sample_range=window, sample_rate_hz=rate,
                                duration_s=len(samples) / rate, channels=chosen, audio=figures, midi=None)
        images = [_audio_picture(picture, samples, rate, chosen, result, size)] if picture else []
        return result, images

    def _midi(self, source: str, window: tuple[int, int] | None, rate: int, samples: int, figures: MidiFigures,
              picture: PictureKind | None, size: tuple[int, int]) -> tuple[StreamAnalysis, list[bytes]]:
        if picture not in (None, "piano_roll"):
            raise ServiceError("badRequest", f"picture: {picture} is for audio; a MIDI window draws a 'piano_roll'")
        result = StreamAnalysis(source=source, kind="midi", sample_range=window, sample_rate_hz=rate,
                                duration_s=samples / rate, channels=[], audio=None, midi=figures)
        images = [_piano_roll(figures, result, size)] if picture else []
        return result, images


def _title(result: StreamAnalysis) -> str:
    where = f"samples {result.sample_range[0]}–{result.sample_range[1]}" if result.sample_range else "file"
    return f"{result.source}  {where}  ({result.duration_s:.3f} s)"


def _audio_picture(kind: PictureKind, samples: np.ndarray, rate: int, chosen: list[int], result: StreamAnalysis,
                   size: tuple[int, int]) -> bytes:
    from appliance.services.pictures.spectrogram import spectrogram_png
    from appliance.services.pictures.waveform import waveform_png

    width, height = size
    if kind == "spectrogram":
        return spectrogram_png(samples.mean(axis=1), rate, width=width, height=height,
                                           title=_title(result) + f"  ch {', '.join(map(str, chosen))}")
    return waveform_png(samples, rate, channel_labels=[f"ch {c}" for c in chosen], width=width,
                                 height=height, title=_title(result))


def _piano_roll(figures: MidiFigures, result: StreamAnalysis, size: tuple[int, int]) -> bytes:
    from appliance.services.pictures.piano_roll import Note, piano_roll_png

    notes = [Note(pitch=n.pitch, start_s=n.start_s, duration_s=n.duration_s, velocity=n.velocity,
                             channel=n.channel) for n in figures.notes]
    return piano_roll_png(notes, duration_s=result.duration_s, width=size[0], height=size[1],
                                     title=_title(result))
