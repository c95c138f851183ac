"""A stream's raw sample bytes as numbers: integer formats scaled so that full scale is 1.0.

Shared by analysis (which measures in dBFS) and by slices written in another
sample format than recorded.
"""

from __future__ import annotations

import numpy as np

from appliance.proto.stream_definition import SampleFormat, StreamDefinition

FULL_SCALE = {SampleFormat.S16: 2.0 ** 15, SampleFormat.S24: 2.0 ** 23, SampleFormat.S24IN32: 2.0 ** 23,
              SampleFormat.S32: 2.0 ** 31}


def as_float(data: bytes, definition: StreamDefinition) -> np.ndarray:
    """Interleaved little-endian frames in the stream's format as float32 (frames, channels)."""
    fmt = definition.sample_format
    if fmt is SampleFormat.F32:
        values = np.frombuffer(data, dtype="<f4")
    elif fmt is SampleFormat.S16:
        values = np.frombuffer(data, dtype="<i2") / FULL_SCALE[fmt]
    elif fmt is SampleFormat.S24:
        # Packed 3-byte samples: placed in the top of an int32 so the sign comes with them, then scaled down.
        packed = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
        widened = (packed[:, 0] << 8 | packed[:, 1] << 16 | packed[:, 2] << 24).view(np.int32)
        values = widened / (FULL_SCALE[SampleFormat.S32])
    elif fmt is SampleFormat.S24IN32:
        # 24 significant bits low-aligned: shifted up to take the sign, as for packed s24.
        values = (np.frombuffer(data, dtype="<i4") << 8) / FULL_SCALE[SampleFormat.S32]
    else:
        values = np.frombuffer(data, dtype="<i4") / FULL_SCALE[fmt]
    return np.asarray(values, dtype=np.float32).reshape(-1, definition.channels)
