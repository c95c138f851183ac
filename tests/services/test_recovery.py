"""kill -9 while recording: count the samples before and after.

hootenanny killed: chaosgarden keeps recording into its spares and RAM ring;
the restarted hootenanny catches up and nothing is lost. chaosgarden killed:
the live chunk is kept up to the last notified head and the time until the
restart is a gap in the timeline, never shifted audio.
"""

import asyncio
import os
import signal
import socket
import sqlite3
from pathlib import Path

import pytest
import zmq

from appliance.cas import ContentStore
from appliance.proto import endpoints, framing
from appliance.proto.codec import unpack_envelope
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from tests.services.test_streams_e2e import recorded, wait_for
from tests.support.stack import ToolClient, ToolFailed

RATE = 48000
URI = "stream://eurorack/main"


async def start_recording(stack, tools, chunk=4800):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    await tools.call("stream_create", uri=URI, device="sim", sample_format="s16", chunk_samples=chunk)
    await tools.call("stream_start", uri=URI)
    await wait_for(tools, URI, lambda s: s["chunks_sealed"] >= 2)


async def test_kill_hootenanny_loses_nothing(stack, tools):
    await start_recording(stack, tools)
    stack.kill("hootenanny")
    await asyncio.sleep(1.5)  # about 15 chunks go to spares, then the ring
    stack.start("hootenanny")
    again = ToolClient(stack.run_dir)
    try:
        await wait_for(again, URI, lambda s: s["chunks_sealed"] >= 25)
        status = await again.call("stream_stop", uri=URI)
    finally:
        again.close()
    data, manifest = recorded(stack, URI)
    frames = len(data) // 4
    assert status["head_sample"] == frames
    assert not manifest.gaps
    assert data == sim_frames(0, frames, RATE, 2, SampleFormat.S16)  # every sample, in place


async def test_kill_chaosgarden_keeps_head_and_records_the_gap(stack, tools):
    await start_recording(stack, tools)
    stack.kill("chaosgarden")
    await asyncio.sleep(1.0)
    stack.start("chaosgarden")
    status = await wait_for(tools, URI, lambda s: s["state"] == "recording" and s["chunks_sealed"] >= 8)
    assert status["device_connected"]
    await tools.call("stream_stop", uri=URI)
    data, manifest = recorded(stack, URI)
    assert len(manifest.gaps) == 1
    gap = manifest.gaps[0]
    assert gap.reason == "chaosgarden restart"
    assert 0.8 * RATE < gap.samples < 10 * RATE  # the time chaosgarden was away
    # Before the gap: the first run of the sim patch, exact. After it: the restarted patch, from its frame 0.
    before = [c for c in manifest.chunks if c.end_sample <= gap.start_sample]
    after = [c for c in manifest.chunks if c.first_sample >= gap.start_sample + gap.samples]
    assert len(before) + len(after) == len(manifest.chunks)
    assert before[-1].end_sample == gap.start_sample  # the salvaged short chunk ends where the gap starts
    assert after[0].first_sample == gap.start_sample + gap.samples
    first_run = data[: gap.start_sample * 4]
    assert first_run == sim_frames(0, gap.start_sample, RATE, 2, SampleFormat.S16)
    # The restarted patch's frame 0 lies where its own clock puts it: the device's opening time is silence.
    second_run = data[gap.start_sample * 4 :]
    head = sim_frames(0, 4800, RATE, 2, SampleFormat.S16)
    silence = next(s for s in range(RATE) if second_run[s * 4 : s * 4 + len(head)] == head)
    assert second_run[: silence * 4] == bytes(silence * 4)
    rest = second_run[silence * 4 :]
    assert rest == sim_frames(0, len(rest) // 4, RATE, 2, SampleFormat.S16)
    clocks = [c.reason for c in manifest.clocks]
    assert "restart" in clocks and clocks.count("start") == 2
    # The salvaged chunk's staging name goes once it is sealed. (An empty file may stay: a spare handed out while
    # chaosgarden was dead is kept, since a refusal by timeout cannot say it was not taken; the next start's
    # orphan scan removes it.)
    staging = [p for p in (stack.data_dir / "cas" / "staging").rglob("*") if p.is_file() and p.stat().st_size]
    assert [p.read_bytes()[:1] for p in staging] == [b"{"], "a chunk's staging file outlived its seal"


async def test_restart_of_hootenanny_scans_orphans(stack, tools):
    await start_recording(stack, tools)
    await tools.call("stream_stop", uri=URI)
    ContentStore(stack.data_dir / "cas").create_staging(size=10)
    stack.kill("hootenanny")
    stack.start("hootenanny")
    again = ToolClient(stack.run_dir)
    try:
        await again.call("stream_status")
    finally:
        again.close()
    assert "1 orphaned staging files" in stack.log("hootenanny")


async def test_corrupted_manifest_is_reported_not_fatal(stack, tools):
    await start_recording(stack, tools)
    await tools.call("stream_stop", uri=URI)
    await tools.call("stream_create", uri="stream://other/ok", device="sim")
    stack.kill("hootenanny")
    db = sqlite3.connect(stack.data_dir / "hootenanny" / "catalog.db")
    (path,) = db.execute("SELECT manifest_path FROM streams WHERE uri=?", (URI,)).fetchone()
    Path(path).write_text('{"version": 1, "stream": "stream://eurorack/main", "chunks": [{"dig')
    stack.start("hootenanny")
    again = ToolClient(stack.run_dir)
    try:
        status = (await again.call("stream_status", uri=URI))["streams"][0]
        assert status["state"] == "broken"
        assert "not a valid stream manifest" in status["last_error"] and path in status["last_error"]
        with pytest.raises(ToolFailed, match="not a valid stream manifest"):
            await again.call("stream_slice", uri=URI, start={"sample": 0}, end={"sample": 10})
        with pytest.raises(ToolFailed, match="not a valid stream manifest"):
            await again.call("stream_start", uri=URI)
        assert (await again.call("stream_status", uri="stream://other/ok"))["streams"][0]["state"] == "defined"
    finally:
        again.close()
    assert "not a valid stream manifest" in stack.log("hootenanny")


async def test_corrupted_chunk_is_named_when_sliced(stack, tools):
    await start_recording(stack, tools)
    await tools.call("stream_stop", uri=URI)
    _data, manifest = recorded(stack, URI)
    victim = ContentStore(stack.data_dir / "cas").path(manifest.chunks[1].digest)
    os.chmod(victim, 0o644)
    with open(victim, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\xff\xff")
    with pytest.raises(ToolFailed, match=rf"chunk {manifest.chunks[1].digest} is corrupted"):
        await tools.call("stream_slice", uri=URI, start={"sample": 0}, end={"sample": manifest.chunks[1].end_sample})


async def test_hootenanny_frozen_then_thawed_follows_the_head_again(stack, tools):
    """Catching up after a stall seals chunks by request before the queued heads about them are read.

    Those late heads must not pin the live edge to a sealed chunk (the head
    then stood still while recording went on).
    """
    await start_recording(stack, tools)
    stack.procs["hootenanny"].send_signal(signal.SIGSTOP)
    await asyncio.sleep(4.0)
    stack.procs["hootenanny"].send_signal(signal.SIGCONT)
    before = (await tools.call("stream_status", uri=URI))["streams"][0]["head_sample"]
    status = await wait_for(tools, URI, lambda s: s["head_sample"] > before + RATE)
    await tools.call("stream_stop", uri=URI)
    data, manifest = recorded(stack, URI)
    assert status["xruns"] == 0 and not manifest.gaps
    assert data == sim_frames(0, len(data) // 4, RATE, 2, SampleFormat.S16)


async def test_after_a_reboot_hootenanny_may_start_before_chaosgarden(stack, tools):
    """The units start the two side by side (boot time); a stream that was recording comes back either way."""
    await start_recording(stack, tools)
    stack.kill("hootenanny", signal.SIGTERM)
    stack.kill("chaosgarden", signal.SIGTERM)
    stack.start("hootenanny")
    again = ToolClient(stack.run_dir)
    try:
        waiting = await wait_for(again, URI, lambda s: not s["device_connected"])
        assert waiting["state"] == "recording"  # still meant to record: it waits for chaosgarden
        sealed = waiting["chunks_sealed"]
        stack.start("chaosgarden")
        back = await wait_for(again, URI, lambda s: s["device_connected"] and s["chunks_sealed"] >= sealed + 3)
        assert back["state"] == "recording" and back["last_error"] == ""
        await again.call("stream_stop", uri=URI)
    finally:
        again.close()
    data, manifest = recorded(stack, URI)
    assert [g.reason for g in manifest.gaps] == ["chaosgarden restart"]
    gap = manifest.gaps[0]
    before = data[: gap.start_sample * 4]
    assert before == sim_frames(0, gap.start_sample, RATE, 2, SampleFormat.S16)


async def test_a_silent_chaosgarden_is_asked_once_at_start_however_many_streams_were_recording(stack, tools):
    """At boot chaosgarden may still be starting: hootenanny's READY waits for one unanswered question, not one each."""
    uris = [f"stream://eurorack/{name}" for name in ("kick", "bass", "keys")]
    stack.start("chaosgarden")
    stack.start("hootenanny")
    for uri in uris:
        await tools.call("stream_create", uri=uri, device="sim", sample_format="s16", chunk_samples=4800)
        await tools.call("stream_start", uri=uri)
    for uri in uris:
        await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 1)
    stack.kill("hootenanny", signal.SIGTERM)
    stack.kill("chaosgarden", signal.SIGKILL)
    # chaosgarden's command socket, taken by one that reads and never answers, so the questions can be counted.
    ctx = zmq.Context()
    silent = ctx.socket(zmq.ROUTER)
    silent.bind(endpoints.ipc(stack.run_dir, endpoints.GARDEN_COMMANDS))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(stack.root / "notify"))
    stack.env["NOTIFY_SOCKET"] = str(stack.root / "notify")
    try:
        stack.start("hootenanny")
        asked = questions_until_ready(silent, notify)
    finally:
        silent.close(linger=0)
        ctx.term()
        notify.close()
    assert asked == ["streamStatusRequest"]
    assert stack.log("hootenanny").count("chaosgarden is not answering") == len(uris)


def questions_until_ready(silent: zmq.Socket, notify: socket.socket) -> list[str]:
    """The kinds of the requests `silent` took before hootenanny sent READY=1 to `notify`."""
    poller = zmq.Poller()
    poller.register(silent, zmq.POLLIN)
    poller.register(notify, zmq.POLLIN)
    asked: list[str] = []
    while True:
        ready = dict(poller.poll(60_000))
        assert ready, "hootenanny neither asked chaosgarden anything nor became ready in 60 s"
        if silent in ready:
            _prefix, message = framing.decode(silent.recv_multipart())
            if message.command is framing.Command.REQUEST:
                asked.append(unpack_envelope(message.body).kind)
        if notify.fileno() in ready and b"READY=1" in notify.recv(4096).split(b"\n"):
            return asked
