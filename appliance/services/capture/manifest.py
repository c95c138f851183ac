"""A stream's manifest: which sealed chunks hold which samples, the live edge, and its clocks.

While a stream records, its manifest is a JSON file in CAS staging, replaced
by atomic rename (file and directory fsynced) after every change, so a crash
leaves the old or the new manifest and never half of one. When the stream
stops the manifest is sealed into CAS content like any other file.

Positions are samples, counted on the stream from its first start (gaps keep
the count true across the time nothing was recorded). For MIDI streams a
chunk's `first_sample`/`samples` span the samples of its records and `bytes`
is its size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.proto.stream_definition import StreamDefinition

FORMAT_VERSION = 1


class ManifestError(ValueError):
    """A manifest file that cannot be read or does not validate; names the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkRef(_Model):
    digest: str  # BLAKE3 of the sealed chunk
    first_sample: int = Field(ge=0)
    samples: int = Field(ge=0)
    bytes: int = Field(ge=0)

    @property
    def end_sample(self) -> int:
        return self.first_sample + self.samples


class LiveEdge(_Model):
    """The chunk chaosgarden is writing now: readable up to the last notified head."""

    path: str
    first_sample: int = Field(ge=0)
    head_sample: int = Field(ge=0)  # exclusive: frames below it are safe to read
    head_bytes: int = Field(ge=0)


class ClockSnapshot(_Model):
    sample: int
    monotonic_ns: int
    realtime_ns: int
    midi_ticks: int = -1
    reason: str


class Gap(_Model):
    """Samples with no recording behind them (chaosgarden was down): read as silence."""

    start_sample: int = Field(ge=0)
    samples: int = Field(ge=0)
    reason: str


class Manifest(_Model):
    version: int = FORMAT_VERSION
    stream: str
    definition: StreamDefinition
    definition_digest: str = ""
    state: Literal["recording", "stopped"] = "recording"
    chunks: list[ChunkRef] = Field(default_factory=list)
    live: LiveEdge | None = None
    clocks: list[ClockSnapshot] = Field(default_factory=list)
    gaps: list[Gap] = Field(default_factory=list)

    @property
    def head_sample(self) -> int:
        """The end of what can be read: the live head, else the last sealed chunk's end."""
        if self.live is not None:
            return self.live.head_sample
        ends = [c.end_sample for c in self.chunks] + [g.start_sample + g.samples for g in self.gaps]
        return max(ends, default=0)

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=None).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str = "manifest") -> "Manifest":
        try:
            return cls.model_validate(json.loads(data))
        except (ValueError, ValidationError) as exc:
            raise ManifestError(f"{where}: not a valid stream manifest: {exc}") from None


def write_atomically(path: Path, manifest: Manifest) -> None:
    """Replace `path` with `manifest`: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, manifest.to_json())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read(path: Path) -> Manifest:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror}") from None
    return Manifest.from_json(data, str(path))
