"""Builders for slicing tests: known waveforms cut into real chunks sealed in a real ContentStore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.cas import ContentStore
from appliance.proto.midi_record import pack_record
from appliance.proto.stream_definition import SampleFormat, StreamDefinition
from appliance.services.capture.manifest import ChunkRef, ClockSnapshot, Gap, LiveEdge, Manifest

NS = 1_000_000_000
T0_NS = 1_795_000_000 * NS  # 2026-11-18, a CLOCK_REALTIME far from zero
READ_DTYPE = {"s16": "int16", "s24": "int32", "s24in32": "int32", "s32": "int32", "f32": "float32"}


def definition(fmt: str = "s32", channels: int = 2, rate: int = 48000, kind: str = "audio",
               chunk: int = 1024) -> StreamDefinition:
    return StreamDefinition(uri="stream://test/main", device="sim", kind=kind, sample_rate=rate, channels=channels,
                            sample_format=fmt, chunk_samples=chunk, period_frames=256)


def waveform(fmt: str, frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """(frames, channels) sample values covering the format's whole range, extremes included."""
    rng = np.random.default_rng(seed)
    if fmt == "f32":
        values = rng.standard_normal((frames, channels)).astype(np.float32) * 2  # past +-1: float must not clip
    else:
        bits = {"s16": 16, "s24": 24, "s24in32": 24, "s32": 32}[fmt]
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        values = rng.integers(lo, hi, size=(frames, channels), endpoint=True, dtype=np.int64)
        values.flat[:3] = [lo, hi, -1][: values.size]
    return values


def to_bytes(values: np.ndarray, fmt: str) -> bytes:
    """Raw little-endian interleaved bytes as chaosgarden writes them."""
    if fmt == "s16":
        return values.astype("<i2").tobytes()
    if fmt == "s32":
        return values.astype("<i4").tobytes()
    if fmt == "f32":
        return values.astype("<f4").tobytes()
    words = (values.astype(np.int64) & 0xFFFFFF).astype("<u4")  # 24 bits, container top byte zero
    if fmt == "s24in32":
        return words.tobytes()
    return words.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def read_back(path: Path, fmt: str) -> np.ndarray:
    """A WAV's samples as the stream's own values (24-bit formats shifted back down)."""
    data, _ = sf.read(str(path), dtype=READ_DTYPE[fmt], always_2d=True)
    return data >> 8 if fmt in ("s24", "s24in32") else data


class StreamBuilder:
    """Builds a manifest piece by piece, keeping the bytes the whole timeline should read as."""

    def __init__(self, store: ContentStore, definition: StreamDefinition, first_sample: int = 0,
                 t0_ns: int = T0_NS) -> None:
        self.store = store
        self.definition = definition
        self.manifest = Manifest(stream=definition.uri, definition=definition)
        self.timeline = bytearray()
        self.position = first_sample
        self.t0_ns = t0_ns
        self.clock("start")

    def realtime_of(self, sample: int) -> int:
        return self.t0_ns + sample * NS // self.definition.sample_rate

    def clock(self, reason: str, realtime_ns: int | None = None) -> ClockSnapshot:
        snap = ClockSnapshot(sample=self.position, monotonic_ns=self.position, reason=reason,
                             realtime_ns=self.realtime_of(self.position) if realtime_ns is None else realtime_ns)
        self.manifest.clocks.append(snap)
        return snap

    def chunk(self, data: bytes) -> ChunkRef:
        ref = ChunkRef(digest=self.store.put(data), first_sample=self.position,
                       samples=len(data) // self.definition.frame_bytes, bytes=len(data))
        self.manifest.chunks.append(ref)
        self.timeline += data
        self.position = ref.end_sample
        self.clock("chunk")
        return ref

    def chunks(self, data: bytes, sizes: list[int] | int) -> list[ChunkRef]:
        """Cut `data` into chunks of `sizes` frames (one size repeated, or a list; the rest in a last chunk)."""
        fb, refs, pos = self.definition.frame_bytes, [], 0
        while pos < len(data):
            size = sizes if isinstance(sizes, int) else (sizes[len(refs)] if len(refs) < len(sizes) else len(data))
            refs.append(self.chunk(data[pos: pos + size * fb]))
            pos += size * fb
        return refs

    def gap(self, frames: int, reason: str = "chaosgarden restart", realtime_ns: int | None = None) -> Gap:
        gap = Gap(start_sample=self.position, samples=frames, reason=reason)
        self.manifest.gaps.append(gap)
        self.timeline += bytes(frames * self.definition.frame_bytes)
        self.position += frames
        if realtime_ns is not None:  # time away differs from the gap's length: later clocks follow the restart
            self.t0_ns += realtime_ns - self.realtime_of(self.position)
        self.clock("restart")
        return gap

    def live(self, data: bytes, unnotified: bytes = b"") -> LiveEdge:
        """A staging chunk holding `data` below the notified head and `unnotified` bytes past it."""
        staging = self.store.create_staging(self.definition.chunk_bytes)
        with staging.path.open("r+b") as fh:
            fh.write(data + unnotified)
        frames = len(data) // self.definition.frame_bytes
        self.manifest.live = LiveEdge(path=str(staging.path), first_sample=self.position,
                                      head_sample=self.position + frames, head_bytes=len(data))
        self.timeline += data
        return self.manifest.live

    def midi_chunk(self, records: list[tuple[int, bytes]]) -> ChunkRef:
        data = b"".join(pack_record(frame * 1000, frame, payload) for frame, payload in records)
        frames = [frame for frame, _ in records]
        ref = ChunkRef(digest=self.store.put(data), first_sample=frames[0], samples=frames[-1] - frames[0] + 1,
                       bytes=len(data))
        self.manifest.chunks.append(ref)
        self.position = ref.end_sample
        return ref

    def window(self, start: int, end: int) -> bytes:
        """The bytes frames [start, end) should slice to (positions relative to the timeline's first frame)."""
        first = self.manifest.clocks[0].sample
        fb = self.definition.frame_bytes
        return bytes(self.timeline[(start - first) * fb: (end - first) * fb])


def corrupt(store: ContentStore, digest: str, at: int = 0) -> None:
    """Flip one byte of sealed content (content files are read-only, like on the box)."""
    path = store.path(digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
