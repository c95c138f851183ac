"""A test sound card: an asoundrc whose PCM is the ALSA `file` plugin reading a known waveform."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

PCM_NAME = "studiotest"


def write_asoundrc(home: Path, infile: Path) -> dict[str, str]:
    """Define PCM `studiotest` (slave null, input from `infile`); return env pointing libasound at it."""
    (home / ".asoundrc").write_text(
        f'pcm.{PCM_NAME} {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
        f'  infile "{infile}"\n  format "raw"\n}}\n'
    )
    return {"HOME": str(home)}


class PacedFifo:
    """The waveform's writer end: whole periods, each written into an empty pipe.

    The file plugin returns a whole period per read even when the pipe holds
    less, so a period must never be split across two reads.
    """

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        # O_RDWR never blocks on a FIFO, and keeps the pipe open while the reader comes and goes.
        self.fd = os.open(path, os.O_RDWR)

    def pending(self) -> int:
        import fcntl
        import termios
        import array

        buf = array.array("i", [0])
        fcntl.ioctl(self.fd, termios.FIONREAD, buf)
        return buf[0]

    def write_periods(self, data: bytes, period_bytes: int, wait, period_seconds: float = 0.0) -> None:
        """Write `data` a period at a time; with `period_seconds`, as fast as a real card would deliver it."""
        assert len(data) % period_bytes == 0
        for at in range(0, len(data), period_bytes):
            wait(lambda: self.pending() == 0)
            assert os.write(self.fd, data[at : at + period_bytes]) == period_bytes
            if period_seconds:
                time.sleep(period_seconds)

    def close(self) -> None:
        os.close(self.fd)


def is_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(os.stat(path).st_mode)
