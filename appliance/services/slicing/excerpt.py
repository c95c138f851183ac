"""The first seconds of a cut WAV as a small WAV of its own: what `stream_slice` returns as audio content.

An excerpt travels base64 inside the tool's reply, so it is kept small: at
most the configured length (`[slicing] excerpt_max_seconds`), and 16-bit
whatever the stream records (s32 or f32 would double its size for detail no
listener hears in a preview; the artifact keeps every bit). The channels are
those of the slice, as asked: an excerpt of one input is that input alone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

MIME_EXCERPT = "audio/wav"


def wav_excerpt(path: Path, seconds: float) -> bytes:
    """The first `seconds` (or all, if shorter) of the WAV at `path` as a 16-bit WAV, in memory."""
    with sf.SoundFile(str(path)) as wav:
        frames = min(wav.frames, round(seconds * wav.samplerate))
        samples = wav.read(frames, dtype="float32", always_2d=True)
        rate = wav.samplerate
    out = io.BytesIO()
    # Clipped first: a float recording may pass full scale, and libsndfile does not clip when it converts.
    sf.write(out, np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    return out.getvalue()
