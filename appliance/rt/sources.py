"""What a capture thread reads from: an ALSA PCM, a raw MIDI port, or the simulated Eurorack.

A source reads one period (audio) or one burst (MIDI) per call and stamps it
with the CLOCK_MONOTONIC time its last frame arrived. Trouble is raised, not
returned: `Overrun` (frames were lost; the source has recovered) and
`DeviceLost` (unplugged or unreadable; the caller reopens later).
"""

from __future__ import annotations

import errno
import os
import select
import time
from dataclasses import dataclass

import alsaaudio

from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sample_formats import ALSA_FORMAT

NS = 1_000_000_000


class Overrun(Exception):
    """The device overwrote frames nobody read; the source has been re-prepared."""


class DeviceLost(Exception):
    """The device is gone or unreadable; close it and try again later."""


class FormatRefused(ValueError):
    """The device would not grant the requested format; the message names both."""


@dataclass(frozen=True, slots=True)
class AudioSpec:
    device: str
    sample_rate: int
    channels: int
    sample_format: SampleFormat
    period_frames: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.sample_format.bytes_per_sample

    @property
    def period_bytes(self) -> int:
        return self.period_frames * self.frame_bytes

    @property
    def period_ns(self) -> int:
        return self.period_frames * NS // self.sample_rate


class AlsaPcmSource:
    """A capture PCM through pyalsaaudio (>= 0.11, which reports overruns as -EPIPE)."""

    PERIODS = 4

    def __init__(self, spec: AudioSpec) -> None:
        self.spec = spec
        self.pcm: alsaaudio.PCM | None = None
        self.last_end_ns = 0

    def open(self) -> None:
        spec = self.spec
        try:
            pcm = alsaaudio.PCM(
                type=alsaaudio.PCM_CAPTURE, mode=alsaaudio.PCM_NORMAL, device=spec.device,
                rate=spec.sample_rate, channels=spec.channels, format=ALSA_FORMAT[spec.sample_format],
                periodsize=spec.period_frames, periods=self.PERIODS,
            )
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceLost(f"cannot open ALSA PCM {spec.device!r}: {exc}") from None
        self._check_granted(pcm)
        self.pcm = pcm
        try:
            pcm.set_tstamp_mode(alsaaudio.PCM_TSTAMP_ENABLE)
            pcm.set_tstamp_type(alsaaudio.PCM_TSTAMP_TYPE_MONOTONIC)
        except alsaaudio.ALSAAudioError:
            pass  # plugins without timestamps: read() falls back to the system clock

    def _check_granted(self, pcm: alsaaudio.PCM) -> None:
        info, spec = pcm.info(), self.spec
        granted = {"rate": info["rate"], "channels": info["channels"], "period_size": info["period_size"],
                   "format": info["format"]}
        wanted = {"rate": spec.sample_rate, "channels": spec.channels, "period_size": spec.period_frames,
                  "format": ALSA_FORMAT[spec.sample_format]}
        if granted != wanted:
            pcm.close()
            diffs = ", ".join(f"{k} {wanted[k]} asked, {granted[k]} granted" for k in wanted if wanted[k] != granted[k])
            raise FormatRefused(f"ALSA PCM {spec.device!r} refused the stream format: {diffs}")

    def read(self) -> bytes:
        pcm = self.pcm
        if pcm is None:
            raise DeviceLost(f"ALSA PCM {self.spec.device!r} is not open")
        try:
            frames, data = pcm.read()
        except alsaaudio.ALSAAudioError as exc:
            raise DeviceLost(f"ALSA PCM {self.spec.device!r}: {exc}") from None
        if frames <= 0:
            self._trouble(pcm, frames)
        sec, nsec, _avail = pcm.htimestamp()
        stamp = sec * NS + nsec
        self.last_end_ns = stamp if stamp > 0 else time.monotonic_ns()
        return data

    def _trouble(self, pcm: alsaaudio.PCM, frames: int) -> None:
        if frames == -errno.EPIPE:
            raise Overrun()
        if frames < 0 or pcm.state() == alsaaudio.PCM_STATE_DISCONNECTED:
            reason = os.strerror(-frames) if frames < 0 else "disconnected"
            raise DeviceLost(f"ALSA PCM {self.spec.device!r}: {reason}")

    def close(self) -> None:
        if self.pcm is not None:
            self.pcm.close()
            self.pcm = None


class RawMidiSource:
    """A raw MIDI port (`/dev/snd/midiC1D0`) or any readable file or FIFO standing in for one."""

    POLL_MS = 50

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.poller = select.poll()
        self.last_end_ns = 0

    def open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise DeviceLost(f"cannot open raw MIDI {self.path}: {exc.strerror}") from None
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN | select.POLLERR | select.POLLHUP)

    def read(self) -> bytes:
        """Bytes that arrived, or b"" after POLL_MS of quiet (so a stop request is seen)."""
        events = self.poller.poll(self.POLL_MS)
        if not events:
            return b""
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise DeviceLost(f"raw MIDI {self.path}: {exc.strerror}") from None
        if not data:
            raise DeviceLost(f"raw MIDI {self.path}: closed")
        self.last_end_ns = time.monotonic_ns()
        return data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
