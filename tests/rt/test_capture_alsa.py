"""Capture through the real ALSA library: the `file` plugin feeds a known waveform, bit-exact."""

import asyncio
import os
import random

import pytest

from appliance.proto.stream_definition import SampleFormat
from tests.support.alsa import PCM_NAME, PacedFifo, write_asoundrc
from tests.support.garden import audio_definition, until, wait_until

PERIOD = 256
CHANNELS = 2
PERIODS = 80  # 20480 frames: five 4096-frame chunks


@pytest.fixture
def fifo(short_tmp):
    fifo = PacedFifo(short_tmp / "in.fifo")
    yield fifo
    try:
        fifo.close()
    except OSError:
        pass


@pytest.fixture
def garden_env(short_tmp, fifo):
    home = short_tmp / "home"
    home.mkdir()
    return write_asoundrc(home, fifo.path)


def waveform(fmt: SampleFormat, frames: int) -> bytes:
    rng = random.Random(fmt.value)
    data = bytearray(rng.randbytes(frames * CHANNELS * fmt.bytes_per_sample))
    if fmt is SampleFormat.F32:  # keep floats finite so the bytes mean audio, not NaN payloads
        for i in range(3, len(data), 4):
            data[i] &= 0x3F
    return bytes(data)


@pytest.mark.parametrize("fmt", list(SampleFormat))
async def test_sealed_chunks_are_bit_exact(control, fifo, fmt):
    uri = f"stream://alsa/{fmt.value}"
    await control.start(audio_definition(uri, PCM_NAME, fmt.value, period=PERIOD))
    wave = waveform(fmt, PERIODS * PERIOD)
    await asyncio.to_thread(fifo.write_periods, wave, PERIOD * CHANNELS * fmt.bytes_per_sample, wait_until)
    rec = control.streams[uri]
    await control.until_captured(uri, PERIODS * PERIOD)
    stopping = asyncio.ensure_future(control.stop(uri))
    await asyncio.sleep(0.2)
    fifo.close()  # unblocks the capture thread's read; that period comes after the stop and is dropped
    await stopping
    recorded = control.recording(uri)
    assert len(recorded) >= len(wave)
    assert recorded[: len(wave)] == wave
    assert [first for first, _n, _d in sorted(rec.sealed)][:5] == [0, 4096, 8192, 12288, 16384]
    assert not [e for e in rec.errors if e.kind != "deviceBack"]


async def test_head_reports_position_and_chunk(control, fifo):
    uri = "stream://alsa/head"
    await control.start(audio_definition(uri, PCM_NAME, "s16", period=PERIOD))
    await asyncio.to_thread(fifo.write_periods, waveform(SampleFormat.S16, 20 * PERIOD), PERIOD * 4, wait_until)
    rec = control.streams[uri]
    await control.until_captured(uri, 20 * PERIOD)
    await until(lambda: rec.heads and rec.heads[-1].sample == 20 * PERIOD)
    head = rec.heads[-1]
    assert head.byte_position == (20 * PERIOD - 4096) * 4  # second chunk, past its start
    assert head.chunk_first_sample == 4096
    assert os.path.exists(head.chunk_path)
    assert head.monotonic_ns > 0 and head.realtime_ns > head.monotonic_ns
    stopping = asyncio.ensure_future(control.stop(uri))
    await asyncio.sleep(0.2)
    fifo.close()
    await stopping


async def test_ring_is_emptied_into_chunks_of_its_own_at_stop(control, fifo):
    """No spare comes back; what waits in the RAM ring at stop still ends up in sealed chunks."""
    control.hand_spares = False
    uri = "stream://alsa/ring"
    await control.start(audio_definition(uri, PCM_NAME, "s16", period=PERIOD), spares=1)  # two chunks in all
    wave = waveform(SampleFormat.S16, PERIODS * PERIOD)  # five chunks' worth
    await asyncio.to_thread(fifo.write_periods, wave, PERIOD * CHANNELS * 2, wait_until)
    await control.until_captured(uri, PERIODS * PERIOD)
    stopping = asyncio.ensure_future(control.stop(uri))
    await asyncio.sleep(0.2)
    fifo.close()
    await stopping
    recorded = control.recording(uri)
    assert recorded[: len(wave)] == wave
    assert len(control.streams[uri].sealed) >= 5
