"""stream_analyze through the front door: `studio up`, a known signal through the ALSA `file` plugin, the
official MCP client calling the tool as an agent does.

The signal: 1 s of silence, 2 s of a -20 dBFS 440 Hz sine, 4 s of clicks at
120 BPM, silence, a noise burst at a known sample, silence. The FIFO is fed a
period at a time, so stream sample n is signal sample n. stream_activity and
stream_find read the same recording through the activity index.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pyloudnorm
import pytest
import soundfile
from PIL import Image

from appliance.pitches import note_name
from appliance.rt.sim_source import SimMidiSource
from tests.faults.box import Box
from tests.support.alsa import PCM_NAME, PacedFifo
from tests.support.garden import wait_until
from tests.support.mcp_client import mcp_session

RATE = 48_000
PERIOD = 1024
SINE = (RATE, 3 * RATE)  # [start, end) in samples
CLICKS = [3 * RATE + i * RATE // 2 for i in range(8)]  # 120 BPM
BURST = 360_000  # 7.5 s
LENGTH = 425 * PERIOD  # about 9.07 s, whole periods
URI = "stream://alsa/main"


def signal() -> np.ndarray:
    """The known waveform, float64 stereo."""
    x = np.zeros(LENGTH)
    t = np.arange(SINE[1] - SINE[0]) / RATE
    x[SINE[0]:SINE[1]] = 0.1 * np.sin(2 * np.pi * 440 * t)  # -20 dBFS peak
    click = 0.5 * np.random.default_rng(1).uniform(-1, 1, RATE * 5 // 1000)  # 5 ms noise clicks
    for at in CLICKS:
        x[at:at + len(click)] = click
    x[BURST:BURST + RATE // 20] = 0.9 * np.random.default_rng(2).uniform(-1, 1, RATE // 20)
    return np.stack([x, x], axis=1)


def s32(x: np.ndarray) -> bytes:
    return np.round(x * (2 ** 31 - 1)).astype("<i4").tobytes()


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    """One box for the module, the whole signal recorded before the first test (started once: it takes a while)."""
    with tempfile.TemporaryDirectory(prefix="an-", dir="/tmp") as tmp:  # short: unix socket paths
        root = Path(tmp)
        fifo = PacedFifo(root / "in.fifo")
        box = Box(root, fifo.path, extra_env={"STUDIO_ANALYSIS_MAX_SECONDS": "8", "STUDIO_RT_MIDI_SEAL_SECONDS": "1"})
        try:
            box.start()
            box.call("stream_create", uri=URI, device=PCM_NAME, sample_format="s32", chunk_samples=16384)
            box.call("stream_start", uri=URI)
            fifo.write_periods(s32(signal()), PERIOD * 8, wait_until, PERIOD / RATE)
            wait_until(lambda: box.call("stream_status", uri=URI)["streams"][0]["head_sample"] >= LENGTH)
            yield box
        finally:
            box.stop()
            fifo.close()


async def call(client: Any, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool} {arguments}: {text}"
    return result.structured_content


async def refused(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} {arguments} was not refused"
    return " ".join(getattr(c, "text", "") for c in result.content)


def window(first: int, last: int) -> dict[str, Any]:
    return {"uri": URI, "start": {"sample": first}, "end": {"sample": last}}


async def test_levels_pitch_and_tempo_of_a_known_signal(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        sine = await call(client, "stream_analyze", **window(SINE[0] + RATE // 10, SINE[1] - RATE // 10))
        assert sine["kind"] == "audio" and sine["channels"] == [0, 1]
        reference = pyloudnorm.Meter(RATE).integrated_loudness(signal()[SINE[0] + RATE // 10:SINE[1] - RATE // 10, 0])
        for ch in sine["audio"]["channels"]:
            assert ch["peak_dbfs"] == pytest.approx(-20.0, abs=0.05)
            assert ch["rms_dbfs"] == pytest.approx(-23.01, abs=0.05)
            assert ch["loudness_lufs"] == pytest.approx(reference, abs=0.1)
            assert ch["pitch_hz"] == pytest.approx(440, abs=2) and ch["pitch_note"] == "A4"
            assert ch["clipped_samples"] == 0
        assert sine["audio"]["stereo_correlation"] == pytest.approx(1.0, abs=1e-3)

        clicks = await call(client, "stream_analyze", channels=[1], **window(CLICKS[0] - RATE // 4, CLICKS[-1] + RATE // 4))
        assert clicks["channels"] == [1]
        assert clicks["audio"]["tempo_bpm"] == pytest.approx(120, abs=2)
        onsets = np.array(clicks["audio"]["channels"][0]["onsets_s"])
        truth = (np.array(CLICKS) - (CLICKS[0] - RATE // 4)) / RATE
        assert len(onsets) == len(truth) and np.abs(onsets - truth).max() < 0.010, (onsets, truth)


async def test_silence_is_null_with_a_reason_and_the_json_has_no_nan(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        quiet = await call(client, "stream_analyze", **window(0, RATE - PERIOD))
        json.dumps(quiet, allow_nan=False)
        ch = quiet["audio"]["channels"][0]
        assert ch["loudness_lufs"] is None and ch["peak_dbfs"] is None and ch["pitch_hz"] is None
        assert "loudness_lufs" in ch["unavailable"] and ch["silent_fraction"] == 1.0


async def test_pictures_are_pngs_at_the_asked_size(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        for kind, size in (("waveform", (640, 320)), ("spectrogram", (800, 400))):
            result = await client.call_tool("stream_analyze", {**window(BURST - RATE, BURST + RATE), "picture": kind,
                                                               "width": size[0], "height": size[1]})
            images = [c for c in result.content if c.type == "image"]
            assert not result.is_error and len(images) == 1 and images[0].mime_type == "image/png"
            assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size == size


async def test_bad_input_names_the_limit(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        assert "channels: [2] out of range; stream://alsa/main has 2 channels (0-1)" in await refused(
            client, "stream_analyze", channels=[2], **window(0, RATE))
        assert "at most 8 s at once (analysis.max_seconds)" in await refused(
            client, "stream_analyze", **window(0, LENGTH))
        assert "piano_roll is for MIDI" in await refused(client, "stream_analyze", picture="piano_roll",
                                                         **window(0, RATE))
        assert "either uri" in await refused(client, "stream_analyze", uri=URI, artifact_id="art-0", start="now")
        assert "start: required with uri" in await refused(client, "stream_analyze", uri=URI)
        assert "width" in await refused(client, "stream_analyze", width=100, **window(0, RATE))


async def test_an_artifact_is_analysed_as_the_window_it_was_cut_from(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        cut = await call(client, "stream_slice", **window(SINE[0], SINE[1]))
        whole = await call(client, "stream_analyze", artifact_id=cut["artifact_id"], channels=[0])
        direct = await call(client, "stream_analyze", channels=[0], **window(SINE[0], SINE[1]))
        assert whole["sample_range"] is None and whole["duration_s"] == 2.0
        assert whole["audio"]["channels"] == direct["audio"]["channels"]


async def test_the_kernel_analyzes_through_the_box(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        code = (f"a = analyze({URI!r}, {{'sample': {SINE[0]}}}, {{'sample': {SINE[1]}}}, channels=[0])\n"
                "a['audio']['channels'][0]['pitch_note'], round(a['audio']['channels'][0]['peak_dbfs'], 1)")
        result = await call(client, "weave_eval", code=code)
        assert result["success"] and result["result"] == "('A4', -20.0)", result


async def test_a_cell_ending_in_a_picture_comes_back_as_image_content(box: Box) -> None:
    cells = {
        "a matplotlib figure": ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 3), dpi=100)\n"
                                "ax.plot([0, 1, 0])\nfig", (600, 300)),
        "a PIL image": ("from PIL import Image\nImage.new('RGB', (320, 240), 'teal')", (320, 240)),
        "an analysis picture": (f"analyze({URI!r}, {{'sample': {SINE[0]}}}, {{'sample': {SINE[1]}}}, "
                                "picture='spectrogram', width=640, height=320)['picture']", (640, 320)),
    }
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        for what, (code, size) in cells.items():
            result = await client.call_tool("weave_eval", {"code": code})
            assert not result.is_error and result.structured_content["success"], (what, result.content[0].text)
            images = [c for c in result.content if c.type == "image"]
            assert len(images) == 1 and images[0].mime_type == "image/png", what
            picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
            assert picture.format == "PNG" and picture.size == size, what
            info = result.structured_content["picture"]
            assert (info["width"], info["height"]) == size and result.structured_content["picture_refused"] is None

        huge = await client.call_tool("weave_eval", {"code": "from PIL import Image\nImage.new('L', (6000, 200))"})
        assert not huge.is_error and huge.structured_content["success"]
        assert [c for c in huge.content if c.type == "image"] == [] and huge.structured_content["picture"] is None
        limit = "the cell's PIL image is 6000x200 px; weave_eval returns pictures up to 4000x4000 px"
        assert limit in huge.structured_content["picture_refused"] and limit in huge.content[0].text


async def test_the_notes_of_a_midi_stream_and_its_piano_roll(box: Box) -> None:
    melody = {note_name(p) for p in SimMidiSource.MELODY}
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await call(client, "stream_create", uri="stream://sim/keys", device="sim", kind="midi")
        await call(client, "stream_start", uri="stream://sim/keys")
        try:
            await asyncio.sleep(3)
            result = await client.call_tool("stream_analyze", {"uri": "stream://sim/keys", "start": {"seconds_ago": 2},
                                                               "picture": "piano_roll"})
            assert not result.is_error, result.content[0].text
            midi = result.structured_content["midi"]
            # The simulated keyboard: a note every 0.25 s (a sixteenth on, a sixteenth off at 120 BPM).
            assert 7 <= midi["note_count"] <= 9 and {n["name"] for n in midi["notes"]} <= melody
            assert all(n["duration_s"] == pytest.approx(0.125, abs=0.01) or n["held_past_end"] for n in midi["notes"])
            assert "note_count" not in midi["unavailable"]
            images = [c for c in result.content if c.type == "image"]
            assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size == (800, 400)
            assert "C2" in result.content[0].text or midi["notes"][0]["name"] in result.content[0].text
        finally:
            await call(client, "stream_stop", uri="stream://sim/keys")


async def test_a_slice_keeps_the_channels_asked_for(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        result = await client.call_tool("stream_slice", {**window(SINE[0], SINE[0] + RATE), "channels": [1],
                                                         "picture": True})
        assert not result.is_error, result.content[0].text
        cut = result.structured_content
        wav = httpx2.get(f"http://127.0.0.1:{box.port}{cut['download_url']}",
                         headers={"Authorization": f"Bearer {box.token}"}).content
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="int32", always_2d=True)
        expected = np.frombuffer(s32(signal()[SINE[0]:SINE[0] + RATE]), "<i4").reshape(-1, 2)[:, [1]]
        assert rate == RATE and samples.shape == (RATE, 1) and np.array_equal(samples, expected)
        # A download that broke off resumes where it stopped (range requests), to the byte.
        rest = httpx2.get(f"http://127.0.0.1:{box.port}{cut['download_url']}",
                          headers={"Authorization": f"Bearer {box.token}", "Range": "bytes=1000-"})
        assert rest.status_code == 206 and wav[:1000] + rest.content == wav
        assert rest.headers["content-range"] == f"bytes 1000-{len(wav) - 1}/{len(wav)}"
        assert (await call(client, "artifact_get", artifact_id=cut["artifact_id"]))["metadata"]["lineage"][
            "channels"] == [1]
        assert "channels: [2] out of range; stream://alsa/main has 2 channels (0-1)" in await refused(
            client, "stream_slice", channels=[2], **window(0, RATE))
        assert "use output 'materialize'" in await refused(client, "stream_slice", channels=[0], output="virtual",
                                                           **window(0, RATE))


async def indexed(client: Any, uri: str, sample: int) -> None:
    """Wait until the activity index holds `uri` up to `sample` (it follows the seals within a second or two)."""
    for _ in range(200):
        result = await client.call_tool("stream_find", {"uri": uri, "query": "note" if "keys" in uri else "loudest"})
        if not result.is_error and result.structured_content["indexed_to_sample"] >= sample:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{uri} was not indexed to sample {sample}: {result.content[0].text}")


async def test_find_places_the_burst_and_the_sound_and_silence_edges_to_the_sample(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await indexed(client, URI, BURST + RATE // 2)
        loudest = await call(client, "stream_find", uri=URI, query="loudest", limit=3)
        hit = loudest["hits"][0]
        assert hit["exact"] and abs(hit["start"]["sample"] - BURST) <= RATE // 100, hit  # within 10 ms
        assert abs(hit["end"]["sample"] - (BURST + RATE // 20)) <= RATE // 100, hit
        assert hit["score"] == pytest.approx(20 * np.log10(np.abs(signal()[:, 0]).max()), abs=0.1)
        # The hit's time points are taken by stream_slice as they are: the cut is the burst.
        cut = await call(client, "stream_slice", uri=URI, start=hit["start"], end=hit["end"])
        assert cut["sample_range"] == [hit["start"]["sample"], hit["end"]["sample"]]

        # The burst follows 0.9 s of silence: found with a half-second minimum of silence before.
        starts = await call(client, "stream_find", uri=URI, query="sound_starts", channels=[1], min_silence_s=0.5)
        assert starts["hits"][0]["channel"] == 1
        assert abs(starts["hits"][0]["start"]["sample"] - SINE[0]) <= RATE // 1000, starts  # within 1 ms
        assert any(abs(h["start"]["sample"] - BURST) <= RATE // 1000 for h in starts["hits"]), starts
        # After the last click, 1 s of silence before the burst: found with a half-second minimum.
        quiet = await call(client, "stream_find", uri=URI, query="silence_starts", min_silence_s=0.5, channels=[0])
        last_click_end = CLICKS[-1] + RATE * 5 // 1000
        assert any(abs(h["start"]["sample"] - last_click_end) <= RATE // 1000 for h in quiet["hits"]), quiet
        assert (await call(client, "stream_find", uri=URI, query="clipping"))["total"] == 0
        change = await call(client, "stream_find", uri=URI, query="change")
        # From a 440 Hz sine to noise clicks at 2 a second: brightness and onset rate both jump near 3 s.
        assert any(2 * RATE <= h["start"]["sample"] <= 4 * RATE for h in change["hits"]), change


async def test_activity_is_the_recording_in_buckets_with_a_picture(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await indexed(client, URI, BURST + RATE // 2)
        result = await client.call_tool("stream_activity", {"uri": URI, "start": {"sample": 0}, "end": {"sample": 8 * RATE},
                                                            "resolution": 1, "picture": True, "width": 900,
                                                            "height": 500})
        assert not result.is_error, result.content[0].text
        found = result.structured_content
        json.dumps(found, allow_nan=False)
        assert found["buckets"] == 8 and found["bucket_samples"] == RATE and found["resolution_s"] == 1
        ch = found["channels"][0]
        assert ch["rms_dbfs"][0] == -120.0 and ch["centroid_hz"][0] is None  # digital silence, floored
        assert ch["rms_dbfs"][1] == pytest.approx(-23.0, abs=0.1) and ch["peak_dbfs"][1] == pytest.approx(-20, abs=0.1)
        assert ch["centroid_hz"][1] == pytest.approx(440, rel=0.1)
        assert ch["onsets"][3:7] == [2, 2, 2, 2] and sum(ch["onsets"][:3]) <= 1  # clicks at 120 BPM
        assert ch["peak_dbfs"][7] == pytest.approx(20 * np.log10(np.abs(signal()[BURST:, 0]).max()), abs=0.1)
        images = [c for c in result.content if c.type == "image"]
        assert Image.open(io.BytesIO(base64.b64decode(images[0].data))).size == (900, 500)


async def test_find_and_activity_refuse_bad_input_by_name(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        assert "query" in await refused(client, "stream_find", uri=URI, query="loudness")
        assert "channels: [5] out of range" in await refused(client, "stream_find", uri=URI, query="loudest",
                                                             channels=[5])
        assert "query: note is for MIDI" in await refused(client, "stream_find", uri=URI, query="note")
        assert "pitch: only query 'note'" in await refused(client, "stream_find", uri=URI, query="loudest", pitch=60)
        assert "resolution" in await refused(client, "stream_activity", uri=URI, resolution=0)
        assert "stream://alsa/none" in await refused(client, "stream_activity", uri="stream://alsa/none")
        assert "outside the recording" in await refused(client, "stream_find", uri=URI, query="loudest",
                                                        start={"sample": 10 ** 12}, end={"sample": 10 ** 12 + 1})
        assert "before anything of stream://alsa/main was recorded" in await refused(
            client, "stream_activity", uri=URI, start={"seconds_ago": 7200}, end={"seconds_ago": 3600})
        # "The last hour" of a box that has recorded for seconds is those seconds.
        hour = await call(client, "stream_activity", uri=URI, start={"seconds_ago": 3600})
        assert hour["sample_range"][0] == 0


async def test_find_notes_of_a_midi_stream_by_pitch_class(box: Box) -> None:
    keys = "stream://sim/keys"
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await call(client, "stream_create", uri=keys, device="sim", kind="midi")
        await call(client, "stream_start", uri=keys)
        try:
            head = (await call(client, "stream_status", uri=keys))["streams"][0]["head_sample"]
            await indexed(client, keys, head + 2 * RATE)  # MIDI seals each second here
            every = await call(client, "stream_find", uri=keys, query="note", limit=1000)
            assert every["total"] >= 6 and all(h["exact"] and h["channel"] is None for h in every["hits"])
            pitch = SimMidiSource.MELODY[0]
            name = note_name(pitch)[:-1]  # the pitch class, in any octave
            some = await call(client, "stream_find", uri=keys, query="note", pitch=name, limit=1000)
            assert 0 < some["total"] < every["total"] and all(name in h["detail"] for h in some["hits"])
            one = some["hits"][-1]
            cut = await call(client, "stream_analyze", uri=keys, start=one["start"], end=one["end"])
            assert cut["midi"]["notes"][0]["pitch"] % 12 == pitch % 12
            assert "is not a pitch" in await refused(client, "stream_find", uri=keys, query="note", pitch="H2")
            assert "query: loudest is for audio" in await refused(client, "stream_find", uri=keys, query="loudest")
            assert "is a MIDI stream, cut as a Standard MIDI File" in await refused(
                client, "stream_slice", uri=keys, start={"seconds_ago": 1}, format="flac")
            activity = await call(client, "stream_activity", uri=keys, start={"seconds_ago": 10}, resolution=1)
            assert activity["midi"] is not None and sum(activity["midi"]["notes"]) >= 3
        finally:
            await call(client, "stream_stop", uri=keys)


async def test_the_kernel_finds_and_reads_the_activity_through_the_box(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await indexed(client, URI, BURST + RATE // 2)
        code = (f"hit = find({URI!r}, 'loudest', limit=1)['hits'][0]\n"
                f"burst = analyze({URI!r}, hit['start'], hit['end'], channels=[0])\n"
                f"a = activity({URI!r}, {{'sample': 0}}, {{'sample': {8 * RATE}}}, resolution=1)\n"
                "hit['start']['sample'], round(burst['audio']['channels'][0]['peak_dbfs']), a['buckets']")
        result = await call(client, "weave_eval", code=code)
        assert result["success"], result.get("error")
        start, peak, buckets = eval(result["result"])  # the repr of a tuple of numbers
        assert abs(start - BURST) <= RATE // 100 and peak == round(20 * np.log10(np.abs(signal()[:, 0]).max()))
        assert buckets == 8


async def test_the_index_outlives_a_killed_hootenanny_unchanged(box: Box) -> None:
    """kill -9 hootenanny: the index it wrote is all there after the restart, and nothing is indexed twice."""
    whole = {"uri": URI, "start": {"sample": 0}, "end": {"sample": 8 * RATE}, "resolution": 0.5}
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await indexed(client, URI, BURST + RATE // 2)
        before = await call(client, "stream_activity", **whole)
        loudest = await call(client, "stream_find", uri=URI, query="loudest", limit=3)
    await asyncio.to_thread(box.wait_restarted, "hootenanny", box.kill("hootenanny"))
    await asyncio.to_thread(box.wait_ready)  # it calls a tool the CLI's way, with an event loop of its own
    async with mcp_session(box.url, box.token) as client:
        await indexed(client, URI, before["indexed_to_sample"])
        assert await call(client, "stream_activity", **whole) == before
        again = await call(client, "stream_find", uri=URI, query="loudest", limit=3)
        assert [{**h, "seconds_ago": None} for h in again["hits"]] == [{**h, "seconds_ago": None}
                                                                       for h in loudest["hits"]]


async def test_slices_as_flac_or_in_another_sample_format(box: Box) -> None:
    recorded = np.frombuffer(s32(signal()[SINE[0]:SINE[0] + RATE]), "<i4").reshape(-1, 2).astype(np.int64)

    async def fetch(cut: dict[str, Any], dtype: str) -> tuple[np.ndarray, Any]:
        data = httpx2.get(f"http://127.0.0.1:{box.port}{cut['download_url']}",
                          headers={"Authorization": f"Bearer {box.token}"}).content
        samples, _ = soundfile.read(io.BytesIO(data), dtype=dtype, always_2d=True)
        return samples, soundfile.info(io.BytesIO(data))

    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        flac = await call(client, "stream_slice", format="flac", sample_format="s24", **window(SINE[0], SINE[0] + RATE))
        samples, info = await fetch(flac, "int32")
        assert flac["mime"] == "audio/flac" and info.format == "FLAC" and info.subtype == "PCM_24"
        assert np.abs((samples >> 8) - recorded / 256).max() <= 1  # within one 24-bit step
        assert (await call(client, "artifact_get", artifact_id=flac["artifact_id"]))["metadata"]["lineage"][
            "sample_format"] == "s24"
        measured = await call(client, "stream_analyze", artifact_id=flac["artifact_id"], channels=[0])
        assert measured["audio"]["channels"][0]["peak_dbfs"] == pytest.approx(-20.0, abs=0.05)

        s16 = await call(client, "stream_slice", sample_format="s16", channels=[1], **window(SINE[0], SINE[0] + RATE))
        samples, info = await fetch(s16, "int16")
        error = samples[:, 0] - recorded[:, 1] / 65536
        assert info.subtype == "PCM_16" and np.abs(error).max() <= 1.5  # rounding plus one step of dither
        assert error.std() > 0.3  # TPDF dither is there: plain rounding would leave at most 0.29 (1/sqrt(12))
        again = await call(client, "stream_slice", sample_format="s16", channels=[1], **window(SINE[0], SINE[0] + RATE))
        assert again["content_hash"] == s16["content_hash"]  # the dither is seeded by the window

        f32 = await call(client, "stream_slice", sample_format="f32", **window(SINE[0], SINE[0] + RATE))
        samples, info = await fetch(f32, "float32")
        assert info.subtype == "FLOAT" and np.allclose(samples, recorded / 2 ** 31, atol=2 ** -24)

        assert "FLAC holds at most 24 bits; give sample_format 's24' or 's16'" in await refused(
            client, "stream_slice", format="flac", **window(0, RATE))
        assert "FLAC holds integers of at most 24 bits" in await refused(
            client, "stream_slice", format="flac", sample_format="f32", **window(0, RATE))
        assert "a virtual slice keeps the recorded bytes" in await refused(
            client, "stream_slice", output="virtual", sample_format="s16", **window(0, RATE))
        assert "format" in await refused(client, "stream_slice", format="mp3", **window(0, RATE))
