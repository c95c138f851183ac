"""The transport as the control thread runs it: commands in, TransportStateChanged / BeatTick / MarkerReached out.

Commands take effect at the output horizon: the first sample the playback
thread has not rendered yet (now, when nothing plays out). So "play at beat
0" means beat 0 is the first sample heard after the command, and ticks,
regions and MIDI events all agree on where each beat is.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from appliance.proto.channel import RequestError
from appliance.proto.transport_messages import (
    MARKER_REACHED, UNSET_LINK, BeatTick, LinkStatus, Marker, OutputStatus, TransportCommand, TransportStateChanged,
)
from appliance.rt.beat_clock import SampleClock, TempoMap, TempoMapView
from appliance.rt.beat_ticker import BeatTicker, MarkerTable

Broadcasts = list[tuple[str, str, TransportStateChanged | BeatTick | Marker]]
# What the Timekeeper adds to every state: the outputs and Ableton Link.
Reports = Callable[[], tuple[tuple[OutputStatus, ...], LinkStatus]]
MIN_BPM, MAX_BPM = 20.0, 400.0
# Over four years at 400 bpm. Far beyond it a float beat moves in steps of many ticks, and the clock thread
# emits every tick of each step at once (at 2**63 it spins a core); at 1e308 beats * resolution is inf.
MAX_BEAT = 1e9


class TransportControl:
    """Owns the beat clock thread and the markers; answers transportCommand and marker requests."""

    def __init__(self, clock: SampleClock, resolution: int, priority: int,
                 horizon_frames: Callable[[], int] = lambda: 0) -> None:
        self.clock = clock
        self.transport = TempoMap(clock.sample_rate)
        self.ticker = BeatTicker(clock, self.transport, resolution, priority)
        self.horizon_frames = horizon_frames
        self.reports: Reports = lambda: ((), UNSET_LINK)
        self.markers: dict[str, Marker] = {}
        self.changes: Broadcasts = []

    def start(self) -> None:
        self.ticker.start()

    def stop(self) -> None:
        self.ticker.stop()
        self.ticker.join(2)

    def horizon(self) -> float:
        """The first sample a command can still change."""
        return self.clock.now_sample() + self.horizon_frames()

    def command(self, command: TransportCommand) -> TransportStateChanged:
        """Apply one TransportCommand and return the TransportStateChanged it caused (or the status)."""
        verb, arg = command.verb, command.argument
        at = self.horizon()
        t = self.transport
        if verb == "play":
            t.play(at)
        elif verb == "pause":
            t.pause(at)
        elif verb == "stop":
            t.stop(at)
        elif verb == "seek":
            assert arg is not None  # the schema gives seek a Float64
            if not 0 <= arg <= MAX_BEAT:
                raise RequestError("badRequest", f"seek: beat must be from 0 to {MAX_BEAT:g}; got {arg}")
            t.seek(at, arg)
        elif verb == "tempo":
            assert arg is not None  # the schema gives tempo a Float64
            if not MIN_BPM <= arg <= MAX_BPM:
                raise RequestError("badRequest", f"tempo: bpm must be from {MIN_BPM:g} to {MAX_BPM:g}; got {arg}")
            t.tempo(at, arg)
        state = self.state(at)
        if verb != "status":
            self.changes.append(("transport.changed", TransportStateChanged.KIND, state))
        return state

    def state(self, at: float | None = None) -> TransportStateChanged:
        """TransportStateChanged at sample `at` (default: now)."""
        at = self.clock.now_sample() if at is None else at
        s = self.transport.state(at)
        mono = self.clock.mono_at(at)
        outputs, link = self.reports()
        return TransportStateChanged(state=s.state, beat=s.beat, tempo_bpm=s.tempo_bpm, sample=max(s.sample, 0),
                                     monotonic_ns=mono, realtime_ns=mono + _realtime_offset(), outputs=outputs,
                                     link=link)

    def resume(self, saved: TransportStateChanged) -> TransportStateChanged:
        """Put back a saved TransportStateChanged: tempo and state as they were, and a transport that was playing
        at the beat it would have reached by now (the music went on while chaosgarden was away)."""
        at = self.horizon()
        beat = saved.beat
        if saved.state == "playing":
            away_s = max(0, self.clock.mono_at(at) + _realtime_offset() - saved.realtime_ns) / 1e9
            beat += away_s * saved.tempo_bpm / 60.0
        self.transport.restore(at, saved.state, beat, saved.tempo_bpm)
        state = self.state(at)
        self.changes.append(("transport.changed", TransportStateChanged.KIND, state))
        return state

    def marker(self, marker: Marker) -> None:
        """Add or replace the marker `name`; the clock thread sees the new table on its next pass."""
        if not marker.name:
            raise RequestError("badRequest", "marker: name must not be empty")
        if not marker.beat >= 0:
            raise RequestError("badRequest", f"marker: beat must be >= 0; got {marker.beat}")
        self.markers[marker.name] = dataclasses.replace(marker, metadata_json=marker.metadata_json or "{}")
        self.ticker.markers = MarkerTable.of(list(self.markers.values()))

    def marker_list(self) -> list[Marker]:
        """The markers in beat order."""
        return sorted(self.markers.values(), key=lambda m: (m.beat, m.name))

    def view(self) -> TempoMapView:
        return TempoMapView(self.transport)

    def collect(self) -> Broadcasts:
        """Everything to publish since the last call, in order: state changes, ticks, markers."""
        out, self.changes = self.changes, []
        offset = _realtime_offset()
        for beat, bpm, sample, grid_ns, _emitted in self.ticker.ticks.drain():
            out.append(("beat.tick", BeatTick.KIND, BeatTick(beat=beat, tempo_bpm=bpm, sample=max(sample, 0),
                                                            monotonic_ns=grid_ns, realtime_ns=grid_ns + offset)))
        reached = self.ticker.reached
        while reached:
            out.append(("marker.reached", MARKER_REACHED, reached.popleft()))
        return out


def _realtime_offset() -> int:
    return time.time_ns() - time.monotonic_ns()
