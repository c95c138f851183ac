"""A window of a stream as numbers to analyse: audio as float32 samples, MIDI as its records.

Audio is read through the slicer's own block reader (chunks, gaps as
silence, the live edge), so what is analysed is exactly what `stream_slice`
would cut. Integer formats are scaled so that full scale is 1.0, the
convention dBFS figures are stated in.
"""

from __future__ import annotations

import numpy as np

from appliance.cas import ContentStore
from appliance.proto.stream_definition import SampleFormat, StreamDefinition
from appliance.services.slicing.slicer import SlicePlan, pick_channels, read_blocks

FULL_SCALE = {SampleFormat.S16: 2.0 ** 15, SampleFormat.S24: 2.0 ** 23, SampleFormat.S24IN32: 2.0 ** 23,
              SampleFormat.S32: 2.0 ** 31}


def read_audio(plan: SlicePlan, store: ContentStore, channels: list[int]) -> np.ndarray:
    """The window's `channels` as float32, shaped (samples, len(channels)), full scale 1.0."""
    definition = plan.definition
    picked = definition.model_copy(update={"channels": len(channels)})
    out = np.empty((plan.end - plan.start, len(channels)), dtype=np.float32)
    row = 0
    for block in read_blocks(plan, store):
        # Picked as bytes first, as a slice with channels is: the channels not asked for are never converted.
        frames = as_float(bytes(pick_channels(block, definition, channels)), picked)
        out[row:row + len(frames)] = frames
        row += len(frames)
    return out[:row]


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
