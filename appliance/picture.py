"""A picture an agent can look at: PNG bytes, their size in pixels, and what they show.

hootenanny draws the box's pictures (stream_analyze's waveform, spectrogram,
piano roll) and sends them as PNG beside a tool's JSON; vibeweaver hands them
to cells as this value and returns a cell's picture as MCP image content. It
is the box's picture rather than the kernel's, so it lives beside the process
packages, where either may use it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True, slots=True)
class Picture:
    """One PNG image. Its repr is short: a cell that shows it must not print megabytes of bytes."""

    png: bytes
    width: int
    height: int
    title: str = ""  # what it shows, e.g. "spectrogram"

    @classmethod
    def from_png(cls, png: bytes, title: str = "") -> Picture:
        """The picture in `png`; ValueError when those bytes are not a PNG image."""
        try:
            with Image.open(io.BytesIO(png)) as image:  # reads the header only
                kind, (width, height) = image.format, image.size
        except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
            raise ValueError(f"not an image: {exc}") from None
        if kind != "PNG":
            raise ValueError(f"a {kind} image, not a PNG")
        return cls(png, width, height, title)

    def __repr__(self) -> str:
        name = f"{self.title} " if self.title else ""
        return f"<Picture {name}{self.width}x{self.height} PNG, {len(self.png)} bytes>"
