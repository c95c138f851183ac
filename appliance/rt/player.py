"""What chaosgarden plays: timeline regions and auditions, prepared here and handed to the playback and MIDI threads.

The control thread decodes content in a worker thread (never in a realtime
loop), then publishes new immutable tables to the threads. Audio goes to the
playback PCM (`rt.playback_device`; "sim" discards it), MIDI to `rt.midi_out`
or, for an audition, to the port it names (a request/response session's
`midi_out`), each port with its own realtime thread. An output that cannot
be opened is logged and broadcast (`transport.output`) from here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.config import RtConfig
from appliance.proto.audition_messages import Audition, AuditionReply
from appliance.proto.channel import RequestError
from appliance.proto.timeline_messages import TimelineRegion
from appliance.proto.transport_messages import OutputStatus
from appliance.rt.beat_clock import NS, SampleClock, TempoMap, TempoMapView
from appliance.rt.midi_out import AUDITION_LEAD_S, MidiBurst, MidiOutThread
from appliance.rt.playback import CHANNELS, AudioAudition, PlaybackThread
from appliance.rt.play_content import (
    MIME_MIDI, MIME_WAV, AudioRegion, AudioRegions, ContentError, MidiEvents, MidiSchedule, cut_midi, load_audio,
    load_midi, sounding_at,
)

log = logging.getLogger(__name__)

Broadcasts = list[tuple[str, str, OutputStatus]]
Prepared = AudioRegion | tuple[float, MidiEvents]
OUTPUT_REPEAT_S = 2.0  # a standing output error is broadcast again this often, for subscribers that joined late
REGIONS_NAMED = 20  # an unknown region id's error lists at most this many of the placed ones


class Player:
    def __init__(self, config: RtConfig, clock: SampleClock, transport: TempoMap) -> None:
        self.config, self.clock, self.transport = config, clock, transport
        self.playback: PlaybackThread | None = None
        if config.playback_device != "sim":
            self.playback = PlaybackThread(config.playback_device, clock, TempoMapView(transport),
                                           config.playback_period_frames, config.playback_clock == "device",
                                           config.priority)
        self.midi_outs: dict[str, MidiOutThread] = {}
        self.placed: dict[str, TimelineRegion] = {}  # the timeline as asked for, by region id
        self.audio_regions: dict[str, AudioRegion] = {}
        self.midi_regions: dict[str, tuple[float, MidiEvents]] = {}
        self._fading: list[AudioRegion] = []
        self._reported: dict[tuple[str, str], tuple[str, float]] = {}  # output -> (error, when last broadcast)

    def start(self) -> None:
        if self.playback is not None:
            self.playback.start()
        if self.config.midi_out:
            self._midi_out(self.config.midi_out)

    def stop(self) -> None:
        threads: list[MidiOutThread | PlaybackThread] = [*self.midi_outs.values(),
                                                         *([self.playback] if self.playback else [])]
        for thread in threads:
            thread.stop()
        for thread in threads:
            thread.join(2)

    def horizon_frames(self) -> int:
        return self.playback.horizon_frames() if self.playback is not None else 0

    def _midi_out(self, path: str) -> MidiOutThread:
        thread = self.midi_outs.get(path)
        if thread is None:
            thread = MidiOutThread(path, self.clock, TempoMapView(self.transport), self.config.priority)
            thread.start()
            self.midi_outs[path] = thread
        return thread

    async def schedule(self, region: TimelineRegion) -> None:
        """Place a region; a region id scheduled again is replaced."""
        prepared = await self._prepare_region(region)
        self.placed[region.region_id] = region
        self._install(region.region_id, prepared)

    async def restore(self, regions: Sequence[TimelineRegion]) -> list[str]:
        """Put saved regions back (chaosgarden restarted); returns why each one that could not be was dropped.

        They are listed at once and sound as each is decoded; one removed or
        replaced meanwhile is left as the newer command made it.
        """
        dropped = []
        for region in regions:
            self.placed[region.region_id] = region
        for region in regions:
            try:
                prepared = await self._prepare_region(region)
            except RequestError as exc:
                if self.placed.get(region.region_id) is region:
                    del self.placed[region.region_id]
                    dropped.append(f"{region.region_id} ({region.artifact_id or region.content_path}): {exc.message}")
                continue
            if self.placed.get(region.region_id) is region:
                self._install(region.region_id, prepared)
        return dropped

    def remove(self, region_id: str) -> TimelineRegion:
        """Take a region off the timeline: sounding audio fades out within a period, sounding MIDI notes get their
        note-offs now. Returns the region as it was placed."""
        region = self.placed.pop(region_id, None)
        if region is None:
            raise RequestError("notFound", f"no region {region_id!r} on the timeline; {self._placed_ids()}")
        self._uninstall(region_id, fade=True)
        return region

    def regions(self) -> list[TimelineRegion]:
        """The placed regions in beat order."""
        return sorted(self.placed.values(), key=lambda r: (r.at_beat, r.region_id))

    async def _prepare_region(self, region: TimelineRegion) -> Prepared:
        path, mime, at = _content_path(region.content_path), region.mime, region.at_beat
        end = at + region.duration_beats if region.duration_beats > 0 else math.inf
        if not at >= 0:
            raise RequestError("badRequest", f"timelineSchedule: atBeat must be >= 0; got {at}")
        if mime == MIME_WAV:
            audio = await self._prepare(load_audio, path, self.clock.sample_rate, CHANNELS, region.gain)
            return AudioRegion(region.region_id, at, end, audio)
        if mime == MIME_MIDI:
            self._configured_midi_out()
            events = await self._prepare(load_midi, path)
            if end != math.inf:
                events = cut_midi(events, end - at, by_beats=True)
            return at, events
        raise RequestError("badRequest", f"mime: {mime!r} cannot be played; playable are {MIME_WAV}, {MIME_MIDI}")

    def _install(self, region_id: str, prepared: Prepared) -> None:
        """Hand a prepared region to its thread, in place of whatever had its id (perhaps of the other kind)."""
        self._uninstall(region_id, fade=False)
        if isinstance(prepared, AudioRegion):
            self.audio_regions[region_id] = prepared
            self._publish_audio()
        else:
            self.midi_regions[region_id] = prepared
            self._configured_midi_out().schedule = MidiSchedule.of(list(self.midi_regions.values()))

    def _uninstall(self, region_id: str, fade: bool) -> None:
        """Take a region from its thread; `fade`: let sounding audio fade out (a replaced region just stops, so its
        successor does not sound twice); sounding MIDI notes are always ended."""
        view = TempoMapView(self.transport)
        if region_id in self.audio_regions:
            region = self.audio_regions.pop(region_id)
            beat = view.beat_at(self.clock.now_sample() + self.horizon_frames())
            if fade and view.playing() and region.at_beat <= beat < region.end_beat:
                self._fading.append(region.fading(beat, view.jumps))
            self._publish_audio()
        if region_id in self.midi_regions:
            at, events = self.midi_regions.pop(region_id)
            out = self._configured_midi_out()
            out.schedule = MidiSchedule.of(list(self.midi_regions.values()))
            out.at_once.extend(sounding_at(events, view.beat_at(self.clock.now_sample()) - at))

    def _publish_audio(self) -> None:
        """A new region table for the playback thread; fades of an earlier transport run are dropped."""
        runs = TempoMapView(self.transport).jumps
        self._fading = [r for r in self._fading if r.run == runs]
        if self.playback is not None:
            self.playback.regions = AudioRegions((*self.audio_regions.values(), *self._fading))

    def _placed_ids(self) -> str:
        if not self.placed:
            return "the timeline has no regions"
        ids = [r.region_id for r in self.regions()]
        more = f" and {len(ids) - REGIONS_NAMED} more" if len(ids) > REGIONS_NAMED else ""
        return f"placed: {', '.join(ids[:REGIONS_NAMED])}{more}"

    # -- outputs ---------------------------------------------------------------
    def outputs(self) -> tuple[OutputStatus, ...]:
        """Every output timeline content goes to, with why it cannot play (empty error: it can)."""
        audio = [] if self.playback is None else [
            OutputStatus(kind="audio", device=self.playback.device, error=self.playback.error)]
        midi = [OutputStatus(kind="midi", device=path, error=t.error) for path, t in self.midi_outs.items()]
        return (*audio, *midi)

    def collect(self) -> Broadcasts:
        """OutputStatus for each output whose error changed (logged), or still stands after OUTPUT_REPEAT_S."""
        broadcasts: Broadcasts = []
        now = time.monotonic()
        for status in self.outputs():
            key, error = (status.kind, status.device), status.error
            last, when = self._reported.get(key, ("", 0.0))
            if error != last:
                if error:
                    log.error("%s output %s: %s", status.kind, status.device, error)
                else:
                    log.info("%s output %s is playing again", status.kind, status.device)
            elif not error or now - when < OUTPUT_REPEAT_S:
                continue
            self._reported[key] = (error, now)
            broadcasts.append(("transport.output", OutputStatus.KIND, status))
        return broadcasts

    async def audition(self, audition: Audition) -> AuditionReply:
        """Play content now, outside the timeline; answer when and for how long it sounds."""
        path, mime, seconds = _content_path(audition.content_path), audition.mime, audition.duration_seconds
        if mime == MIME_WAV:
            audio = await self._prepare(load_audio, path, self.clock.sample_rate, CHANNELS, audition.gain, seconds)
            start = math.ceil(self.clock.now_sample()) + self.horizon_frames()
            if self.playback is not None:
                self.playback.auditions.append(AudioAudition(start, audio))
            return self._reply(start, len(audio) / self.clock.sample_rate)
        if mime == MIME_MIDI:
            events = await self._prepare(load_midi, path)
            out = self._audition_out(audition.midi_out)
            if seconds > 0:
                events = cut_midi(events, seconds, by_beats=False)
            start_ns = time.monotonic_ns() + int(AUDITION_LEAD_S * NS)
            if events.messages:
                out.bursts.append(MidiBurst(tuple(start_ns + int(s * NS) for s in events.seconds), events.messages))
            return self._reply(math.ceil(self.clock.sample_at(start_ns)), events.length_seconds)
        raise RequestError("badRequest", f"mime: {mime!r} cannot be played; playable are {MIME_WAV}, {MIME_MIDI}")

    def _reply(self, start: int, seconds: float) -> AuditionReply:
        mono = self.clock.mono_at(start)
        return AuditionReply(duration_seconds=seconds, start_sample=start, start_monotonic_ns=mono,
                             start_realtime_ns=mono + time.time_ns() - time.monotonic_ns())

    def _audition_out(self, path: str) -> MidiOutThread:
        """The port an audition names (or the configured one). Each port gets a thread for good, so one is
        started only for a port that exists, once the content has loaded (the fuzz scenario's auditions to
        made-up ports left a thread and its locked 8 MB stack behind each)."""
        if not path:
            return self._configured_midi_out()
        if path not in self.midi_outs and not os.path.exists(path):
            raise RequestError("notFound", f"midiOut: {path!r} does not exist")
        return self._midi_out(path)

    def _configured_midi_out(self) -> MidiOutThread:
        if not self.config.midi_out:
            raise RequestError("badRequest", "MIDI content needs a MIDI output: set rt.midi_out "
                                             "(STUDIO_RT_MIDI_OUT) to a rawmidi path")
        return self._midi_out(self.config.midi_out)

    async def _prepare(self, load: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(load, *args)
        except ContentError as exc:
            raise RequestError("badRequest", str(exc)) from None


def _content_path(path: str) -> Path:
    p = Path(path)
    try:
        readable = p.is_absolute() and p.is_file()
    except OSError:  # a name too long for the filesystem, say: not found either, rather than an internal error
        readable = False
    if not readable:
        raise RequestError("notFound", f"contentPath: {path!r} is not a readable file")
    return p
