"""Sample formats as ALSA and numpy see them (the names are `proto.stream_definition.SampleFormat`)."""

from __future__ import annotations

import alsaaudio
import numpy as np

from appliance.proto.stream_definition import SampleFormat

ALSA_FORMAT = {
    SampleFormat.S16: alsaaudio.PCM_FORMAT_S16_LE,
    SampleFormat.S24: alsaaudio.PCM_FORMAT_S24_3LE,
    SampleFormat.S24IN32: alsaaudio.PCM_FORMAT_S24_LE,
    SampleFormat.S32: alsaaudio.PCM_FORMAT_S32_LE,
    SampleFormat.F32: alsaaudio.PCM_FORMAT_FLOAT_LE,
}

FULL_SCALE = {
    SampleFormat.S16: 32767.0,
    SampleFormat.S24: 8388607.0,
    SampleFormat.S24IN32: 8388607.0,
    SampleFormat.S32: 2147483647.0,
    SampleFormat.F32: 1.0,
}


def encode_float(samples: np.ndarray, fmt: SampleFormat) -> bytes:
    """Interleaved float samples in [-1, 1] as raw little-endian bytes of `fmt`."""
    if fmt is SampleFormat.F32:
        return samples.astype("<f4").tobytes()
    ints = np.round(np.clip(samples, -1.0, 1.0) * FULL_SCALE[fmt]).astype("<i4")
    if fmt is SampleFormat.S16:
        return ints.astype("<i2").tobytes()
    if fmt is SampleFormat.S24:
        return ints.reshape(-1, 1).view(np.uint8)[:, :3].tobytes()
    return ints.tobytes()
