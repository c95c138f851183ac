"""Stream bytes in every recorded format, read as float32 at full scale 1.0 (what dBFS figures are stated in)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from appliance.proto.stream_definition import SampleFormat, StreamDefinition
from appliance.services.slicing.sample_values import as_float

VALUES = np.array([0.0, 0.5, -0.5, 0.25, -1.0, 0.999], dtype=np.float64)


def definition(fmt: SampleFormat) -> StreamDefinition:
    return StreamDefinition.parse({"uri": "stream://t/x", "device": "sim", "channels": 2, "sample_format": fmt.value})


@pytest.mark.parametrize("fmt, subtype", [(SampleFormat.S16, "PCM_16"), (SampleFormat.S24, "PCM_24"),
                                          (SampleFormat.S32, "PCM_32"), (SampleFormat.F32, "FLOAT")])
def test_each_format_reads_as_soundfile_reads_it(tmp_path, fmt: SampleFormat, subtype: str) -> None:
    path = tmp_path / "x.raw"
    stereo = np.stack([VALUES, -VALUES], axis=1)
    sf.write(path, stereo, 48000, subtype=subtype, format="RAW", endian="LITTLE")
    expected = sf.read(path, samplerate=48000, channels=2, subtype=subtype, format="RAW", endian="LITTLE",
                       dtype="float32")[0]
    got = as_float(path.read_bytes(), definition(fmt))
    assert got.dtype == np.float32 and got.shape == (len(VALUES), 2)
    assert np.array_equal(got, expected)


def test_s24_in_a_32_bit_container_takes_its_sign_from_bit_23() -> None:
    raw = np.array([0x400000, 0xC00000, 0x7FFFFF, 0x800000], dtype="<u4")  # +0.5, -0.5, max, -1.0
    got = as_float(raw.tobytes(), definition(SampleFormat.S24IN32)).reshape(-1)
    assert got.tolist() == [0.5, -0.5, pytest.approx(1 - 2 ** -23), -1.0]
