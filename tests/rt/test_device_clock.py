"""The beat clock follows a paced playback device (`playback_clock = "device"`, the default on a box).

The "device" is the ALSA `file` plugin writing into a FIFO that this test
drains like a DAC whose crystal runs 5 % fast: it takes one period at a time
on its own schedule, so chaosgarden's writes block exactly as they would on
hardware. If the clock follows the device, the samples it counts match the
samples the device took; if it ran on CLOCK_MONOTONIC it would fall 5 %
behind.
"""

import asyncio
import bisect
import fcntl
import os
import threading
import time

import pytest

from appliance.rt.playback import PERIODS

RATE = 48000
PERIOD = 256
FRAME = 8  # stereo s32
FAST = 1.05  # the device's crystal against CLOCK_MONOTONIC
F_SETPIPE_SZ = 1031
PIPE_BYTES = 4096  # the smallest pipe: two periods, so the FIFO adds almost nothing to the device's buffer


class FastDac(threading.Thread):
    """Drains the FIFO a period at a time at RATE * FAST, on absolute deadlines; logs (monotonic ns, frames)."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.done = fd, threading.Event()
        self.log: list[tuple[int, int]] = []

    def run(self) -> None:
        frames, started, n = 0, 0, 0
        while not self.done.is_set():
            if started:
                wait = started + n * PERIOD * 1e9 / (RATE * FAST) - time.monotonic_ns()
                if wait > 0:
                    time.sleep(wait / 1e9)
            try:
                data = os.read(self.fd, PERIOD * FRAME)
            except BlockingIOError:
                if not started:
                    time.sleep(0.001)  # chaosgarden has not begun to play yet
                continue
            if not data:
                time.sleep(0.001)
                continue
            started = started or time.monotonic_ns()
            frames += len(data) // FRAME
            n += 1
            self.log.append((time.monotonic_ns(), frames))

    def frames_at(self, mono_ns: int) -> float:
        """Frames the device had taken at `mono_ns`, interpolated between its reads."""
        times = [t for t, _f in self.log]
        i = bisect.bisect_left(times, mono_ns)
        assert 0 < i < len(times), "asked about a moment outside the test's own reads"
        (t0, f0), (t1, f1) = self.log[i - 1], self.log[i]
        return f0 + (f1 - f0) * (mono_ns - t0) / (t1 - t0)


@pytest.fixture
def dac(short_tmp):
    path = short_tmp / "dac.fifo"
    os.mkfifo(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader exists before chaosgarden opens its end
    fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
    reader = FastDac(fd)
    reader.start()
    yield path, reader
    reader.done.set()
    reader.join(5)
    os.close(fd)


@pytest.fixture
def garden_env(short_tmp, dac):
    home = short_tmp / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(
        f'pcm.dac {{\n type file\n slave.pcm "null"\n file "{dac[0]}"\n format "raw"\n}}\n')
    return {"HOME": str(home), "STUDIO_RT_PLAYBACK_DEVICE": "dac", "STUDIO_RT_PLAYBACK_CLOCK": "device",
            "STUDIO_RT_PLAYBACK_PERIOD_FRAMES": str(PERIOD)}


async def status(control) -> dict:
    return (await control.request("transportCommand", {"status": None}, timeout=10, retries=0)).value


async def test_the_clock_counts_the_samples_the_device_takes(control, dac):
    _path, reader = dac
    await control.request("transportCommand", {"tempo": 120.0}, timeout=10, retries=0)
    await control.request("transportCommand", {"play": None}, timeout=10, retries=0)
    while len(reader.log) < 200:  # a second of playing: the device's pace is established
        await asyncio.sleep(0.05)
    first = await status(control)
    await asyncio.sleep(4.0)
    last = await status(control)
    while reader.log[-1][0] <= last["monotonicNs"]:  # the device's reads on both sides of that moment
        await asyncio.sleep(0.01)
    clock = last["samplePosition"] - first["samplePosition"]
    taken = reader.frames_at(last["monotonicNs"]) - reader.frames_at(first["monotonicNs"])
    nominal = (last["monotonicNs"] - first["monotonicNs"]) * RATE / 1e9
    # What the device holds (its buffer and the pipe) is the most the two can differ at either end.
    held = (PERIODS + PIPE_BYTES // (PERIOD * FRAME)) * PERIOD
    assert abs(clock - taken) <= 2 * held, (clock, taken, nominal)
    assert clock - nominal > 0.5 * (FAST - 1) * nominal, (clock, taken, nominal)  # not CLOCK_MONOTONIC's pace
    beats = last["beat"] - first["beat"]
    samples_per_beat = RATE / 2  # 120 bpm
    # Beats are the device's samples (the positions are whole samples, rounded at each end).
    assert beats == pytest.approx(clock / samples_per_beat, abs=1 / samples_per_beat)
    await control.request("transportCommand", {"stop": None}, timeout=10, retries=0)
