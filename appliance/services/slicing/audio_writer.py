"""A slice's audio file from raw interleaved chunk bytes, block by block: WAV (RF64 past 4 GiB) or FLAC.

As recorded, integers keep every bit (s24in32 is shifted into the top of an
int32, which is what PCM_24 takes from an int buffer) and float stays float.
Asked for another sample format, the block is read as floats and converted
(audio_encoding.converted).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from appliance.proto.stream_definition import SampleFormat, StreamDefinition
from appliance.services.slicing.audio_encoding import Encoding, converted
from appliance.services.slicing.sample_values import as_float

WAV_DATA_LIMIT = (1 << 32) - 1 - 4096
"""Data bytes past which a plain WAV's 32-bit sizes overflow (with room for the header): write RF64."""

SFC_SET_ADD_PEAK_CHUNK = 0x1050  # sndfile.h; not exported by soundfile

SUBTYPES = {
    SampleFormat.S16: ("PCM_16", "int16", 2),
    SampleFormat.S24: ("PCM_24", "int32", 3),
    SampleFormat.S24IN32: ("PCM_24", "int32", 3),
    SampleFormat.S32: ("PCM_32", "int32", 4),
    SampleFormat.F32: ("FLOAT", "float32", 4),
}
"""Per format: soundfile subtype, the buffer dtype handed to libsndfile, bytes per sample in the file."""


class AudioWriter:
    """An audio file being written from raw chunk bytes; use as a context manager.

    `seed` makes the dither of a conversion to s16 the same for the same window, so equal requests give equal
    bytes (and one content hash).
    """

    def __init__(self, path: Path | io.BytesIO, definition: StreamDefinition, frames: int,
                 encoding: Encoding = Encoding(), seed: int = 0) -> None:
        self.definition = definition
        self.recorded = definition.sample_format
        self.target = encoding.target(self.recorded)
        self.convert = self.target is not self.recorded
        subtype, self.dtype, file_bytes = SUBTYPES[self.target]
        if encoding.file_format == "flac":
            container = "FLAC"
        else:
            container = "RF64" if frames * definition.channels * file_bytes > WAV_DATA_LIMIT else "WAV"
        self.file = sf.SoundFile(path, "w", samplerate=definition.sample_rate, channels=definition.channels,
                                 subtype=subtype, format=container)
        if container != "FLAC":
            # A float WAV gets a PEAK chunk stamped with the current time; without it equal audio gives equal bytes.
            sf._snd.sf_command(self.file._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        self.rng = np.random.default_rng(seed)

    def write(self, raw: memoryview) -> None:
        """Append whole frames of raw little-endian samples in the stream's format."""
        if self.convert:
            samples = as_float(bytes(raw), self.definition)
            self.file.buffer_write(converted(samples, self.target, self.rng), self.dtype)
        else:
            self.file.buffer_write(_as_buffer(raw, self.recorded), self.dtype)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _as_buffer(raw: memoryview, fmt: SampleFormat) -> memoryview | np.ndarray:
    if fmt is SampleFormat.S24IN32:
        # The shift drops the container's top byte and puts the 24-bit sign bit in the int32's: sign-extended.
        return np.frombuffer(raw, "<i4") << 8
    if fmt is SampleFormat.S24:
        return _unpack_s24(raw)
    return raw


def _unpack_s24(raw: memoryview) -> np.ndarray:
    """3-byte packed samples as int32 << 8: the bytes land in the top three bytes of each word."""
    packed = np.frombuffer(raw, np.uint8).reshape(-1, 3)
    words = np.zeros((packed.shape[0], 4), np.uint8)
    words[:, 1:] = packed
    return words.view("<i4").reshape(-1)


AS_BYTES = (SampleFormat.S16, SampleFormat.S24, SampleFormat.S32, SampleFormat.F32)
"""Formats whose chunk bytes are, byte for byte, a WAV's data (s24in32 is not: its samples move up a byte)."""


def wav_header(definition: StreamDefinition, frames: int) -> bytes | None:
    """The exact header AudioWriter would write before `frames` frames as recorded, so the data can be copied
    after it without passing through Python; None when there is no such header (RF64, a pad byte, a format
    whose bytes change).

    libsndfile writes the header (so both paths give one file, byte for byte); only its three size fields are
    set here, for the frame count libsndfile has not seen.
    """
    fmt = definition.sample_format
    data_bytes = frames * definition.frame_bytes
    if fmt not in AS_BYTES or data_bytes > WAV_DATA_LIMIT or data_bytes % 2:
        return None
    empty = io.BytesIO()
    with AudioWriter(empty, definition, 0):
        pass
    header = bytearray(empty.getvalue())
    chunks = _chunk_offsets(bytes(header))
    if list(chunks)[-1] != b"data" or chunks[b"data"] + 8 != len(header):
        return None  # not the layout this function knows how to size
    struct.pack_into("<I", header, 4, len(header) - 8 + data_bytes)
    struct.pack_into("<I", header, chunks[b"data"] + 4, data_bytes)
    if b"fact" in chunks:
        struct.pack_into("<I", header, chunks[b"fact"] + 8, frames)
    return bytes(header)


def _chunk_offsets(riff: bytes) -> dict[bytes, int]:
    """Where each chunk of a RIFF WAVE header starts, in order."""
    offsets, at = {}, 12
    while at + 8 <= len(riff):
        name, size = riff[at:at + 4], struct.unpack_from("<I", riff, at + 4)[0]
        offsets[name] = at
        if name == b"data":
            break
        at += 8 + size + size % 2
    return offsets
