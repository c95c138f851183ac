"""The playback thread: timeline regions and auditions mixed a period at a time into an ALSA playback PCM.

Period k holds samples [k*P, (k+1)*P) of the beat clock, so what the device
plays is the clock. With `playback_clock = "device"` the PCM paces the loop
(writes block while its buffer is full) and each period re-anchors the
clock to the device's position; with "monotonic" the loop paces itself on
CLOCK_MONOTONIC, a few periods ahead (for unpaced PCMs such as the ALSA
`file` plugin over `null`, whose output file then holds sample n at byte
n * frame size).

The mix buffers are preallocated; numpy works in place. Regions and
auditions are handed over as immutable tables (see timeline.py). A removed
region that was sounding fades out over FADE_FRAMES instead of stopping
with a click.

A PCM that cannot be opened (or fails while playing) is tried again, first
after REOPEN_S and then less often, up to REOPEN_MAX_S (libasound prints each
failed open to stderr: the journal should not fill with them); `error` says
why meanwhile, and the control thread reports it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import alsaaudio
import numpy as np

from appliance.rt.beat_clock import NS, PLAYING, SampleClock, TempoMapView
from appliance.rt.realtime import set_fifo
from appliance.rt.play_content import AudioRegions

CHANNELS = 2
PERIODS = 4  # the device buffer, in periods
LEAD_PERIODS = 4  # how far ahead of the clock the monotonic-paced loop renders
FULL_SCALE = 2**31 - 1
FADE_FRAMES = 256  # about 5 ms: long enough not to click, short enough to sound like a stop
REOPEN_S = 1.0
REOPEN_MAX_S = 8.0


@dataclass(frozen=True, slots=True)
class AudioAudition:
    start_sample: int
    audio: np.ndarray


class PlaybackThread(threading.Thread):
    def __init__(self, device: str, clock: SampleClock, view: TempoMapView, period: int, paced_by_device: bool,
                 priority: int) -> None:
        super().__init__(name="playback", daemon=True)
        self.device, self.clock, self.view, self.period = device, clock, view, period
        self.paced_by_device = paced_by_device
        self.priority = priority
        self.regions = AudioRegions()  # replaced by the control thread
        self.auditions: deque[AudioAudition] = deque()  # appended by the control thread
        self.stopping = threading.Event()
        self.error = ""
        self.xruns = 0
        self._mix = np.zeros((period, CHANNELS), dtype=np.float32)
        self._out = np.zeros((period, CHANNELS), dtype="<i4")
        self._bytes = self._out.data.cast("B")
        self._tail = np.zeros((period, CHANNELS), dtype=np.float32)
        self._ramp = np.linspace(1.0, 0.0, FADE_FRAMES, endpoint=False, dtype=np.float32).reshape(-1, 1)
        self._playing: list[AudioAudition] = []

    def horizon_frames(self) -> int:
        """How far past "now" the loop may already have rendered: a command can only change later samples."""
        ahead = PERIODS if self.paced_by_device else LEAD_PERIODS
        return (ahead + 1) * self.period

    def stop(self) -> None:
        self.stopping.set()

    def open(self) -> alsaaudio.PCM:
        return alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL, device=self.device,
                             rate=self.clock.sample_rate, channels=CHANNELS, format=alsaaudio.PCM_FORMAT_S32_LE,
                             periodsize=self.period, periods=PERIODS)

    def run(self) -> None:
        if self.priority > 0:
            set_fifo(self.priority)  # refused: it says so, and the loop runs at normal priority
        retry = REOPEN_S
        while not self.stopping.is_set():
            try:
                pcm = self.open()
            except alsaaudio.ALSAAudioError as exc:
                self.error = f"cannot open playback PCM {self.device!r}: {exc}"
                self.stopping.wait(retry)
                retry = min(2 * retry, REOPEN_MAX_S)
                continue
            self.error, retry = "", REOPEN_S
            try:
                self._loop(pcm)
            except alsaaudio.ALSAAudioError as exc:
                self.error = f"playback PCM {self.device!r} failed: {exc}"
                self.stopping.wait(retry)
            finally:
                pcm.close()

    def _loop(self, pcm: alsaaudio.PCM) -> None:
        period, clock, stopped = self.period, self.clock, self.stopping.is_set
        lead_ns = LEAD_PERIODS * period * NS // clock.sample_rate
        start = period * int(clock.now_sample() // period + 1) if self.paced_by_device else 0
        k = start
        while not stopped():
            if not self.paced_by_device:
                wait = (clock.mono_at(k) - lead_ns - time.monotonic_ns()) / NS
                if wait > 0:
                    time.sleep(wait)
            self.render(k)
            if pcm.write(self._bytes) < 0:
                self.xruns += 1
            k += period
            if self.paced_by_device:
                self._follow_device(pcm, k)

    def _follow_device(self, pcm: alsaaudio.PCM, written: int) -> None:
        """The device says how much of what was written it still holds: the rest has sounded by its timestamp."""
        sec, nsec, avail = pcm.htimestamp()
        if sec or nsec:
            queued = PERIODS * self.period - avail
            self.clock.follow(written - queued, sec * NS + nsec)

    def render(self, first: int) -> None:
        """Mix the period starting at clock sample `first` into the output buffer."""
        mix = self._mix
        mix.fill(0.0)
        view = self.view
        view.refresh()
        if view.state_at(first) == PLAYING:
            self._mix_regions(first)
        self._mix_auditions(first)
        np.clip(mix, -1.0, 1.0, out=mix)
        np.multiply(mix, FULL_SCALE, out=self._out, casting="unsafe")

    def _mix_regions(self, first: int) -> None:
        view, mix, period = self.view, self._mix, self.period
        beat = view.beat_at(first)
        per_beat = 60.0 * self.clock.sample_rate / view.bpm
        for region in self.regions.regions:
            if beat >= region.end_beat or beat + period / per_beat <= region.at_beat:
                continue
            offset = round((beat - region.at_beat) * per_beat)  # where in the region this period starts
            limit = len(region.audio)
            if region.end_beat != math.inf:
                limit = min(limit, round((region.end_beat - region.at_beat) * per_beat))
            if region.fade_from == math.inf:
                _add(mix, region.audio, offset, limit, period)
            elif region.run == view.jumps:
                fade = round((region.fade_from - region.at_beat) * per_beat)
                self._add_fading(region.audio, offset, min(limit, fade + FADE_FRAMES), fade)

    def _add_fading(self, audio: np.ndarray, offset: int, limit: int, fade: int) -> None:
        """As _add, with the frames from `fade` on ramped down to silence (a removed region's tail)."""
        lo, hi = max(offset, 0), min(offset + self.period, limit)
        if lo >= hi:
            return
        tail = self._tail[: hi - lo]
        np.copyto(tail, audio[lo:hi])
        a = max(lo, fade)
        if a < hi:
            np.multiply(tail[a - lo :], self._ramp[a - fade : hi - fade], out=tail[a - lo :])
        target = self._mix[lo - offset : hi - offset]
        np.add(target, tail, out=target)

    def _mix_auditions(self, first: int) -> None:
        while self.auditions:
            self._playing.append(self.auditions.popleft())
        for audition in self._playing:
            _add(self._mix, audition.audio, first - audition.start_sample, len(audition.audio), self.period)
        if self._playing and first - self._playing[0].start_sample >= len(self._playing[0].audio):
            self._playing.pop(0)


def _add(mix: np.ndarray, audio: np.ndarray, offset: int, limit: int, period: int) -> None:
    """Add audio[offset : offset + period] (bounded by `limit`) into mix, aligned; negative offset starts later."""
    lo, hi = max(offset, 0), min(offset + period, limit)
    if lo < hi:
        np.add(mix[lo - offset : hi - offset], audio[lo:hi], out=mix[lo - offset : hi - offset])
