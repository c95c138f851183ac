"""stream_analyze through the front door: `studio up`, a known signal through the ALSA `file` plugin, the
official MCP client calling the tool as an agent does.

The signal: 1 s of silence, 2 s of a -20 dBFS 440 Hz sine, 4 s of clicks at
120 BPM, silence, a noise burst at a known sample, silence. The FIFO is fed a
period at a time, so stream sample n is signal sample n.
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
        box = Box(root, fifo.path, extra_env={"STUDIO_ANALYSIS_MAX_SECONDS": "8"})
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
        assert (await call(client, "artifact_get", artifact_id=cut["artifact_id"]))["metadata"]["lineage"][
            "channels"] == [1]
        assert "channels: [2] out of range; stream://alsa/main has 2 channels (0-1)" in await refused(
            client, "stream_slice", channels=[2], **window(0, RATE))
        assert "use output 'materialize'" in await refused(client, "stream_slice", channels=[0], output="virtual",
                                                           **window(0, RATE))
