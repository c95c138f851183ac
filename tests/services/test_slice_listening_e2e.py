"""stream_slice's listening through the front door: `studio up`, a known signal through the ALSA `file` plugin
and the simulated keyboard, the official MCP client calling the tool as an agent does.

- `excerpt_seconds`: the first seconds as MCP audio content (a 16-bit WAV of the channels kept) and a
  resource link to the whole artifact, for clients that drop audio.
- `output: "notes"`: a MIDI window's notes in the result and as a JSON artifact, the same notes
  stream_analyze lists.
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
import pytest
import soundfile

from appliance.pitches import note_name
from appliance.rt.sim_source import SimMidiSource
from tests.faults.box import Box
from tests.support.alsa import PCM_NAME, PacedFifo
from tests.support.garden import wait_until
from tests.support.mcp_client import mcp_session

RATE = 48_000
PERIOD = 1024
LENGTH = 94 * PERIOD  # about 2 s, whole periods
URI = "stream://alsa/listen"
KEYS = "stream://sim/keys"
EXCERPT_LIMIT_S = 1.0


def signal() -> np.ndarray:
    """Two channels told apart: a 440 Hz sine at -6 dBFS on 0, a 220 Hz sine at -12 dBFS on 1."""
    t = np.arange(LENGTH) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 220 * t)], axis=1)


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    """One box for the module, the signal recorded before the first test."""
    with tempfile.TemporaryDirectory(prefix="li-", dir="/tmp") as tmp:  # short: unix socket paths
        root = Path(tmp)
        fifo = PacedFifo(root / "in.fifo")
        box = Box(root, fifo.path, extra_env={"STUDIO_SLICING_EXCERPT_MAX_SECONDS": str(EXCERPT_LIMIT_S)})
        try:
            box.start()
            box.call("stream_create", uri=URI, device=PCM_NAME, sample_format="s32", chunk_samples=16384)
            box.call("stream_start", uri=URI)
            samples = np.round(signal() * (2 ** 31 - 1)).astype("<i4").tobytes()
            fifo.write_periods(samples, PERIOD * 8, wait_until, PERIOD / RATE)
            wait_until(lambda: box.call("stream_status", uri=URI)["streams"][0]["head_sample"] >= LENGTH)
            yield box
        finally:
            box.stop()
            fifo.close()


async def refused(client: Any, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} {arguments} was not refused"
    return " ".join(getattr(c, "text", "") for c in result.content)


def download(box: Box, url: str) -> bytes:
    response = httpx2.get(url, headers={"Authorization": f"Bearer {box.token}"})
    assert response.status_code == 200, response.text
    return response.content


def window(first: int, last: int) -> dict[str, Any]:
    return {"uri": URI, "start": {"sample": first}, "end": {"sample": last}}


async def test_an_excerpt_is_audio_content_with_a_link_to_the_whole_slice(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        result = await client.call_tool("stream_slice", {**window(0, RATE * 3 // 2), "channels": [1],
                                                         "excerpt_seconds": 0.5})
        assert not result.is_error, result.content[0].text
        cut = result.structured_content
        audio = [c for c in result.content if c.type == "audio"]
        links = [c for c in result.content if c.type == "resource_link"]
        assert len(audio) == 1 and audio[0].mime_type == "audio/wav"
        heard, rate = soundfile.read(io.BytesIO(base64.b64decode(audio[0].data)), dtype="float64", always_2d=True)
        assert rate == RATE and heard.shape == (RATE // 2, 1)
        assert soundfile.info(io.BytesIO(base64.b64decode(audio[0].data))).subtype == "PCM_16"
        assert np.abs(heard[:, 0] - signal()[:RATE // 2, 1]).max() < 2 / 32767  # channel 1, at 16 bits

        assert len(links) == 1 and links[0].uri == f"http://127.0.0.1:{box.port}{cut['download_url']}"
        assert (links[0].name, links[0].mime_type, links[0].size) == (cut["artifact_id"], "audio/wav", cut["bytes"])
        whole, _ = soundfile.read(io.BytesIO(download(box, links[0].uri)), dtype="int32", always_2d=True)
        assert whole.shape == (RATE * 3 // 2, 1)  # the link is the whole slice, every bit as recorded


async def test_an_excerpt_longer_than_the_slice_is_the_whole_slice(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        result = await client.call_tool("stream_slice", {**window(RATE, RATE + 4800), "excerpt_seconds": 1})
        assert not result.is_error, result.content[0].text
        audio = next(c for c in result.content if c.type == "audio")
        heard, _ = soundfile.read(io.BytesIO(base64.b64decode(audio.data)), always_2d=True)
        assert heard.shape == (4800, 2)


async def test_the_notes_of_a_midi_window_are_the_ones_analysis_lists(box: Box) -> None:
    melody = {note_name(p) for p in SimMidiSource.MELODY}
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        await client.call_tool("stream_create", {"uri": KEYS, "device": "sim", "kind": "midi"})
        await client.call_tool("stream_start", {"uri": KEYS})
        try:
            await asyncio.sleep(3)
            result = await client.call_tool("stream_slice", {"uri": KEYS, "start": {"seconds_ago": 2},
                                                             "output": "notes"})
            assert not result.is_error, result.content[0].text
            cut = result.structured_content
            notes = cut["notes"]
            # The simulated keyboard: a note every 0.25 s (a sixteenth on, a sixteenth off at 120 BPM), no clock.
            assert cut["mime"] == "application/json" and 7 <= cut["note_count"] == len(notes) <= 9
            assert {n["name"] for n in notes} <= melody and all(n["start_beat"] is None for n in notes)
            assert all(n["duration_s"] == pytest.approx(0.125, abs=0.01) or n["held_past_end"] for n in notes)
            assert all((n["velocity"], n["channel"]) == (100, 0) and note_name(n["pitch"]) == n["name"]
                       for n in notes)
            steps = np.diff([n["start_s"] for n in notes])
            assert np.abs(steps - 0.25).max() < 0.01, steps
            assert f"{len(notes)} notes: {notes[0]['name']}" in result.content[0].text

            kept = (await client.call_tool("artifact_get", {"artifact_id": cut["artifact_id"]})).structured_content
            assert kept["mime"] == "application/json" and kept["metadata"]["lineage"]["output"] == "notes"
            assert kept["metadata"]["lineage"]["sample_range"] == cut["sample_range"]
            stored = json.loads(download(box, f"http://127.0.0.1:{box.port}{cut['download_url']}"))
            assert stored == {"notes": notes}

            first, last = cut["sample_range"]
            analysed = await client.call_tool("stream_analyze", {"uri": KEYS, "start": {"sample": first},
                                                                 "end": {"sample": last}})
            assert analysed.structured_content["midi"]["notes"] == notes  # one way of pairing notes

            assert "excerpt_seconds: stream://sim/keys is a MIDI stream" in await refused(
                client, "stream_slice", uri=KEYS, start={"seconds_ago": 1}, excerpt_seconds=0.5)
        finally:
            await client.call_tool("stream_stop", {"uri": KEYS})


async def test_bad_input_names_what_is_allowed(box: Box) -> None:
    async with mcp_session(box.url, box.token) as client:  # an agent: the official MCP client
        assert ("output: 'notes' is for MIDI streams and stream://alsa/listen is audio; use 'materialize' (a WAV) "
                "or 'virtual'") in await refused(client, "stream_slice", output="notes", **window(0, RATE))
        assert "excerpt_seconds: 2 s is over the limit of 1 s (slicing.excerpt_max_seconds)" in await refused(
            client, "stream_slice", excerpt_seconds=2, **window(0, RATE))
        assert "excerpt_seconds: only with output 'materialize'" in await refused(
            client, "stream_slice", excerpt_seconds=0.5, output="virtual", **window(0, RATE))
        assert "excerpt_seconds" in await refused(client, "stream_slice", excerpt_seconds=0, **window(0, RATE))
        assert "picture: only with output 'materialize'" in await refused(
            client, "stream_slice", picture=True, output="notes", **window(0, RATE))
        assert "'materialize', 'virtual' or 'notes'" in await refused(client, "stream_slice", output="mp3",
                                                                       **window(0, RATE))
