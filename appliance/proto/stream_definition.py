"""What a stream is: the validated form of `streams.capnp` StreamDefinition.

Shared by hootenanny (which takes it from agents) and chaosgarden (which
records it), so both refuse the same bad values with the same words.
"""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

URI_PATTERN = re.compile(r"stream://[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEFAULT_PERIOD_FRAMES = 1024
MAX_CHUNK_BYTES = 1 << 31


class StreamKind(str, enum.Enum):
    AUDIO = "audio"
    MIDI = "midi"


class SampleFormat(str, enum.Enum):
    """Little-endian interleaved sample formats."""

    S16 = "s16"
    S24 = "s24"  # 3-byte packed
    S24IN32 = "s24in32"  # 24 significant bits, low-aligned in a 4-byte container
    S32 = "s32"
    F32 = "f32"

    @property
    def bytes_per_sample(self) -> int:
        return {"s16": 2, "s24": 3}.get(self.value, 4)


class DefinitionError(ValueError):
    """A stream definition field that is not allowed; the message names field and rule."""


class StreamDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(description="stream://<name>/<part>")
    device: str = Field(min_length=1, max_length=256)
    kind: StreamKind = StreamKind.AUDIO
    sample_rate: int = Field(48000, ge=8000, le=768000)
    channels: int = Field(2, ge=1, le=256)
    sample_format: SampleFormat = SampleFormat.S32
    chunk_samples: int = Field(131072, ge=256, le=1 << 30)
    period_frames: int = Field(0, ge=0, le=65536, description="0: the device default")

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not URI_PATTERN.fullmatch(value):
            raise ValueError("must look like stream://<name>/<part> (letters, digits, _ . -)")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> "StreamDefinition":
        if self.chunk_bytes > MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_samples x frame size is {self.chunk_bytes} bytes; at most {MAX_CHUNK_BYTES}")
        if self.kind is StreamKind.AUDIO and self.chunk_samples < self.period:
            raise ValueError(f"chunk_samples {self.chunk_samples} is smaller than one period ({self.period})")
        return self

    @property
    def period(self) -> int:
        return self.period_frames or DEFAULT_PERIOD_FRAMES

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame for audio; MIDI chunks count bytes, so 1."""
        return self.channels * self.sample_format.bytes_per_sample if self.kind is StreamKind.AUDIO else 1

    @property
    def chunk_bytes(self) -> int:
        return self.chunk_samples * self.frame_bytes

    @classmethod
    def parse(cls, value: dict[str, Any]) -> "StreamDefinition":
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            raise DefinitionError(explain(exc)) from None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "StreamDefinition":
        return cls.parse({
            "uri": wire["uri"], "device": wire["device"], "kind": wire["kind"],
            "sample_rate": wire["sampleRate"], "channels": wire["channels"],
            "sample_format": wire["sampleFormat"], "chunk_samples": wire["chunkSamples"],
            "period_frames": wire["periodFrames"],
        })

    def to_wire(self) -> dict[str, Any]:
        return {
            "uri": self.uri, "device": self.device, "kind": self.kind.value, "sampleRate": self.sample_rate,
            "channels": self.channels, "sampleFormat": self.sample_format.value,
            "chunkSamples": self.chunk_samples, "periodFrames": self.period_frames,
        }


def explain(exc: ValidationError) -> str:
    """Pydantic errors as `field: rule (got value)`, joined."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "definition"
        got = f" (got {err['input']!r})" if err["type"] not in ("missing", "extra_forbidden") and not isinstance(err["input"], dict) else ""
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{field}: {msg}{got}")
    return "; ".join(parts)
