"""A sound card that plays a counter: frame k of channel c is (k + 1) * 8 + c, as s32.

It feeds the ALSA `file` plugin through a FIFO in real time and behaves like
hardware: its clock runs whether anyone listens or not, so periods nobody
reads (chaosgarden dead, device unplugged) are gone, not queued. Every
recorded sample therefore says which source frame it is, and the analysis
can tell lost, duplicated and shifted audio apart.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import termios
import threading
import time
from pathlib import Path

import numpy as np

RATE = 48000
PERIOD = 1024
CHANNELS = 2
FRAME_BYTES = 4
# A card holds a few periods; a reader further behind than this overruns it.
HELD_PERIODS = 6
# A card's clock is hardware: nothing on the machine delays it. As root the writer thread gets a
# SCHED_FIFO priority above chaosgarden's capture threads (70), so a late period is the reader's fault.
CARD_PRIORITY = 80


def counter_frames(first: int, frames: int, channels: int = CHANNELS) -> np.ndarray:
    """Source frames `first`.. as an int32 array (frames, channels)."""
    k = np.arange(first + 1, first + frames + 1, dtype=np.int64)[:, None]
    return (k * 8 + np.arange(channels)).astype("<i4")


def source_frame(values: np.ndarray) -> np.ndarray:
    """The source frame index each recorded frame carries (-1 for silence or garbage)."""
    v = values.astype(np.int64)
    ok = np.all(v == (v[:, :1] // 8) * 8 + np.arange(values.shape[1]), axis=1) & (v[:, 0] > 0)
    return np.where(ok, v[:, 0] // 8 - 1, -1)


class CounterCard:
    """The writer end of the FIFO, on its own thread, one period per write."""

    def __init__(self, path: Path, channels: int = CHANNELS, period: int = PERIOD) -> None:
        self.path = path
        self.channels = channels
        self.period = period
        self.period_bytes = period * channels * FRAME_BYTES
        os.mkfifo(path)
        self.frame = 0  # the source clock, in frames since start()
        self.delivered = 0  # frames written into the pipe
        self.overruns = 0  # periods dropped while a reader was connected but behind
        self.overrun_log: list[str] = []  # when each happened and how late the card's own thread was
        self.realtime = False
        self.worst_lateness_s = 0.0  # the card thread's own worst wake-up delay
        self.connected = threading.Event()
        self._unplugged = threading.Event()
        self._stop = threading.Event()
        self._fd: int | None = None
        self._thread = threading.Thread(target=self._run, name="counter card", daemon=True)

    def start(self) -> "CounterCard":
        self._thread.start()
        return self

    def unplug(self) -> None:
        """The card goes: the FIFO disappears and the reader's pipe closes."""
        self._unplugged.set()
        time.sleep(0.05)  # let the writer thread close its end
        self.path.unlink()

    def plug(self) -> None:
        os.mkfifo(self.path)
        self._unplugged.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(CARD_PRIORITY))
            self.realtime = True
        except PermissionError:
            pass  # not root: the card's clock shares the CPU like any thread
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = t0 + (self.frame + self.period) / RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self.worst_lateness_s = max(self.worst_lateness_s, -delay)
            self._tick(-delay)
        self._close()

    def _tick(self, late_s: float) -> None:
        first = self.frame
        self.frame += self.period
        if self._unplugged.is_set():
            self._close()
            return
        if self._fd is None and not self._open():
            return
        pending = self._pending()
        if pending + self.period_bytes > HELD_PERIODS * self.period_bytes:
            self.overruns += 1
            self.overrun_log.append(f"{time.strftime('%H:%M:%S')} frame {first}: reader {pending // self.period_bytes}"
                                    f" periods behind, card thread {late_s * 1000:.0f} ms late")
            return
        try:
            written = os.write(self._fd, counter_frames(first, self.period, self.channels).tobytes())
        except BrokenPipeError:
            self._close()  # the reader went; what was in the pipe goes with it, like a card's buffer
            return
        assert written == self.period_bytes, "a period must reach the pipe in one write"
        self.delivered += self.period

    def _open(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):  # no reader yet, or unplugged
                return False
            raise
        # Blocking from here on: with room for a whole period, a write lands whole before any read.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, max(65536, HELD_PERIODS * self.period_bytes))
        self._fd = fd
        self.connected.set()
        return True

    def _pending(self) -> int:
        buf = array.array("i", [0])
        fcntl.ioctl(self._fd, termios.FIONREAD, buf)
        return buf[0]

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self.connected.clear()
