"""Streams end to end: real chaosgarden, real hootenanny, tools over ZMQ, sealed chunks checked sample by sample."""

import asyncio
import os
import random
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from appliance.cas import ContentStore
from appliance.proto.stream_definition import SampleFormat
from appliance.rt.sim_source import sim_frames
from appliance.services.capture import manifest as manifests
from tests.support.alsa import PCM_NAME, PacedFifo, write_asoundrc
from tests.support.garden import wait_until
from tests.support.stack import ToolClient, ToolFailed, make_stack

RATE = 48000
NS = 1_000_000_000


async def wait_for(tools, uri, predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = (await tools.call("stream_status", uri=uri))["streams"][0]
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{uri}: {status}")
        await asyncio.sleep(0.05)


def recorded(stack, uri) -> tuple[bytes, manifests.Manifest]:
    db = sqlite3.connect(stack.data_dir / "hootenanny" / "catalog.db")
    (path,) = db.execute("SELECT manifest_path FROM streams WHERE uri=?", (uri,)).fetchone()
    manifest = manifests.read(Path(path))
    store = ContentStore(stack.data_dir / "cas")
    data = b"".join(store.path(c.digest).read_bytes() for c in manifest.chunks)
    return data, manifest


async def test_record_sim_stream_and_stop(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/main"
    created = await tools.call("stream_create", uri=uri, device="sim", sample_format="s16", chunk_samples=4800)
    assert created["definition"]["sample_format"] == "s16" and len(created["definition_hash"]) == 64
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 5)
    status = (await tools.call("stream_stop", uri=uri))
    assert status["state"] == "stopped" and status["xruns"] == 0
    data, manifest = recorded(stack, uri)
    assert manifest.state == "stopped" and manifest.live is None
    assert [c.first_sample for c in manifest.chunks] == [i * 4800 for i in range(len(manifest.chunks) - 1)] + \
        [manifest.chunks[-1].first_sample]
    assert data == sim_frames(0, len(data) // 4, RATE, 2, SampleFormat.S16)
    assert status["head_sample"] == len(data) // 4
    assert (stack.data_dir / "cas").exists()


async def test_bad_arguments_name_the_field(stack, tools):
    stack.start("hootenanny")
    with pytest.raises(ToolFailed, match=r"stream_create: sample_format: Input should be 's16', 's24'"):
        await tools.call("stream_create", uri="stream://a/b", device="sim", sample_format="s8")
    with pytest.raises(ToolFailed, match=r"uri: .*stream://<name>/<part>"):
        await tools.call("stream_create", uri="http://x", device="sim")
    with pytest.raises(ToolFailed, match=r"no stream 'stream://nope/x'"):
        await tools.call("stream_start", uri="stream://nope/x")
    with pytest.raises(ToolFailed, match=r"colour: unknown field"):
        await tools.call("stream_status", colour="red")


async def test_start_without_chaosgarden_is_a_clear_error(stack, tools):
    stack.env["STUDIO_WIRE_REQUEST_TIMEOUT_SECONDS"] = "1"
    stack.start("hootenanny")
    await tools.call("stream_create", uri="stream://e/m", device="sim")
    with pytest.raises(ToolFailed, match="chaosgarden refused stream://e/m: .*no reply"):
        await tools.call("stream_start", uri="stream://e/m")
    status = (await tools.call("stream_status", uri="stream://e/m"))["streams"][0]
    assert status["state"] != "recording"


async def test_slice_seconds_ago_to_now_is_sample_exact(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/main"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="s24", chunk_samples=9600)
    await tools.call("stream_start", uri=uri)
    before = (await wait_for(tools, uri, lambda s: s["head_sample"] >= 3 * RATE))["head_sample"]
    result = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 2}, end="now", tags=["test"])
    start, end = result["sample_range"]
    # "now" is the moment the request arrived: hootenanny waits for the head to pass it, so the window is
    # two seconds to the sample, and it ends after the head that was readable before the request.
    assert end - start == 2 * RATE and result["seconds"] == 2.0
    assert end >= before
    assert len(result["source_chunks"]) >= 2  # distinct digests: the sim patch repeats every second
    path = ContentStore(stack.data_dir / "cas").path(result["content_hash"])
    data, rate = sf.read(path, dtype="int32")
    assert rate == RATE and data.shape == (end - start, 2)

    raw = np.frombuffer(sim_frames(start, end - start, RATE, 2, SampleFormat.S24), dtype=np.uint8).reshape(-1, 3)
    expected = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8 | raw[:, 2].astype(np.int32) << 16)
    expected = ((expected << 8) >> 8) << 8  # sign-extend 24 bits; soundfile reads PCM_24 left-aligned in int32
    assert np.array_equal(data.reshape(-1), expected)
    listed = await tools.call("artifact_list", tag="test")
    assert listed["artifacts"][0]["id"] == result["artifact_id"]
    got = await tools.call("artifact_get", artifact_id=result["artifact_id"])
    assert got["metadata"]["lineage"]["sample_range"] == [start, end]
    await tools.call("stream_stop", uri=uri)
    with pytest.raises(ToolFailed, match=r"start: .*outside the recording"):
        await tools.call("stream_slice", uri=uri, start={"sample": 10**12}, end="now")
    with pytest.raises(ToolFailed, match=r"seconds_ago"):
        await tools.call("stream_slice", uri=uri, start={"seconds_ago": -1})


async def test_alsa_file_plugin_through_hootenanny_slices_sample_exact(short_tmp):
    """The ALSA file plugin feeds a known waveform; a slice of the middle comes back byte for byte."""
    home = short_tmp / "home"
    home.mkdir()
    fifo = PacedFifo(short_tmp / "in.fifo")
    stack = make_stack(short_tmp, write_asoundrc(home, fifo.path))
    stack.start("chaosgarden")
    stack.start("hootenanny")
    tools = ToolClient(stack.run_dir)
    try:
        uri = "stream://alsa/main"
        await tools.call("stream_create", uri=uri, device=PCM_NAME, sample_format="s32", chunk_samples=4096)
        await tools.call("stream_start", uri=uri)
        wave = random.Random(4).randbytes(64 * 1024 * 8)  # 64 periods of 1024 stereo s32 frames
        # Paced like a sound card, then a little silence so the last period is not left in the RAM ring.
        await asyncio.to_thread(fifo.write_periods, wave + bytes(4 * 1024 * 8), 1024 * 8, wait_until, 1024 / 48000)
        await wait_for(tools, uri, lambda s: s["head_sample"] >= 64 * 1024)
        result = await tools.call("stream_slice", uri=uri, start={"sample": 5000}, end={"sample": 60000})
        data, _ = sf.read(ContentStore(stack.data_dir / "cas").path(result["content_hash"]), dtype="int32")
        assert data.tobytes() == wave[5000 * 8 : 60000 * 8]
        stopping = asyncio.ensure_future(tools.call("stream_stop", uri=uri))
        await asyncio.sleep(0.2)
        fifo.close()
        await stopping
    finally:
        tools.close()
        stack.stop_all()


async def test_virtual_slice_materializes_later_byte_for_byte(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/main"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="f32", chunk_samples=4000)
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 6)
    window = {"start": {"sample": 1234}, "end": {"sample": 17000}}
    virtual = await tools.call("stream_slice", uri=uri, output="virtual", **window)
    assert virtual["mime"] == "application/vnd.studio.virtual-slice+json"
    direct = await tools.call("stream_slice", uri=uri, **window)
    made = await tools.call("artifact_get", artifact_id=virtual["artifact_id"], materialize=True)
    assert made["parent_id"] == virtual["artifact_id"] and made["mime"] == "audio/wav"
    assert made["content_hash"] == direct["content_hash"]  # the same file, so the same digest
    with pytest.raises(ToolFailed, match=r"materialize: .* is audio/wav, not a virtual slice"):
        await tools.call("artifact_get", artifact_id=direct["artifact_id"], materialize=True)
    await tools.call("stream_stop", uri=uri)


@pytest.mark.parametrize("stack_env", [{"STUDIO_CAPTURE_DISK_RESERVE_MB": str(1 << 20)}])
async def test_start_on_a_full_disk_is_refused_with_what_to_do(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    await tools.call("stream_create", uri="stream://e/m", device="sim")
    with pytest.raises(ToolFailed, match=r"disk full: .* MiB free under .*capture.disk_reserve_mb.*studio cas gc"):
        await tools.call("stream_start", uri="stream://e/m")
    assert (await tools.call("stream_status", uri="stream://e/m"))["streams"][0]["state"] == "defined"


@pytest.mark.parametrize("stack_env", [{"STUDIO_RT_MEMORY_BUDGET_MB": "64"}])
async def test_a_stream_past_the_memory_budget_is_refused_at_start_and_nothing_is_held(stack, tools, stack_env):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/huge"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="s32", channels=64,
                     chunk_samples=1 << 18)
    with pytest.raises(ToolFailed, match=r"chaosgarden refused stream://eurorack/huge: .* would lock \d+ MiB of RAM"
                                         r".*rt\.memory_budget_mb"):
        await tools.call("stream_start", uri=uri)
    status = (await tools.call("stream_status", uri=uri))["streams"][0]
    assert status["state"] == "defined" and "memory_budget_mb" in status["last_error"]
    staging = stack.data_dir / "cas" / "staging"
    left = [p for p in staging.rglob("*") if p.is_file()]
    assert [p.read_text()[:1] for p in left] == ["{"]  # only the stream's own manifest: no chunk path was kept


async def test_every_last_n_seconds_window_has_its_length_to_the_sample(stack, tools):
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/short"
    await tools.call("stream_create", uri=uri, device="sim", sample_format="s16", chunk_samples=24000)
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["head_sample"] >= 2 * RATE)
    for seconds in (1, 0.5, 0.01, 1.25):
        result = await tools.call("stream_slice", uri=uri, start={"seconds_ago": seconds}, end="now")
        start, end = result["sample_range"]
        assert end - start == round(seconds * RATE), (seconds, result)
    now = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 1})  # end defaults to "now"
    assert now["sample_range"][1] - now["sample_range"][0] == RATE


async def test_midi_has_real_clocks_and_slices_by_wall_clock(stack, tools):
    """The sim MIDI stream: its start clock is a real reading, and the last seconds slice by time."""
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/notes"
    began = time.time_ns()
    await tools.call("stream_create", uri=uri, device="sim", kind="midi")
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["head_sample"] >= 3 * RATE)
    _, manifest = recorded_live(stack, uri)
    start_clock = manifest.clocks[0]
    assert start_clock.reason == "start" and start_clock.monotonic_ns > 0
    assert abs(start_clock.realtime_ns - began) < 5 * NS, "the start clock is not a reading of the real clock"
    result = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 2}, end="now")
    start, end = result["sample_range"]
    assert end - start == 2 * RATE
    song = mido.MidiFile(ContentStore(stack.data_dir / "cas").path(result["content_hash"]))
    notes = [m for m in song if m.type == "note_on" and m.velocity]
    assert 6 <= len(notes) <= 9, notes  # the sim plays four notes a second
    moment = time.time_ns()
    wall = await tools.call("stream_slice", uri=uri, start={"wall_time": iso(moment - 2 * NS)},
                            end={"wall_time": iso(moment - NS)})
    assert wall["sample_range"][1] - wall["sample_range"][0] == RATE


async def test_sparse_midi_is_sealed_within_its_bound(stack, tools):
    """A MIDI chunk is sealed once its oldest event is rt.midi_seal_seconds old, not when it is full."""
    stack.env["STUDIO_RT_MIDI_SEAL_SECONDS"] = "0.5"
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/sparse"
    await tools.call("stream_create", uri=uri, device="sim", kind="midi")  # chunks of 128 KiB: hours of notes
    await tools.call("stream_start", uri=uri)
    began = time.monotonic()
    status = await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 3)
    assert time.monotonic() - began < 10, "three chunks took far longer than three bounds"
    _, manifest = recorded_live(stack, uri)
    assert all(c.bytes < 4096 for c in manifest.chunks), "chunks were sealed for being full, not by the bound"
    assert status["state"] == "recording"


async def test_midi_slices_reach_the_live_chunk_after_a_seal(stack, tools):
    """Past the first sealed chunk, the live chunk joins the sealed ones: "now" is now, and its notes are there."""
    stack.env["STUDIO_RT_MIDI_SEAL_SECONDS"] = "2"
    stack.start("chaosgarden")
    stack.start("hootenanny")
    uri = "stream://eurorack/keys"
    await tools.call("stream_create", uri=uri, device="sim", kind="midi")
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["chunks_sealed"] >= 1)
    await asyncio.sleep(1.0)  # a second into the next chunk, which seals two seconds after its first note
    result = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 1}, end="now")
    status = (await tools.call("stream_status", uri=uri))["streams"][0]
    # The window ends at the head, not where hootenanny stopped taking heads: at the seal, a second ago.
    assert 0 <= status["head_sample"] - result["sample_range"][1] < RATE // 2, (status, result)
    song = mido.MidiFile(ContentStore(stack.data_dir / "cas").path(result["content_hash"]))
    assert 3 <= len([m for m in song if m.type == "note_on" and m.velocity]) <= 5  # four notes a second
    _, manifest = recorded_live(stack, uri)
    assert manifest.live is None or manifest.live.first_sample >= manifest.chunks[-1].end_sample, manifest


async def test_an_idle_midi_port_keeps_clocks_start_periodic_device_and_stop(stack, tools, short_tmp):
    """No event at all: the timeline still has real clocks, so every time-point form works on it."""
    stack.env["STUDIO_CAPTURE_CLOCK_SECONDS"] = "0.3"
    stack.start("chaosgarden")
    stack.start("hootenanny")
    port = short_tmp / "midiC2D0"
    os.mkfifo(port)
    writer = os.open(port, os.O_RDWR)
    uri = "stream://eurorack/idle"
    await tools.call("stream_create", uri=uri, device=str(port), kind="midi")
    await tools.call("stream_start", uri=uri)
    await wait_for(tools, uri, lambda s: s["head_sample"] >= 2 * RATE)
    quiet = await tools.call("stream_slice", uri=uri, start={"seconds_ago": 1}, end="now")
    assert quiet["sample_range"][1] - quiet["sample_range"][0] == RATE
    os.close(writer)  # the port goes away: a deviceLost clock
    await wait_for(tools, uri, lambda s: not s["device_connected"])
    await tools.call("stream_stop", uri=uri)
    _, manifest = recorded(stack, uri)
    reasons = [c.reason for c in manifest.clocks]
    assert reasons[0] == "start" and reasons[-1] == "stop" and "deviceLost" in reasons
    assert reasons.count("periodic") >= 4, reasons
    readings = sorted(manifest.clocks, key=lambda c: c.sample)
    for a, b in zip(readings, readings[1:]):  # one timeline: samples follow the clocks at the stream's rate
        assert abs((b.realtime_ns - a.realtime_ns) * RATE // NS - (b.sample - a.sample)) <= RATE // 100, (a, b)


def recorded_live(stack, uri) -> tuple[bytes, manifests.Manifest]:
    """The manifest as hootenanny last persisted it (at most a second old) and its sealed bytes."""
    wait_until(lambda: recorded(stack, uri)[1].clocks, timeout=10)
    return recorded(stack, uri)


def iso(realtime_ns: int) -> str:
    return datetime.fromtimestamp(realtime_ns / NS, tz=timezone.utc).isoformat()
