"""chaosgarden's capture path against `arecord`, and its timing under load.

1. CPU time per second of audio: our capture loop (ALSA read, copy into
   mmap'd chunks) against `arecord` reading the same `file`-plugin PCM into
   a file. Target: at most 2x arecord's CPU.
2. Channels sustained at 96 kHz s32 on one core: a pacer writes N channels
   in real time into the FIFO behind the PCM; a reader sustains N when the
   pacer never falls behind. Ours against arecord's.
3. Wake-up lateness of the capture loop (SCHED_FIFO) with a competing CPU
   hog, against the same loop at normal priority: p50/p99/max.
4. How far the reader falls behind a card while other processes write to
   the same disk as fast as they can and the chunks turn over (prepared and
   released by a control thread, as in chaosgarden): the card, a real-time
   pacer, notes the periods waiting in its buffer at each write. Ours
   against arecord recording into a file on that disk.
"""

from __future__ import annotations

import fcntl
import os
import resource
import select
import subprocess
import sys
import termios
import time
from array import array
from pathlib import Path

import numpy as np

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.capture import AudioCapture
from appliance.rt.chunk_writer import ChunkWriter, MappedChunk
from appliance.rt.overflow_ring import OverflowRing
from appliance.rt.realtime import lock_memory, quiet_garbage_collector
from appliance.rt.sim_source import SimAudioSource
from appliance.rt.sources import AlsaPcmSource, AudioSpec
from bench.report import figure, require, scratch_dir

RATE = 48000
SECONDS = 120
PERIOD = 1024


def asoundrc(home: Path, infile: Path) -> None:
    (home / ".asoundrc").write_text(
        f'pcm.benchcap {{\n type file\n slave.pcm "null"\n file "/dev/null"\n infile "{infile}"\n format "raw"\n}}\n'
    )


def main() -> None:
    require("arecord", "rt_capture", "make bench installs alsa-utils")
    with scratch_dir("bench-rt-") as root:
        cpu_figure(root)
        channels_figure(root)
        jitter_figure(root)
        disk_load_figure(root)


# -- 1. CPU per second of audio ------------------------------------------
def cpu_figure(root: Path) -> None:
    frames = RATE * SECONDS
    infile = root / "wave.raw"
    infile.write_bytes(os.urandom(frames * 8))
    asoundrc(root, infile)
    env = {**os.environ, "HOME": str(root)}
    peer = _child_cpu(["arecord", "-q", "-D", "benchcap", "-f", "S32_LE", "-c", "2", "-r", str(RATE),
                       "--period-size=1024", "--buffer-size=4096", "-t", "raw", "-s", str(frames),
                       str(root / "arecord.raw")], env)
    ours = _child_cpu([sys.executable, "-m", "bench.rt_capture", "cpu-child", str(root), str(frames)], env)
    figure("capture CPU per audio second (48k s32 stereo)", ours / SECONDS * 1000, peer / SECONDS * 1000,
           "arecord", "ms", higher_is_better=False, target=0.5)


def _child_cpu(cmd: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"rt_capture: {cmd[0]} failed: {proc.stderr.strip()}")
    if cmd[0] == sys.executable:
        return float(proc.stdout.strip())
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_child(root: Path, frames: int) -> None:
    """Run in a child with HOME set: capture `frames`; print the capture thread's CPU seconds."""
    spec = AudioSpec("benchcap", RATE, 2, SampleFormat.S32, PERIOD)
    chunk_bytes = 131072 * spec.frame_bytes
    writer = ChunkWriter(frame_bytes=spec.frame_bytes, ring=OverflowRing(RATE * spec.frame_bytes))
    needed = frames * spec.frame_bytes // chunk_bytes + 2
    writer.spares.extend(MappedChunk.prepare(root / f"chunk{i}", chunk_bytes, i) for i in range(needed))
    source = AlsaPcmSource(spec)
    source.open()
    capture = AudioCapture("bench", source, writer, RATE, spec.frame_bytes, PERIOD, priority=70)
    capture.start()
    clock = time.pthread_getcpuclockid(capture.ident)
    while writer.samples_in_files < frames:
        time.sleep(0.01)
    used = time.clock_gettime(clock)
    capture.stop()
    capture.join()
    # Reads past the end of the file are garbage at full speed; count only the CPU of real frames.
    print(used * frames / writer.samples_in_files)


# -- 2. channels at 96 kHz s32 ---------------------------------------------
CHANNEL_STEPS = (2, 8, 16, 32, 64, 128, 256)
PACE_SECONDS = 3
PIPE_MAX = int(Path("/proc/sys/fs/pipe-max-size").read_text())


def channels_figure(root: Path) -> None:
    ours = _max_channels(root, "ours")
    peer = _max_channels(root, "arecord")
    figure("channels sustained at 96k s32 on one core", ours, peer, "arecord", "ch", higher_is_better=True,
           target=1.0)


def _max_channels(root: Path, reader: str) -> int:
    best = 0
    for channels in CHANNEL_STEPS:
        if not _sustains(root, reader, channels):
            break
        best = channels
    return best


def _sustains(root: Path, reader: str, channels: int) -> bool:
    fifo = root / f"pace-{reader}-{channels}.fifo"
    os.mkfifo(fifo)
    home = root / f"home-{reader}-{channels}"
    home.mkdir()
    asoundrc(home, fifo)
    env = {**os.environ, "HOME": str(home)}
    frames = 96000 * PACE_SECONDS
    if reader == "ours":
        cmd = [sys.executable, "-m", "bench.rt_capture", "pace-child", str(home), str(channels), str(frames)]
    else:
        cmd = ["arecord", "-q", "-D", "benchcap", "-f", "S32_LE", "-c", str(channels), "-r", "96000",
               "--period-size=1024", "-t", "raw", "-s", str(frames), "/dev/null"]
    fd = os.open(fifo, os.O_RDWR)
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        lag = _pace(fd, channels, frames)
    finally:
        os.close(fd)
        proc.kill()
        proc.wait()
    return lag < 0.25


def _pace(fd: int, channels: int, frames: int) -> float:
    """Write `frames` in real time, 1024 frames at a time; return how far behind the writer ended (s).

    A reader that keeps up lets the writer finish on time (give or take a
    scheduling hiccup); one that cannot falls further behind every period.
    """
    period = memoryview(bytes(1024 * channels * 4))
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(max(len(period) * 4, 65536), PIPE_MAX))
    os.set_blocking(fd, False)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    time.sleep(0.5)  # let the reader open the PCM and start
    start = time.monotonic()
    for i in range(frames // 1024):
        due = start + i * 1024 / 96000
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        sent = 0
        while sent < len(period):
            if not poller.poll(1000):
                return float("inf")  # the reader stopped reading
            try:
                sent += os.write(fd, period[sent:])
            except BlockingIOError:
                continue
    return time.monotonic() - start - frames / 96000


def pace_child(home: Path, channels: int, frames: int) -> None:
    spec = AudioSpec("benchcap", 96000, channels, SampleFormat.S32, 1024)
    chunk_bytes = 16384 * spec.frame_bytes
    writer = ChunkWriter(frame_bytes=spec.frame_bytes, ring=OverflowRing(96000 * spec.frame_bytes))
    writer.spares.extend(MappedChunk.prepare(home / f"c{i}", chunk_bytes, i) for i in range(frames // 16384 + 2))
    source = AlsaPcmSource(spec)
    source.open()
    capture = AudioCapture("bench", source, writer, 96000, spec.frame_bytes, 1024, priority=70)
    capture.start()
    capture.join()


# -- 3. wake-up lateness under load ----------------------------------------
class TimedSim(SimAudioSource):
    """The simulated card, noting how late each period reached the capture loop."""

    def __init__(self, spec: AudioSpec, periods: int) -> None:
        super().__init__(spec)
        self.late = array("q", bytes(8 * periods))
        self.n = 0

    def read(self):
        data = super().read()
        if self.n < len(self.late):
            self.late[self.n] = time.monotonic_ns() - self.last_end_ns
            self.n += 1
        return data


def jitter_figure(root: Path) -> None:
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", "while True: pass"])
    try:
        fifo = _lateness(root, priority=70)
        normal = _lateness(root, priority=0)
    finally:
        hog.kill()
        hog.wait()
    for name, q in (("p50", 50), ("p99", 99), ("max", 100)):
        figure(f"capture wake-up lateness {name} under CPU load", float(np.percentile(fifo, q)) / 1000,
               float(np.percentile(normal, q)) / 1000, "same loop at normal priority", "us",
               higher_is_better=False)


def _lateness(root: Path, priority: int) -> np.ndarray:
    periods = 300
    spec = AudioSpec("sim", 48000, 2, SampleFormat.S32, 480)
    writer = ChunkWriter(frame_bytes=8, ring=OverflowRing(48000 * 8))
    writer.spares.extend(MappedChunk.prepare(root / f"j{priority}-{i}", 48000 * 8, i) for i in range(4))
    source = TimedSim(spec, periods)
    source.open()
    capture = AudioCapture("jitter", source, writer, 48000, 8, 480, priority=priority)
    os.sched_setaffinity(0, {0})
    try:
        capture.start()
        while source.n < periods:
            time.sleep(0.05)
        capture.stop()
        capture.join()
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return np.array(source.late[: source.n], dtype=float)


# -- 4. behind the card while the disk is busy ------------------------------
DISK_SECONDS = 20
CARD_PERIODS = 6  # what the card holds; a reader further behind loses periods
CARD_PRIORITY = 80  # the card's clock is hardware: above the capture thread's 70
TURNOVER_FRAMES = 12000  # a chunk every 0.25 s, so preparing and releasing never stop


def disk_load_figure(root: Path) -> None:
    writer = subprocess.Popen(["sh", "-c", f"while :; do dd if=/dev/zero of={root}/load bs=1M count=1024 "
                                           "conv=fsync status=none; done"])
    try:
        ours = _behind_card(root, "ours")
        peer = _behind_card(root, "arecord")
    finally:
        writer.kill()
        writer.wait()
        subprocess.run(["pkill", "-f", f"of={root}/load"], check=False)
    periods = RATE * DISK_SECONDS // PERIOD
    figure("behind the card under disk write load, worst", max(ours[0], 1), max(peer[0], 1),
           "arecord into a file", "periods", higher_is_better=False)
    figure(f"periods kept of {periods} under disk write load", periods - ours[1], periods - peer[1],
           "arecord into a file", "periods", higher_is_better=True, target=1.0)


def _behind_card(root: Path, reader: str) -> tuple[float, int]:
    """Record DISK_SECONDS from a real-time card; return (worst periods waiting, periods it dropped)."""
    home = root / f"disk-{reader}"
    home.mkdir()
    fifo = home / "card.fifo"
    os.mkfifo(fifo)
    asoundrc(home, fifo)
    frames = RATE * DISK_SECONDS
    env = {**os.environ, "HOME": str(home)}
    if reader == "ours":
        cmd = [sys.executable, "-m", "bench.rt_capture", "disk-child", str(home), str(frames)]
    else:
        cmd = ["arecord", "-q", "-D", "benchcap", "-f", "S32_LE", "-c", "2", "-r", str(RATE),
               f"--period-size={PERIOD}", "-t", "raw", "-s", str(frames), str(home / "arecord.raw")]
    fd = os.open(fifo, os.O_RDWR)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        return _card(fd, frames)
    finally:
        os.close(fd)
        proc.kill()
        proc.wait()


def _card(fd: int, frames: int) -> tuple[float, int]:
    period = bytes(PERIOD * 8)
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 65536)
    os.set_blocking(fd, False)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(CARD_PRIORITY))
    except PermissionError:
        print("rt_capture: not root, so the card's clock is not real-time; figure 4 is noisier", flush=True)
    pending = array("i", [0])
    worst, dropped = 0, 0
    os.write(fd, period)  # the clock starts once the reader has taken a first period: it is running
    deadline = time.monotonic() + 60
    while fcntl.ioctl(fd, termios.FIONREAD, pending) == 0 and pending[0] and time.monotonic() < deadline:
        time.sleep(0.001)
    start = time.monotonic()
    try:
        for i in range(frames // PERIOD):
            due = start + (i + 1) * PERIOD / RATE
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            fcntl.ioctl(fd, termios.FIONREAD, pending)
            waiting = pending[0] // len(period)
            worst = max(worst, waiting)
            if waiting + 1 > CARD_PERIODS:
                dropped += 1
                continue
            os.write(fd, period)
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return worst, dropped


def disk_child(home: Path, frames: int) -> None:
    """Capture as chaosgarden does (memory locked, collector quiet), with a control thread turning chunks over."""
    lock_memory()
    quiet_garbage_collector()
    spec = AudioSpec("benchcap", RATE, 2, SampleFormat.S32, PERIOD)
    chunk_bytes = TURNOVER_FRAMES * spec.frame_bytes
    writer = ChunkWriter(frame_bytes=spec.frame_bytes, ring=OverflowRing(RATE * spec.frame_bytes))
    serial = iter(range(1 << 30))
    writer.spares.extend(MappedChunk.prepare(home / f"c{next(serial)}", chunk_bytes, 0) for _ in range(3))
    source = AlsaPcmSource(spec)
    source.open()
    capture = AudioCapture("bench", source, writer, RATE, spec.frame_bytes, PERIOD, priority=70)
    capture.start()
    while writer.samples_captured < frames:
        while writer.full:
            full = writer.full.popleft()
            full.chunk.release()
            full.chunk.path.unlink()
        while len(writer.spares) < 3:
            n = next(serial)
            writer.spares.append(MappedChunk.prepare(home / f"c{n}", chunk_bytes, n))
        time.sleep(0.01)
    capture.stop()
    capture.join()


if __name__ == "__main__":
    if sys.argv[1:2] == ["cpu-child"]:
        cpu_child(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["disk-child"]:
        disk_child(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["pace-child"]:
        pace_child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
