"""Slicing a stream into an artifact: a window named by time points, resolved, cut and kept with its lineage.

The domain side of `stream_slice`, `session_export` and capture jobs: plain
values in, the artifact's description (a `SliceResult`) out. "now" is the
moment the call arrives; the cut waits (bounded) for the recording to pass it.
A cut is a WAV or Standard MIDI File, a virtual chunk manifest, or (MIDI) the
window's notes as JSON; a WAV can be heard as a short excerpt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from appliance.cas import ContentStore
from appliance.config import SlicingConfig
from appliance.proto.stream_definition import StreamKind
from appliance.services.capture.manifest import Manifest
from appliance.services.capture.streams import StreamService
from appliance.services.results import ResultModel
from appliance.services.service_error import ServiceError
from appliance.services.slicing.audio_encoding import MIME_FLAC, Encoding
from appliance.services.slicing.note_pairing import Note
from appliance.services.slicing.slicer import (
    MIME_NOTES,
    MIME_VIRTUAL,
    MIME_WAV,
    Progress,
    SliceError,
    SliceInfo,
    SlicePlan,
    VirtualSlice,
    materialize_virtual,
    plan_of_virtual,
    slice_stream,
)
from appliance.services.slicing.timepoints import TimePointError, moment_of, parse_time_point, resolve_window
from appliance.services.store.artifacts import ArtifactRecord, ArtifactStore

Output = Literal["materialize", "virtual", "notes"]


class SliceResult(ResultModel):
    """An artifact cut from a stream: where it is, which window it covers, which chunks it was read from."""

    artifact_id: str
    content_hash: str
    mime: str = Field(description=f"audio/wav, audio/midi, {MIME_VIRTUAL} (output 'virtual') or {MIME_NOTES} "
                                  "(output 'notes': the artifact is {\"notes\": [...]}, every note)")
    sample_range: tuple[int, int] = Field(description="[start, end) in samples of the stream")
    seconds: float
    source_chunks: list[str] = Field(description="content hashes of the sealed chunks read")
    download_url: str
    bytes: int
    notes: list[Note] | None = Field(None, description="output 'notes': the notes starting in the window, in "
                                                       "order, at most slicing.max_notes of them; null otherwise")
    note_count: int | None = Field(None, description="output 'notes': every note starting in the window (the "
                                                     "artifact lists them all); null otherwise")


class Slicer:
    """stream_slice: resolve the window, cut it in a worker thread, keep it as an artifact."""

    def __init__(self, streams: StreamService, artifacts: ArtifactStore, store: ContentStore,
                 config: SlicingConfig) -> None:
        self.streams, self.artifacts, self.store, self.config = streams, artifacts, store, config

    async def slice(self, uri: str, start: Any, end: Any = "now", output: Output = "materialize",
                    tags: list[str] | None = None, progress: Progress | None = None,
                    channels: list[int] | None = None, encoding: Encoding = Encoding()) -> SliceResult:
        """Cut [start, end) of `uri` (time points as agents write them) and keep it as an artifact.

        `channels` keeps only those audio channels, in the order given, and `encoding` is the file and sample
        format (a materialized audio file only).
        """
        async with self.window(uri, start, end) as (manifest, (first, last)):
            _check_output(output, manifest)
            _check_channels(channels, manifest, output)
            _check_encoding(encoding, manifest, output)
            staging = self.store.create_staging()
            notes = None
            try:
                if output == "notes":
                    from appliance.services.slicing.slice_notes import slice_notes  # mido: not on the boot path

                    info, notes = await asyncio.to_thread(slice_notes, manifest, self.store, first, last,
                                                          staging.path, progress)
                else:
                    info = await asyncio.to_thread(slice_stream, manifest, self.store, first, last, staging.path,
                                                   output, progress, channels, encoding)
            except SliceError as exc:
                self.store.release(staging.path)
                raise ServiceError("badRequest" if "outside" in str(exc) else "unavailable", str(exc)) from None
            return self._keep(output, list(tags or []), manifest, staging.path, info, channels, notes, encoding)

    def check_excerpt(self, uri: str, output: Output, seconds: float) -> None:
        """Refuse an excerpt that cannot be had, before anything is cut: too long, or of no WAV."""
        limit = self.config.excerpt_max_seconds
        if seconds > limit:
            raise ServiceError("badRequest", f"excerpt_seconds: {seconds:g} s is over the limit of {limit:g} s "
                                             "(slicing.excerpt_max_seconds); ask for at most that, the whole slice "
                                             "is behind the artifact's download_url")
        definition = self.streams.recorder(uri).definition
        if definition.kind is not StreamKind.AUDIO:
            raise ServiceError("badRequest", f"excerpt_seconds: {uri} is a MIDI stream and an excerpt is audio; "
                                             "for MIDI use output 'notes' or picture=true")
        if output != "materialize":
            raise ServiceError("badRequest", f"excerpt_seconds: only with output 'materialize' (the WAV it is "
                                             f"taken from), not {output!r}")

    async def excerpt(self, result: SliceResult, seconds: float) -> bytes:
        """The first `seconds` of a WAV slice as a 16-bit WAV (see `excerpt`), checked by `check_excerpt` first."""
        from appliance.services.slicing.excerpt import wav_excerpt  # numpy and soundfile: not on the boot path

        _, path = self.artifacts.content_path(result.artifact_id)
        return await asyncio.to_thread(wav_excerpt, path, seconds)

    @asynccontextmanager
    async def window(self, uri: str, start: Any, end: Any) -> AsyncIterator[tuple[Manifest, tuple[int, int]]]:
        """The stream's manifest and the samples [first, last) that `start` and `end` name, read as one request.

        "now" is the moment this is called. Inside the block the manifest's
        live chunk stays readable (StreamService.snapshot), so the window can
        be read even when it reaches the head.
        """
        arrived = time.time_ns()  # "now", for every time point of this request
        await self._wait_for(uri, start, end, arrived)
        with self.streams.snapshot(uri) as manifest:
            try:
                samples = resolve_window(start, end, manifest, now_realtime_ns=arrived,
                                         session_edge=self.streams.session_edge)
            except TimePointError as exc:
                raise ServiceError("badRequest", str(exc)) from None
            yield manifest, samples

    async def _wait_for(self, uri: str, start: Any, end: Any, arrived: int) -> None:
        """Wait until the recording has passed the latest wall-clock moment the window names (at most "now")."""
        try:
            moments = [moment_of(parse_time_point(value, name), arrived)
                       for name, value in (("start", start), ("end", end))]
        except TimePointError as exc:
            raise ServiceError("badRequest", str(exc)) from None
        named = [m for m in moments if m is not None and m <= arrived]
        if named:
            await self.streams.wait_for_moment(uri, max(named))

    async def materialize(self, virtual: ArtifactRecord) -> ArtifactRecord:
        """Cut the file a virtual slice describes, as a new artifact whose parent is the virtual one."""
        staging = self.store.create_staging()
        try:
            info = await asyncio.to_thread(materialize_virtual, _virtual(virtual, self.store), self.store,
                                           staging.path)
        except SliceError as exc:
            self.store.release(staging.path)
            raise ServiceError("unavailable", str(exc)) from None
        return self.artifacts.add_file(staging.path, mime=info.mime, tags=virtual.tags, parent_id=virtual.id,
                                       metadata={"lineage": {**virtual.metadata.get("lineage", {}),
                                                             "output": "materialize"}},
                                       chunks=info.source_chunks)

    def _keep(self, output: Output, tags: list[str], manifest: Manifest, path: Path, info: SliceInfo,
              channels: list[int] | None = None, notes: list[Note] | None = None,
              encoding: Encoding = Encoding()) -> SliceResult:
        lineage: dict[str, Any] = {
            "stream": info.stream, "sample_range": list(info.sample_range), "source_chunks": info.source_chunks,
            "channels": channels if channels is not None else list(range(manifest.definition.channels)),
            "clocks": [c.model_dump() for c in info.clocks], "definition_hash": manifest.definition_digest,
            "sample_rate": manifest.definition.sample_rate, "output": output,
        }
        if not encoding.as_recorded:
            lineage |= {"format": encoding.file_format, "sample_format": encoding.sample_format}
        artifact = self.artifacts.add_file(path, mime=info.mime, tags=tags, metadata={"lineage": lineage},
                                           chunks=info.source_chunks)
        return SliceResult(
            artifact_id=artifact.id, content_hash=artifact.content_hash, mime=info.mime,
            sample_range=info.sample_range, seconds=info.frames / manifest.definition.sample_rate,
            source_chunks=info.source_chunks, download_url=f"/artifacts/{artifact.id}", bytes=artifact.bytes,
            notes=notes[:self.config.max_notes] if notes is not None else None,
            note_count=len(notes) if notes is not None else None,
        )


def picture(artifacts: ArtifactStore, result: SliceResult) -> bytes:
    """The slice's PNG: a waveform for a WAV, a piano roll for a MIDI file, timed in seconds of the stream."""
    # Imported here: matplotlib, numpy and mido under it would be most of hootenanny's start, on the boot path.
    from appliance.services.slicing.slice_picture import smf_png, wav_png

    artifact, path = artifacts.content_path(result.artifact_id)
    lineage = artifact.metadata["lineage"]
    first, last = result.sample_range
    start_s, end_s = first / lineage["sample_rate"], last / lineage["sample_rate"]
    title = f"{lineage['stream']}  {start_s:.3f}–{end_s:.3f} s (samples {first}–{last})"
    if result.mime in (MIME_WAV, MIME_FLAC):
        return wav_png(path, title=title, start_s=start_s, channels=lineage.get("channels"))
    return smf_png(path, title=title, start_s=start_s, duration_s=result.seconds)


def _check_output(output: Output, manifest: Manifest) -> None:
    definition = manifest.definition
    if output == "notes" and definition.kind is not StreamKind.MIDI:
        raise ServiceError("badRequest", f"output: 'notes' is for MIDI streams and {definition.uri} is audio; "
                                         "use 'materialize' (a WAV) or 'virtual' (a chunk manifest)")


def _check_encoding(encoding: Encoding, manifest: Manifest, output: Output) -> None:
    if encoding.as_recorded:
        return
    definition = manifest.definition
    if definition.kind is not StreamKind.AUDIO:
        raise ServiceError("badRequest", f"format, sample_format: {definition.uri} is a MIDI stream, cut as a "
                                         "Standard MIDI File (or output 'notes'); they are for audio")
    if output != "materialize":
        raise ServiceError("badRequest", f"format, sample_format: a {output} slice keeps the recorded bytes; use "
                                         "output 'materialize' to write FLAC or convert")
    encoding.check(definition)


def _check_channels(channels: list[int] | None, manifest: Manifest, output: Output) -> None:
    if channels is None:
        return
    definition = manifest.definition
    if definition.kind is not StreamKind.AUDIO:
        raise ServiceError("badRequest", f"channels: {definition.uri} is a MIDI stream; channels pick audio "
                                         "channels (drop channels)")
    if output != "materialize":
        raise ServiceError("badRequest", "channels: a virtual slice names whole chunks, every channel; use "
                                         "output 'materialize' to keep some channels")
    chosen_channels(channels, definition.channels, definition.uri)


def chosen_channels(asked: list[int] | None, count: int, source: str) -> list[int]:
    """The channel indexes `asked` of `source`'s `count` (all when None), refused when one is not there or twice."""
    if asked is None:
        return list(range(count))
    plural = "s" if count != 1 else ""
    if not asked:
        raise ServiceError("badRequest", f"channels: an empty list keeps no channel; omit channels to keep all "
                                         f"{count} channel{plural} of {source}")
    wrong = [c for c in asked if not 0 <= c < count]
    if wrong:
        raise ServiceError("badRequest", f"channels: {wrong} out of range; {source} has {count} channel{plural} "
                                         f"(0-{count - 1})")
    if len(set(asked)) != len(asked):
        raise ServiceError("badRequest", f"channels: {asked} names a channel twice")
    return list(asked)


def virtual_plan(artifact: ArtifactRecord, store: ContentStore) -> SlicePlan:
    """The window a virtual slice artifact describes, planned for reading."""
    return plan_of_virtual(_virtual(artifact, store))


def _virtual(artifact: ArtifactRecord, store: ContentStore) -> VirtualSlice:
    if not artifact.content_hash:
        raise ServiceError("unavailable", f"{artifact.id}: a virtual slice without content")
    try:
        return VirtualSlice.model_validate_json(store.path(artifact.content_hash).read_bytes())
    except (OSError, ValueError) as exc:
        raise ServiceError("unavailable", f"{artifact.id}: its virtual slice cannot be read: {exc}") from None
