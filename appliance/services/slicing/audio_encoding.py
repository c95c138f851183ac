"""How a slice's audio is written: the file format and the sample format, as asked for or as recorded.

A slice is written as recorded unless told otherwise: the chunk bytes,
every bit kept. Converting is the agent's or musician's choice: to 16 bits
with TPDF dither (seeded from the window, so the same request gives the same
bytes), to 24 bits rounded, or to 32-bit float. FLAC keeps at most 24 bits
(libsndfile's FLAC encoder), so a 32-bit recording asks for s24 or s16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from appliance.proto.stream_definition import SampleFormat, StreamDefinition
from appliance.services.service_error import ServiceError

FileFormat = Literal["wav", "flac"]
TargetFormat = Literal["s16", "s24", "f32"]
MIME_FLAC = "audio/flac"
FLAC_FORMATS = (SampleFormat.S16, SampleFormat.S24, SampleFormat.S24IN32)  # kept as they are in FLAC


@dataclass(frozen=True)
class Encoding:
    file_format: FileFormat = "wav"
    sample_format: TargetFormat | None = None  # None: as recorded

    @property
    def as_recorded(self) -> bool:
        """Whether the file holds the recorded samples bit for bit in a WAV (the only path without conversion)."""
        return self.file_format == "wav" and self.sample_format is None

    def check(self, definition: StreamDefinition) -> None:
        """Refuse what cannot be written, naming what can."""
        if self.file_format == "flac" and self.sample_format == "f32":
            raise ServiceError("badRequest", "sample_format: FLAC holds integers of at most 24 bits; give 's24' or "
                                             "'s16', or format 'wav' for f32")
        if (self.file_format == "flac" and self.sample_format is None
                and definition.sample_format not in FLAC_FORMATS):
            raise ServiceError("badRequest", f"sample_format: {definition.uri} records "
                                             f"{definition.sample_format.value} and FLAC holds at most 24 bits; give "
                                             "sample_format 's24' or 's16' (or format 'wav' to keep every bit)")

    def target(self, recorded: SampleFormat) -> SampleFormat:
        """The sample format the file holds."""
        return recorded if self.sample_format is None else SampleFormat(self.sample_format)


def converted(samples: np.ndarray, target: SampleFormat, rng: np.random.Generator) -> np.ndarray:
    """Float samples (full scale 1.0) as the buffer libsndfile writes for `target`.

    s16 gets triangular (TPDF) dither of one least significant bit, the
    standard way to truncate without distortion; s24 is rounded (its step is
    below any converter's noise). Integers are clipped, never wrapped.
    """
    if target is SampleFormat.F32:
        return samples.astype(np.float32)
    if target is SampleFormat.S16:
        dither = rng.random(samples.shape) - rng.random(samples.shape)
        return np.clip(np.round(samples * 32768.0 + dither), -32768, 32767).astype(np.int16)
    # s24 in the top three bytes of an int32, as PCM_24 takes an int buffer.
    return (np.clip(np.round(samples * 8388608.0), -8388608, 8388607).astype(np.int32) << 8)
