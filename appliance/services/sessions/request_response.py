"""Request/response sessions: play MIDI to the hardware, record its audio answer, keep both as linked artifacts.

The MIDI goes out through chaosgarden (an audition on the session's
`midi_out`, started a short lead ahead so its first event is on time);
chaosgarden answers with the CLOCK_REALTIME its first event leaves at. The
answer is cut from the session's `audio_in` stream from that moment for the
MIDI's length plus a tail, and stored with the MIDI artifact as its parent.
The round-trip latency is the time from the first note-on to the first
sample of the answer that rises above the noise. mido, numpy and soundfile
are imported where they are used: they are a sixth of hootenanny's start,
which is on the box's boot path.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from pydantic import BaseModel, ConfigDict, Field

from appliance.cas import ContentStore
from appliance.proto.audition_messages import Audition
from appliance.services.results import ResultModel
from appliance.services.store.artifacts import ArtifactRecord, ArtifactStore
from appliance.services.service_error import ServiceError
from appliance.services.sessions.sessions import SessionService, SessionStatus
from appliance.services.slicing.slicer import MIME_MIDI, SliceError, SliceInfo, slice_stream
from appliance.services.capture.streams import StreamService
from appliance.services.slicing.timepoints import TimePointError, sample_at_realtime
from appliance.services.playback import Playback

ONSET_RATIO = 0.25  # the answer starts where it first reaches this share of its peak
NOISE_FLOOR = 0.01  # below this peak (full scale 1.0) nothing answered
HEAD_WAIT_S = 10.0  # how long the recording may lag behind the end of the window
PREROLL_NS = 100_000_000
CALIBRATION_NOTE = (60, 100, 0.1)  # note, velocity, seconds


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MidiEvent(_Args):
    at: float = Field(ge=0, le=3600, description="seconds from the start")
    message: list[int] = Field(min_length=1, max_length=3, description="MIDI bytes, e.g. [144, 60, 100]")


class RequestResult(ResultModel):
    """The MIDI sent and the audio answer recorded (its child), with the round trip measured between them."""

    session: str
    midi_artifact_id: str
    audio_artifact_id: str
    round_trip_latency_seconds: float | None = Field(description="null when nothing answered above the noise")
    sample_range: tuple[int, int] = Field(description="the answer's [start, end) in frames on audio_in")
    download_url: str = Field(description="the answer's")


class RequestResponse:
    def __init__(self, sessions: SessionService, streams: StreamService, artifacts: ArtifactStore,
                 store: ContentStore, playback: Playback) -> None:
        self.sessions, self.streams, self.artifacts, self.store, self.playback = (
            sessions, streams, artifacts, store, playback)

    async def request(self, session: str, *, artifact_id: str | None = None, events: list[MidiEvent] | None = None,
                      tail_seconds: float = 1.0, tags: list[str]) -> RequestResult:
        """Send a MIDI artifact (or events) out, record the answer, keep both; exactly one of the two sources."""
        status = self._session(session)
        # session_create refuses a request_response session without both.
        assert status.audio_in is not None and status.midi_out is not None
        midi = self._midi_artifact(session, artifact_id, events, tags)
        _, midi_path = self.artifacts.content_path(midi.id)
        first_note = _first_note_seconds(midi_path)
        rec = self.streams.recorder(status.audio_in)
        if not rec.recording:
            raise ServiceError("conflict", f"session {session}: audio_in {rec.definition.uri} is not recording "
                                           "(session_play starts it)")
        reply = await self.playback.play_now(Audition(content_path=str(midi_path), mime=MIME_MIDI,
                                                      midi_out=status.midi_out), timeout=30.0)
        sent_ns = reply.start_realtime_ns
        end_ns = sent_ns + int((reply.duration_seconds + tail_seconds) * 1e9)
        await asyncio.sleep(max(0.0, (end_ns - time.time_ns()) / 1e9))
        # A little audio from before the send: where a loaded box maps the send time a few ms late,
        # the answer still starts inside the cut, and an answer already sounding is told apart.
        start, end = await self._window(rec.definition.uri, sent_ns - PREROLL_NS, end_ns)
        sent = sample_at_realtime(rec.manifest, sent_ns)
        path, info = await self._cut(rec.definition.uri, start, end)
        onset = await asyncio.to_thread(_onset_seconds, path)
        preroll = (sent - start) / rec.definition.sample_rate
        latency = None if onset is None or onset == 0 else onset - preroll - first_note
        audio = self.artifacts.add_file(path, mime=info.mime, tags=["response", *tags], parent_id=midi.id,
                                        chunks=info.source_chunks, metadata={
            "session": session, "round_trip_latency_seconds": latency, "midi_artifact": midi.id,
            "preroll_seconds": preroll,
            "lineage": {"stream": info.stream, "sample_range": list(info.sample_range),
                        "source_chunks": info.source_chunks, "sent_realtime_ns": sent_ns,
                        "sample_rate": rec.definition.sample_rate}})
        return RequestResult(session=session, midi_artifact_id=midi.id, audio_artifact_id=audio.id,
                             round_trip_latency_seconds=latency, sample_range=info.sample_range,
                             download_url=f"/artifacts/{audio.id}")

    def check_session(self, session: str) -> None:
        """Raise ServiceError unless `session` is a request_response session."""
        self._session(session)

    def _session(self, session: str) -> SessionStatus:
        status = self.sessions.status(session)
        if status.mode != "request_response":
            raise ServiceError("badRequest", f"session: {session} is {status.mode}; session_request needs a "
                                             "request_response session (with midi_out and audio_in)")
        return status

    async def calibrate(self, session: str) -> RequestResult:
        """Loopback: one note out of midi_out, and how long until audio_in hears it."""
        note, velocity, seconds = CALIBRATION_NOTE
        ping = [MidiEvent(at=0, message=[0x90, note, velocity]), MidiEvent(at=seconds, message=[0x80, note, 0])]
        result = await self.request(session, events=ping, tail_seconds=1.0, tags=["calibration"])
        if result.round_trip_latency_seconds is None:
            raise ServiceError("unavailable", f"session {session}: nothing came back on audio_in above "
                                              f"{NOISE_FLOOR} full scale; is midi_out patched to audio_in?")
        return result

    def _midi_artifact(self, session: str, artifact_id: str | None, events: list[MidiEvent] | None,
                       tags: list[str]) -> ArtifactRecord:
        if artifact_id is not None:
            artifact, _path = self.artifacts.content_path(artifact_id)
            if artifact.mime != MIME_MIDI:
                raise ServiceError("badRequest", f"artifact_id: {artifact.id} is {artifact.mime}, not {MIME_MIDI}")
            return artifact
        if not events:
            raise ServiceError("badRequest", "give exactly one of artifact_id or events")
        digest = self.store.put(events_to_smf(events))
        return self.artifacts.add(content_hash=digest, mime=MIME_MIDI, tags=["request", *tags],
                                  metadata={"session": session, "events": len(events)})

    async def _window(self, uri: str, start_ns: int, end_ns: int) -> tuple[int, int]:
        """The window in stream samples, once the recording has passed its end."""
        rec = self.streams.recorder(uri)
        deadline = time.monotonic() + HEAD_WAIT_S
        while True:
            try:
                start, end = sample_at_realtime(rec.manifest, start_ns), sample_at_realtime(rec.manifest, end_ns)
            except TimePointError as exc:
                raise ServiceError("unavailable", str(exc)) from None
            if rec.head_sample >= end:
                return start, end
            if time.monotonic() > deadline or not rec.recording:
                raise ServiceError("unavailable", f"{uri}: recorded up to sample {rec.head_sample}, "
                                                  f"the answer ends at {end}")
            await asyncio.sleep(0.05)

    async def _cut(self, uri: str, start: int, end: int) -> tuple[Path, SliceInfo]:
        with self.streams.snapshot(uri) as manifest:
            staging = self.store.create_staging()
            try:
                info = await asyncio.to_thread(slice_stream, manifest, self.store, start, end, staging.path,
                                               "materialize", None)
            except SliceError as exc:
                self.store.release(staging.path)
                raise ServiceError("unavailable", str(exc)) from None
        return staging.path, info


def events_to_smf(events: list[MidiEvent]) -> bytes:
    """Events at seconds as a one-track Standard MIDI File at 120 bpm (a beat is half a second)."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    last = 0
    for event in sorted(events, key=lambda e: e.at):
        tick = round(event.at * 960)
        try:
            message = mido.Message.from_bytes(event.message)
        except ValueError as exc:
            raise ServiceError("badRequest", f"events: {event.message} is not a MIDI message: {exc}") from None
        track.append(message.copy(time=tick - last))
        last = tick
    out = io.BytesIO()
    mid.save(file=out)
    return out.getvalue()


def _first_note_seconds(path: Path) -> float:
    import mido

    elapsed = 0.0
    for message in mido.MidiFile(str(path)):
        elapsed += message.time
        if message.type == "note_on" and message.velocity > 0:
            return elapsed
    raise ServiceError("badRequest", "the MIDI has no note-on: nothing to measure an answer against")


def _onset_seconds(path: Path) -> float | None:
    """Seconds into the recording where the answer starts, or None when it stays below the noise floor."""
    import numpy as np
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    level = np.abs(data).max(axis=1)
    peak = float(level.max()) if len(level) else 0.0
    if peak < NOISE_FLOOR:
        return None
    return int(np.argmax(level >= peak * ONSET_RATIO)) / rate
