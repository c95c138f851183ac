"""Slices of a stream: samples [start, end) read across sealed chunks, gaps and the live edge.

A slice is planned first (which byte ranges of which chunks, how much
silence, what of the live edge), then either materialized (WAV or Standard
MIDI File, streamed in bounded blocks, every sealed chunk verified against its
digest before use) or kept virtual: the plan itself as JSON, no data copied,
materialized later to the same bytes. The writers (numpy, soundfile and mido
under them) are imported on the first slice: they are a sixth of
hootenanny's start, which is on the box's boot path.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from appliance.cas import ContentStore
from appliance.cas.digest import hash_file
from appliance.proto.midi_record import MidiRecord, iter_records
from appliance.proto.stream_definition import StreamDefinition, StreamKind
from appliance.services.capture.manifest import ChunkRef, ClockSnapshot, Gap, LiveEdge, Manifest
from appliance.services.slicing.audio_encoding import MIME_FLAC, Encoding

BLOCK_BYTES = 4 << 20
MIME_WAV = "audio/wav"
MIME_MIDI = "audio/midi"
MIME_VIRTUAL = "application/vnd.studio.virtual-slice+json"
MIME_NOTES = "application/json"  # a MIDI window's notes (slice_notes)
VIRTUAL_VERSION = 1

Progress = Callable[[int, int], None]
"""Called with (frames done, frames total) after every block."""


class SliceError(ValueError):
    """A slice that cannot be made: bad window, missing or corrupted chunk, inconsistent manifest."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChunkPiece(_Model):
    """`length` bytes of sealed chunk `digest` from byte `offset` (for MIDI: the whole chunk)."""

    kind: Literal["chunk"] = "chunk"
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    offset: int = Field(ge=0)
    length: int = Field(ge=0)
    frames: int = Field(ge=0)


class SilencePiece(_Model):
    """`length` zero bytes: samples nothing was recorded for."""

    kind: Literal["silence"] = "silence"
    length: int = Field(ge=0)
    frames: int = Field(ge=0)


class LivePiece(_Model):
    """Bytes of the staging file chaosgarden is writing, below the notified head; never in a virtual slice."""

    kind: Literal["live"] = "live"
    path: str
    offset: int = Field(ge=0)
    length: int = Field(ge=0)
    frames: int = Field(ge=0)


Piece = Union[ChunkPiece, SilencePiece, LivePiece]


class VirtualSlice(_Model):
    """A slice by reference: the stream's definition, the window and the ordered pieces that make it up."""

    version: int = VIRTUAL_VERSION
    stream: str
    definition: StreamDefinition
    sample_range: tuple[int, int]
    pieces: list[Annotated[Union[ChunkPiece, SilencePiece], Field(discriminator="kind")]]
    clocks: list[ClockSnapshot] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> "VirtualSlice":
        start, end = self.sample_range
        if not 0 <= start < end:
            raise ValueError(f"sample_range: end must be after start >= 0 (got {self.sample_range})")
        if self.definition.kind is StreamKind.AUDIO:
            size = sum(p.length for p in self.pieces)
            if size != (end - start) * self.definition.frame_bytes:
                raise ValueError(f"pieces: {size} bytes do not make {end - start} frames of "
                                 f"{self.definition.frame_bytes} bytes")
        return self


@dataclass(frozen=True)
class SliceInfo:
    """What was made, and its lineage: source window, chunks read, clock snapshots around the window."""

    mime: str
    stream: str
    sample_range: tuple[int, int]
    source_chunks: list[str]
    clocks: list[ClockSnapshot]
    frames: int
    bytes: int


@dataclass(frozen=True)
class SlicePlan:
    """The pieces that make samples [start, end) of a stream, in order, and the clocks around them."""

    stream: str
    definition: StreamDefinition
    start: int
    end: int
    pieces: list[Piece]
    clocks: list[ClockSnapshot]

    @property
    def chunk_digests(self) -> list[str]:
        return list(dict.fromkeys(p.digest for p in self.pieces if isinstance(p, ChunkPiece)))


# -- entry points ------------------------------------------------------------

def slice_stream(manifest: Manifest, store: ContentStore, start: int, end: int, out_path: Path,
                 output: Literal["materialize", "virtual"] = "materialize",
                 progress: Progress | None = None, channels: list[int] | None = None,
                 encoding: Encoding = Encoding()) -> SliceInfo:
    """Write samples [start, end) of the manifest's stream to `out_path` as WAV/FLAC/SMF, or as a virtual slice.

    `channels` (audio, materialized only) keeps those channel indexes, in that order; None keeps all.
    `encoding` (audio, materialized only) is the file and sample format; as recorded by default.
    """
    plan = plan_slice(manifest, start, end)
    if output == "virtual":
        return _write_virtual(virtual_from_plan(plan, store), Path(out_path))
    return _materialize(plan, store, Path(out_path), progress, channels, encoding)


def materialize_virtual(virtual: VirtualSlice, store: ContentStore, out_path: Path,
                        progress: Progress | None = None) -> SliceInfo:
    """Produce the file a direct materialization of the same window would have produced, byte for byte."""
    return _materialize(plan_of_virtual(virtual), store, Path(out_path), progress)


def virtual_from_plan(plan: SlicePlan, store: ContentStore) -> VirtualSlice:
    """The plan as a reference-only slice; refused when it reaches into the unsealed live edge."""
    if any(isinstance(p, LivePiece) for p in plan.pieces):
        raise SliceError(f"{plan.stream}: samples up to {plan.end} reach into the live chunk, which is not sealed "
                         "and cannot be referenced; use output=\"materialize\" or wait until the chunk is sealed")
    for digest in plan.chunk_digests:
        if not store.exists(digest):
            raise SliceError(f"{plan.stream}: chunk {digest} is missing from CAS ({store.path(digest)})")
    return VirtualSlice(stream=plan.stream, definition=plan.definition, sample_range=(plan.start, plan.end),
                        pieces=plan.pieces, clocks=plan.clocks)


def plan_of_virtual(virtual: VirtualSlice) -> SlicePlan:
    start, end = virtual.sample_range
    return SlicePlan(virtual.stream, virtual.definition, start, end, list(virtual.pieces), list(virtual.clocks))


# -- planning ----------------------------------------------------------------

@dataclass(frozen=True)
class _Span:
    first: int
    end: int
    source: ChunkRef | Gap | LiveEdge


def plan_slice(manifest: Manifest, start: int, end: int) -> SlicePlan:
    """Which bytes make samples [start, end); checks that the manifest neither overlaps nor has holes there."""
    if not 0 <= start < end:
        raise SliceError(f"{manifest.stream}: window [{start}, {end}) is empty or negative; end must be after start")
    spans = _spans(manifest)
    audio = manifest.definition.kind is StreamKind.AUDIO
    pieces = _audio_pieces(manifest, spans, start, end) if audio else _midi_pieces(spans, start, end)
    return SlicePlan(manifest.stream, manifest.definition, start, end, pieces, _clocks_around(manifest, start, end))


def _spans(manifest: Manifest) -> list[_Span]:
    spans = [_Span(c.first_sample, c.end_sample, c) for c in manifest.chunks]
    spans += [_Span(g.start_sample, g.start_sample + g.samples, g) for g in manifest.gaps]
    if manifest.live is not None:
        spans.append(_Span(manifest.live.first_sample, manifest.live.head_sample, manifest.live))
    spans = sorted((s for s in spans if s.end > s.first), key=lambda s: (s.first, s.end))
    audio = manifest.definition.kind is StreamKind.AUDIO
    shared = 0 if audio else 1  # MIDI chunks span their records' frames: neighbours may share one frame
    for a, b in pairwise(spans):
        if b.first < a.end - shared:
            raise SliceError(f"{manifest.stream}: inconsistent manifest: {_name(a)} overlaps {_name(b)}")
    if audio:
        _check_chunk_sizes(manifest)
    return spans


def _check_chunk_sizes(manifest: Manifest) -> None:
    for chunk in manifest.chunks:
        if chunk.bytes != chunk.samples * manifest.definition.frame_bytes:
            raise SliceError(f"{manifest.stream}: inconsistent manifest: chunk {chunk.digest} claims {chunk.samples} "
                             f"frames in {chunk.bytes} bytes ({manifest.definition.frame_bytes} bytes per frame)")


def _audio_pieces(manifest: Manifest, spans: list[_Span], start: int, end: int) -> list[Piece]:
    fb, pieces, pos = manifest.definition.frame_bytes, [], start
    for span in spans:
        if span.end <= pos:
            continue
        if span.first >= end:
            break
        if span.first > pos:
            raise SliceError(f"{manifest.stream}: samples {pos}..{span.first} are in no chunk: released by the "
                             f"stream's retention policy, or lost (the hole is before {_name(span)})")
        stop = min(end, span.end)
        pieces.append(_piece(span.source, pos - span.first, stop - pos, fb))
        pos = stop
    if pos < end and pos < manifest.head_sample:
        raise SliceError(f"{manifest.stream}: samples {pos}..{min(end, manifest.head_sample)} are in no chunk: "
                         "released by the stream's retention policy, or lost")
    if pos < end:
        raise SliceError(f"{manifest.stream}: samples {pos}..{end} are not recorded yet "
                         f"(readable up to sample {manifest.head_sample})")
    return pieces


def _piece(source: ChunkRef | Gap | LiveEdge, skip: int, frames: int, fb: int) -> Piece:
    if isinstance(source, ChunkRef):
        return ChunkPiece(digest=source.digest, offset=skip * fb, length=frames * fb, frames=frames)
    if isinstance(source, Gap):
        return SilencePiece(length=frames * fb, frames=frames)
    return LivePiece(path=source.path, offset=skip * fb, length=frames * fb, frames=frames)


def _midi_pieces(spans: list[_Span], start: int, end: int) -> list[Piece]:
    """Whole chunks whose events may fall in the window; records are picked by frame when read.

    Running status is followed from the first chunk read on; one left over from an earlier chunk is not known.
    """
    pieces: list[Piece] = []
    for span in spans:
        frames = min(end, span.end) - max(start, span.first)
        if isinstance(span.source, ChunkRef) and frames > 0:
            pieces.append(ChunkPiece(digest=span.source.digest, offset=0, length=span.source.bytes, frames=frames))
        elif isinstance(span.source, LiveEdge) and span.first < end:
            pieces.append(LivePiece(path=span.source.path, offset=0, length=span.source.head_bytes,
                                    frames=max(frames, 0)))
    return pieces


def _clocks_around(manifest: Manifest, start: int, end: int) -> list[ClockSnapshot]:
    """Snapshots inside the window plus the nearest one on either side: enough to place it in time later."""
    ordered = sorted(manifest.clocks, key=lambda c: c.sample)
    before = [c for c in ordered if c.sample < start][-1:]
    after = [c for c in ordered if c.sample > end][:1]
    return before + [c for c in ordered if start <= c.sample <= end] + after


def _name(span: _Span) -> str:
    where = f"samples {span.first}..{span.end}"
    if isinstance(span.source, ChunkRef):
        return f"chunk {span.source.digest} ({where})"
    if isinstance(span.source, Gap):
        return f"gap '{span.source.reason}' ({where})"
    return f"live chunk {span.source.path} ({where})"


# -- materializing -----------------------------------------------------------

def _materialize(plan: SlicePlan, store: ContentStore, out_path: Path, progress: Progress | None,
                 channels: list[int] | None = None, encoding: Encoding = Encoding()) -> SliceInfo:
    partial = out_path.with_name(out_path.name + ".partial")
    try:
        if plan.definition.kind is StreamKind.AUDIO:
            _write_audio(plan, store, partial, progress, channels, encoding)
            mime = MIME_FLAC if encoding.file_format == "flac" else MIME_WAV
        else:
            _write_midi(plan, store, partial, progress)
            mime = MIME_MIDI
        os.replace(partial, out_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return slice_info(plan, mime, out_path.stat().st_size)


def _write_audio(plan: SlicePlan, store: ContentStore, path: Path, progress: Progress | None,
                 channels: list[int] | None, encoding: Encoding) -> None:
    from appliance.services.slicing.audio_writer import AudioWriter, wav_header

    definition = plan.definition
    total, done, fb = plan.end - plan.start, 0, definition.frame_bytes
    header = wav_header(definition, total) if channels is None and encoding.as_recorded else None
    if header is not None:
        _copy_wav(plan, store, path, header, progress)
        return
    kept = definition if channels is None else definition.model_copy(update={"channels": len(channels)})
    with AudioWriter(path, kept, total, encoding, seed=plan.start) as wav:
        for block in read_blocks(plan, store):
            wav.write(block if channels is None else pick_channels(block, definition, channels))
            done += len(block) // fb
            if progress is not None:
                progress(done, total)


def _copy_wav(plan: SlicePlan, store: ContentStore, path: Path, header: bytes, progress: Progress | None) -> None:
    """A WAV whose data are the chunk bytes themselves, copied file to file by the kernel (copy_file_range: a
    reflink where the filesystem shares extents), never through Python buffers; gaps become zeros by extending
    the file. Progress is told every block, as for a converted slice."""
    fb = plan.definition.frame_bytes
    step = max(fb, BLOCK_BYTES - BLOCK_BYTES % fb)
    total, done = plan.end - plan.start, 0
    # Digests are checked one chunk ahead on a second thread while the kernel copies: the check costs about
    # as much as the copy, and both leave the GIL.
    verifier = ThreadPoolExecutor(1, thread_name_prefix="slice-verify")
    checked = [None if isinstance(piece, SilencePiece) else verifier.submit(_source_path, piece, plan.stream, store)
               for piece in plan.pieces]
    with path.open("wb") as out, _shut(verifier):
        out.write(header)
        out.flush()
        position = len(header)
        for piece, check in zip(plan.pieces, checked):
            source = None if isinstance(piece, SilencePiece) or check is None else _open(
                check.result(), piece, plan.stream)
            with source if source is not None else contextlib.nullcontext():
                for skip in range(0, piece.length, step):
                    length = min(step, piece.length - skip)
                    if isinstance(piece, SilencePiece):
                        os.ftruncate(out.fileno(), position + length)  # reads as zeros: silence in any format
                    elif source is not None:
                        _copy_range(source.fileno(), out.fileno(), piece, piece.offset + skip, length, position,
                                    plan.stream)
                    position += length
                    done += length // fb
                    if progress is not None:
                        progress(done, total)


@contextlib.contextmanager
def _shut(executor: ThreadPoolExecutor) -> Iterator[None]:
    """Stop `executor` on the way out, dropping checks not started (the slice failed, or is done)."""
    try:
        yield
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _copy_range(source: int, target: int, piece: ChunkPiece | LivePiece, offset: int, length: int, position: int,
                stream: str) -> None:
    """`length` bytes of `piece` from `offset` to `target` at `position`: by copy_file_range, or pread/pwrite
    where the kernel refuses it."""
    while length:
        try:
            moved = os.copy_file_range(source, target, length, offset, position)
        except OSError:  # EXDEV on kernels before 5.3, EINVAL on some filesystems: copy it ourselves
            block = os.pread(source, length, offset)
            moved = os.pwrite(target, block, position) if block else 0
        if not moved:
            raise SliceError(f"{stream}: {_what(piece)} ends {length} bytes early at byte {offset}")
        offset, position, length = offset + moved, position + moved, length - moved


def pick_channels(block: memoryview, definition: StreamDefinition, channels: list[int]) -> memoryview:
    """The bytes of `channels` only, frame by frame: the samples are moved as bytes, whatever their format."""
    import numpy as np  # here: numpy is not on the path of a plain slice, and hootenanny's start is on the boot path

    width = definition.sample_format.bytes_per_sample
    frames = np.frombuffer(block, np.uint8).reshape(-1, definition.channels, width)
    return memoryview(frames[:, channels, :].tobytes())


def read_blocks(plan: SlicePlan, store: ContentStore) -> Iterator[memoryview]:
    """The window's bytes in blocks of whole frames (gaps as zeros); each view is valid until the next one is taken."""
    fb = plan.definition.frame_bytes
    block = max(fb, BLOCK_BYTES - BLOCK_BYTES % fb)
    buffer = memoryview(bytearray(block))
    zeros = memoryview(bytes(block))
    for piece in plan.pieces:
        if isinstance(piece, SilencePiece):
            for offset in range(0, piece.length, block):
                yield zeros[: min(block, piece.length - offset)]
        else:
            yield from _read_range(_source_path(piece, plan.stream, store), piece, buffer, plan.stream)


def _read_range(path: Path, piece: ChunkPiece | LivePiece, buffer: memoryview, stream: str) -> Iterator[memoryview]:
    with _open(path, piece, stream) as fh:
        fh.seek(piece.offset)
        remaining = piece.length
        while remaining:
            got = fh.readinto(buffer[: min(len(buffer), remaining)])
            if not got:
                raise SliceError(f"{stream}: {_what(piece)} ends {remaining} bytes early at byte "
                                 f"{piece.offset + piece.length - remaining}")
            remaining -= got
            yield buffer[:got]


def _read_whole(path: Path, piece: ChunkPiece | LivePiece, stream: str) -> bytes:
    with _open(path, piece, stream) as fh:
        fh.seek(piece.offset)
        return fh.read(piece.length)


def _open(path: Path, piece: ChunkPiece | LivePiece, stream: str) -> io.BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError:
        hint = "; it was sealed meanwhile, slice again" if isinstance(piece, LivePiece) else ""
        raise SliceError(f"{stream}: {_what(piece)} is missing ({path}){hint}") from None
    except OSError as exc:
        raise SliceError(f"{stream}: {_what(piece)} cannot be read: {exc.strerror}") from None


def _source_path(piece: ChunkPiece | LivePiece, stream: str, store: ContentStore) -> Path:
    """Where a piece's bytes are; a sealed chunk is verified against its digest first."""
    if isinstance(piece, LivePiece):
        return Path(piece.path)
    path = store.path(piece.digest)
    try:
        actual = hash_file(path)
    except FileNotFoundError:
        raise SliceError(f"{stream}: chunk {piece.digest} is missing from CAS ({path})") from None
    except OSError as exc:
        raise SliceError(f"{stream}: chunk {piece.digest} cannot be read: {exc.strerror}") from None
    if actual != piece.digest:
        raise SliceError(f"{stream}: chunk {piece.digest} is corrupted: its content hashes to {actual}")
    return path


def _what(piece: ChunkPiece | LivePiece) -> str:
    return f"chunk {piece.digest}" if isinstance(piece, ChunkPiece) else f"live chunk {piece.path}"


def _write_midi(plan: SlicePlan, store: ContentStore, path: Path, progress: Progress | None) -> None:
    from appliance.services.slicing.midi_export import write_smf

    write_smf(read_records(plan, store, progress), plan.start, plan.end, plan.definition.sample_rate, path)
    if progress is not None:
        progress(plan.end - plan.start, plan.end - plan.start)


def read_records(plan: SlicePlan, store: ContentStore, progress: Progress | None = None) -> Iterator[MidiRecord]:
    """The MIDI records of the window's chunks, in order (a chunk's records may begin before the window)."""
    done, total = 0, plan.end - plan.start
    for piece in plan.pieces:
        if isinstance(piece, SilencePiece):
            continue
        yield from iter_records(_read_whole(_source_path(piece, plan.stream, store), piece, plan.stream))
        done += piece.frames
        if progress is not None:
            progress(min(done, total), total)


# -- virtual output ----------------------------------------------------------

def _write_virtual(virtual: VirtualSlice, out_path: Path) -> SliceInfo:
    data = virtual.model_dump_json().encode()
    partial = out_path.with_name(out_path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out_path)
    return slice_info(plan_of_virtual(virtual), MIME_VIRTUAL, len(data))


def slice_info(plan: SlicePlan, mime: str, size: int) -> SliceInfo:
    """What a file of `size` bytes and type `mime` made from `plan` is, for its lineage."""
    return SliceInfo(mime=mime, stream=plan.stream, sample_range=(plan.start, plan.end),
                     source_chunks=plan.chunk_digests, clocks=plan.clocks, frames=plan.end - plan.start, bytes=size)
