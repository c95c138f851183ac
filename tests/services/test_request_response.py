"""Request/response through the real processes: MIDI out of chaosgarden into a tiny synth that answers on ALSA capture.

The synth reads the session's midi_out FIFO and writes periods of silence,
paced in real time, into the FIFO behind the `studiotest` capture PCM; a
period after a note-on carries a click. So the answer recorded on audio_in
really travelled chaosgarden -> FIFO -> synth -> ALSA -> chaosgarden -> hootenanny.
"""

import asyncio
import os
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from appliance.cas import ContentStore
from tests.support.alsa import PCM_NAME, PacedFifo, write_asoundrc
from tests.support.stack import ToolFailed

RATE = 48000
PERIOD = 1024  # the stream's default period
URI = "stream://rr/in"


SYNTH_DELAY_S = 0.06  # like a real module, the synth answers a little after the note (and clear of timing noise)


class Synth(threading.Thread):
    """Answers a note-on with a click SYNTH_DELAY_S after it heard the note, in the period that covers that time.

    A period written at time W stands for the sound of the period before W,
    as a sound card's would; a period is only written into an empty pipe, so
    the capture side never reads stale sound.
    """

    def __init__(self, midi_path, audio: PacedFifo):
        super().__init__(daemon=True)
        self.midi_fd = os.open(midi_path, os.O_RDONLY | os.O_NONBLOCK)
        self.audio, self.stopping, self.notes = audio, threading.Event(), 0
        self.heard_at = None  # monotonic time of a note-on not yet answered

    def run(self):
        start, n = time.monotonic(), 0
        while not self.stopping.is_set():
            due = start + (n + 1) * PERIOD / RATE
            while time.monotonic() < due:
                self._listen()
                time.sleep(0.0005)
            n += 1
            if self.audio.pending() == 0:
                os.write(self.audio.fd, self._period(time.monotonic()))

    def _period(self, written_at):
        period = np.zeros((PERIOD, 2), dtype="<i2")
        if self.heard_at is not None and self.heard_at + SYNTH_DELAY_S <= written_at:
            at = max(0, PERIOD - round((written_at - self.heard_at - SYNTH_DELAY_S) * RATE))
            period[at : at + 64] = 26000
            self.heard_at = None
        return period.tobytes()

    def _listen(self):
        try:
            data = os.read(self.midi_fd, 256)
        except BlockingIOError:
            return
        if any(b & 0xF0 == 0x90 for b in data[::3]):
            self.notes += 1
            self.heard_at = time.monotonic()

    def stop(self):
        self.stopping.set()
        self.join(2)
        os.close(self.midi_fd)


@pytest.fixture
def loop(short_tmp):
    audio = PacedFifo(short_tmp / "capture.fifo")
    os.set_blocking(audio.fd, False)
    midi = short_tmp / "midi-out.fifo"
    os.mkfifo(midi)
    synth = Synth(midi, audio)
    yield synth, midi, audio
    synth.stop()
    audio.close()


@pytest.fixture
def stack_env(short_tmp, loop):
    home = short_tmp / "home"
    home.mkdir()
    return write_asoundrc(home, loop[2].path)


@pytest.fixture
async def session(stack, tools, loop):
    synth, midi, _audio = loop
    synth.start()
    stack.start("chaosgarden")
    stack.start("hootenanny")
    await tools.call("stream_create", uri=URI, device=PCM_NAME, sample_format="s16", chunk_samples=RATE)
    created = await tools.call("session_create", streams=[URI], mode="request_response", midi_out=str(midi),
                               audio_in=URI)
    await tools.call("session_play", session=created["session"])
    for _ in range(200):
        if (await tools.call("stream_status", uri=URI))["streams"][0]["head_sample"] > RATE // 2:
            break
        await asyncio.sleep(0.05)
    return created["session"]


async def test_request_returns_linked_artifacts_with_latency(session, tools, stack, loop):
    synth = loop[0]
    result = await tools.call("session_request", session=session, tail_seconds=0.5, events=[
        {"at": 0.1, "message": [0x90, 60, 100]}, {"at": 0.3, "message": [0x80, 60, 0]}])
    assert synth.notes == 1
    audio = await tools.call("artifact_get", artifact_id=result["audio_artifact_id"])
    midi = await tools.call("artifact_get", artifact_id=result["midi_artifact_id"])
    assert audio["parent_id"] == midi["id"] and midi["mime"] == "audio/midi" and audio["mime"] == "audio/wav"
    latency = audio["metadata"]["round_trip_latency_seconds"]
    assert latency == result["round_trip_latency_seconds"]
    assert 0 < latency < 0.5  # the click was found inside the answer, after the note that caused it
    data, rate = sf.read(ContentStore(stack.data_dir / "cas").path(audio["content_hash"]), dtype="int16")
    assert rate == RATE and len(data) >= int(0.8 * RATE) - 1  # the MIDI's 0.3 s plus the 0.5 s tail
    assert int(np.abs(data).max()) == 26000


async def test_calibration_measures_the_loop(session, tools):
    result = await tools.call("session_calibrate", session=session)
    assert 0 < result["round_trip_latency_seconds"] < 0.5


async def test_request_needs_a_request_response_session_and_one_source(session, tools):
    passive = (await tools.call("session_create", streams=[URI]))["session"]
    with pytest.raises(ToolFailed, match="request_response"):
        await tools.call("session_request", session=passive, events=[{"at": 0, "message": [0x90, 60, 1]}])
    with pytest.raises(ToolFailed, match="exactly one of artifact_id or events"):
        await tools.call("session_request", session=session)


async def test_pattern_sample_in_a_request_response_session_records_the_answer(session, tools, loop):
    job = await tools.call("job_sample", space="pattern", inference={
        "pulses": 2, "steps": 8, "bars": 1, "tempo_bpm": 240, "session": session, "tail_seconds": 0.3})
    for _ in range(400):
        status = await tools.call("job_status", job_id=job["job_id"])
        if status["state"] in ("complete", "failed"):
            break
        await asyncio.sleep(0.05)
    assert status["state"] == "complete", status
    answer = await tools.call("artifact_get", artifact_id=status["artifact_id"])
    pattern = await tools.call("artifact_get", artifact_id=answer["parent_id"])
    assert answer["mime"] == "audio/wav" and pattern["mime"] == "audio/midi"
    assert loop[0].notes >= 1  # the synth heard the pattern
    with pytest.raises(ToolFailed, match="tail_seconds must be from 0 to 60"):
        await tools.call("job_sample", space="pattern", inference={"session": session, "tail_seconds": -1})
