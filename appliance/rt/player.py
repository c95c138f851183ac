"""What chaosgarden plays: timeline regions and auditions, prepared here and handed to the playback and MIDI threads.

The control thread decodes content in a worker thread (never in a realtime
loop), then publishes new immutable tables to the threads. Audio goes to the
playback PCM (`rt.playback_device`; "sim" discards it), MIDI to `rt.midi_out`
or, for an audition, to the port it names (a request/response session's
`midi_out`), each port with its own realtime thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

from appliance.config import RtConfig
from appliance.proto.channel import RequestError
from appliance.rt.beat_clock import NS, SampleClock, Transport, TransportView
from appliance.rt.midi_out import AUDITION_LEAD_S, MidiBurst, MidiOutThread
from appliance.rt.playback import CHANNELS, AudioAudition, PlaybackThread
from appliance.rt.timeline import (
    MIME_MIDI, MIME_WAV, AudioRegion, AudioRegions, ContentError, MidiEvents, MidiSchedule, cut_midi, load_audio,
    load_midi,
)


class Player:
    def __init__(self, config: RtConfig, clock: SampleClock, transport: Transport) -> None:
        self.config, self.clock, self.transport = config, clock, transport
        self.playback: PlaybackThread | None = None
        if config.playback_device != "sim":
            self.playback = PlaybackThread(config.playback_device, clock, TransportView(transport),
                                           config.playback_period_frames, config.playback_clock == "device",
                                           config.priority)
        self.midi_outs: dict[str, MidiOutThread] = {}
        self.audio_regions: dict[str, AudioRegion] = {}
        self.midi_regions: dict[str, tuple[float, MidiEvents]] = {}

    def start(self) -> None:
        if self.playback is not None:
            self.playback.start()
        if self.config.midi_out:
            self._midi_out(self.config.midi_out)

    def stop(self) -> None:
        threads = [*self.midi_outs.values(), *([self.playback] if self.playback else [])]
        for thread in threads:
            thread.stop()
        for thread in threads:
            thread.join(2)

    def horizon_frames(self) -> int:
        return self.playback.horizon_frames() if self.playback is not None else 0

    def _midi_out(self, path: str) -> MidiOutThread:
        thread = self.midi_outs.get(path)
        if thread is None:
            thread = MidiOutThread(path, self.clock, TransportView(self.transport), self.config.priority)
            thread.start()
            self.midi_outs[path] = thread
        return thread

    async def schedule(self, value: dict[str, Any]) -> None:
        """Place a region; a region id scheduled again is replaced."""
        path, mime, at = _content_path(value["contentPath"]), value["mime"], value["atBeat"]
        end = at + value["durationBeats"] if value["durationBeats"] > 0 else math.inf
        if not at >= 0:
            raise RequestError("badRequest", f"timelineSchedule: atBeat must be >= 0; got {at}")
        if mime == MIME_WAV:
            audio = await self._prepare(load_audio, path, self.clock.sample_rate, CHANNELS, value["gain"])
            self.audio_regions[value["id"]] = AudioRegion(value["id"], at, end, audio)
            if self.playback is not None:
                self.playback.regions = AudioRegions(tuple(self.audio_regions.values()))
        elif mime == MIME_MIDI:
            out = self._configured_midi_out()
            events = await self._prepare(load_midi, path)
            if end != math.inf:
                events = cut_midi(events, end - at, by_beats=True)
            self.midi_regions[value["id"]] = (at, events)
            out.schedule = MidiSchedule.of(list(self.midi_regions.values()))
        else:
            raise RequestError("badRequest", f"mime: {mime!r} cannot be played; playable are {MIME_WAV}, {MIME_MIDI}")

    async def audition(self, value: dict[str, Any]) -> dict[str, Any]:
        """Play content now, outside the timeline; answer when and for how long it sounds."""
        path, mime, seconds = _content_path(value["contentPath"]), value["mime"], value["durationSeconds"]
        if mime == MIME_WAV:
            audio = await self._prepare(load_audio, path, self.clock.sample_rate, CHANNELS, value["gain"], seconds)
            start = math.ceil(self.clock.now_sample()) + self.horizon_frames()
            if self.playback is not None:
                self.playback.auditions.append(AudioAudition(start, audio))
            return self._reply(start, len(audio) / self.clock.sample_rate)
        if mime == MIME_MIDI:
            out = self._midi_out(value["midiOut"]) if value["midiOut"] else self._configured_midi_out()
            events = await self._prepare(load_midi, path)
            if seconds > 0:
                events = cut_midi(events, seconds, by_beats=False)
            start_ns = time.monotonic_ns() + int(AUDITION_LEAD_S * NS)
            if events.messages:
                out.bursts.append(MidiBurst(tuple(start_ns + int(s * NS) for s in events.seconds), events.messages))
            return self._reply(math.ceil(self.clock.sample_at(start_ns)), events.length_seconds)
        raise RequestError("badRequest", f"mime: {mime!r} cannot be played; playable are {MIME_WAV}, {MIME_MIDI}")

    def _reply(self, start: int, seconds: float) -> dict[str, Any]:
        mono = self.clock.mono_at(start)
        return {"durationSeconds": seconds, "startSample": start, "startMonotonicNs": mono,
                "startRealtimeNs": mono + time.time_ns() - time.monotonic_ns()}

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
    if not p.is_absolute() or not p.is_file():
        raise RequestError("notFound", f"contentPath: {path!r} is not a readable file")
    return p
