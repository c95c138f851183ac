"""Twenty agents at once while the box records eight channels: no call fails, no sample is lost.

Each agent is the official MCP SDK client over real HTTP with the token,
calling back to back, for STUDIO_FAULTS_LOAD_SECONDS (default 300):
stream_status; stream_slice, one time in eight a WAV from two seconds ago to
"now", else a virtual slice of the half second where the sealed chunks end
(as the last stream_status put it); weave_eval, counting in a kernel global
so a lost or repeated cell shows. A wrong answer is an error like a failed
call. How far the readable head ("now") trails the card is reported too.
Meanwhile chaosgarden records the counter card; afterwards every sample must
be in the recording, in one unbroken run. Latencies are reported, not held
to a target: the machine running this is shared.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from appliance.services.slicing.slicer import MIME_VIRTUAL, MIME_WAV
from tests.faults.box import rss_kib
from tests.faults.counter_card import RATE
from tests.faults.rig import Rig, recording_rig
from tests.support.mcp_client import mcp_session

pytestmark = pytest.mark.faults

CLIENTS = 20
CHANNELS = 8
SECONDS = float(os.environ.get("STUDIO_FAULTS_LOAD_SECONDS", "300"))
CHUNK_SAMPLES = RATE
WAV_SECONDS = 2  # "seconds_ago" to "now": both the wall clock, so exactly this long however loaded the box
WAV_EVERY = 8  # every slice is kept, and as a WAV 8 channels of s32 make 1.5 MB a second
VIRTUAL_SECONDS = 0.5
TOOLS = ("stream_status", "stream_slice", "weave_eval")
SHOWN_ERRORS = 10
HUNG_S = 120.0  # a call not answered in this long is counted as an error (it hung), not waited for


@dataclass
class Tally:
    """What the agents saw: latency of every answered call, and every call that went wrong."""

    calls: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    xruns: set[int] = field(default_factory=set)  # every xrun count stream_status reported
    sliced: list[int] = field(default_factory=list)  # frames each WAV slice cut
    heads: list[tuple[int, int]] = field(default_factory=list)  # (card frame as asked, head_sample answered)

    def error(self, agent: int, tool: str, what: str) -> None:
        self.errors.append(f"{time.strftime('%H:%M:%S')} agent {agent} {tool}: {what}")


class Agent:
    """One MCP client calling the three tools in turn until the deadline; wrong answers count as errors."""

    def __init__(self, number: int, rig: Rig, tally: Tally) -> None:
        self.number, self.rig, self.tally = number, rig, tally
        self.counter = f"load_{number}"
        self.count = 0  # the value the kernel global should have
        self.slices = 0
        self.sealed_end = 0  # where the sealed chunks end, as the last stream_status said
        self.asked: list[int] | None = None  # the exact window asked of a virtual slice
        self.card_frame = 0  # the card's clock when the current call was made

    async def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                async with mcp_session(self.rig.box.url, self.rig.box.token) as client:
                    for tool in itertools.cycle(TOOLS):
                        if time.monotonic() >= deadline:
                            return
                        await self.call(client, tool)
            except Exception as exc:  # the session itself broke: count it, open another
                self.tally.error(self.number, "session", repr(exc))
                await asyncio.sleep(0.5)

    async def call(self, client, tool: str) -> None:
        arguments = {
            "stream_status": {"uri": self.rig.uri},
            "stream_slice": self._slice_window(),
            "weave_eval": {"code": f"{self.counter} = globals().get({self.counter!r}, 0) + 1\n{self.counter}"},
        }[tool]
        self.tally.calls[tool] += 1
        self.card_frame = self.rig.card.frame
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(client.call_tool(tool, arguments), HUNG_S)
        except TimeoutError:
            self.tally.error(self.number, tool, f"no answer in {HUNG_S:.0f} s")
            return
        elapsed = time.perf_counter() - started
        if result.is_error:
            self.tally.error(self.number, tool, result.content[0].text if result.content else "error, no text")
            return
        self.tally.latencies[tool].append(elapsed)
        problem = getattr(self, f"_check_{tool}")(result.structured_content)
        if problem:
            self.tally.error(self.number, tool, problem)

    def _slice_window(self) -> dict:
        """A WAV up to the live edge, or a virtual slice (sealed chunks only) ending where the sealed ones do."""
        self.slices += 1
        if self.slices % WAV_EVERY == 1 or not self.sealed_end:
            self.asked = None
            return {"uri": self.rig.uri, "start": {"seconds_ago": WAV_SECONDS}, "end": "now"}
        self.asked = [self.sealed_end - int(VIRTUAL_SECONDS * RATE), self.sealed_end]
        return {"uri": self.rig.uri, "start": {"sample": self.asked[0]}, "end": {"sample": self.asked[1]},
                "output": "virtual"}

    def _check_stream_status(self, value: dict) -> str | None:
        (stream,) = value["streams"]
        self.tally.xruns.add(stream["xruns"])
        self.tally.heads.append((self.card_frame, stream["head_sample"]))
        self.sealed_end = stream["chunks_sealed"] * CHUNK_SAMPLES  # no gaps: sealed chunks tile from sample 0
        return None if stream["state"] == "recording" else f"state {stream['state']}: {stream}"

    def _check_stream_slice(self, value: dict) -> str | None:
        if self.asked is not None:
            ok = value["sample_range"] == self.asked and value["mime"] == MIME_VIRTUAL
        else:
            start, end = value["sample_range"]
            self.tally.sliced.append(end - start)
            ok = end - start == WAV_SECONDS * RATE and value["mime"] == MIME_WAV \
                and value["bytes"] >= (end - start) * CHANNELS * 4
        return None if ok else f"cut {value['sample_range']} as {value['bytes']} bytes of {value['mime']}"

    def _check_weave_eval(self, value: dict) -> str | None:
        self.count += 1
        if value["success"] and value["result"] == str(self.count):
            return None
        got = value["result"]
        if value["success"] and got and got.isdigit():
            self.count = int(got)  # follow the kernel, so one slip is one error
        return f"counter {got!r}, expected {self.count}: {value['error']}"


async def load(rig: Rig, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(Agent(n, rig, tally).run(deadline) for n in range(CLIENTS)))
    return tally


def disk_usage(root: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in root.rglob("*"))


def ms_quantile(seconds: list[float], q: float) -> str:
    return f"{np.quantile(seconds, q) * 1000:.0f} ms" if len(seconds) else "-"


@pytest.mark.timeout(SECONDS + 600)
def test_twenty_agents_while_recording_eight_channels(short_tmp, figure):
    figure.scenario = "load"
    with recording_rig(short_tmp, channels=CHANNELS, chunk_seconds=CHUNK_SAMPLES / RATE) as rig:
        xruns_before = rig.status()["xruns"]
        overruns_before = rig.card.overruns
        rss_before = {name: rss_kib(rig.box.pid(name)) for name in ("hootenanny", "vibeweaver")}
        tally = asyncio.run(load(rig, SECONDS))
        rig.wait_recorded(1.0)
        xruns = rig.status()["xruns"] - xruns_before
        overruns = rig.card.overruns - overruns_before
        card_log = rig.card.overrun_log[:]
        rss_after = {name: rss_kib(rig.box.pid(name)) for name in ("hootenanny", "vibeweaver")}
        recording = rig.stop_and_read()
        bad = rig.bad_content()
        stored = disk_usage(rig.box.data_dir)
        complaints = [line for line in rig.box.log().splitlines() if " WARNING " in line or " ERROR " in line]

    figure("agents x seconds", f"{CLIENTS} x {SECONDS:.0f}")
    figure("channels recorded", CHANNELS)
    figure("errors", len(tally.errors), target="0", ok=not tally.errors)
    for tool in TOOLS:
        figure(f"{tool} calls", tally.calls[tool])
        figure(f"{tool} p50", ms_quantile(tally.latencies[tool], 0.5))
        figure(f"{tool} p99", ms_quantile(tally.latencies[tool], 0.99))
    figure("WAV slice length, median", f"{np.median(tally.sliced) / RATE:.2f} s" if tally.sliced else "-")
    figure("capture xruns during the load", xruns, target="0", ok=xruns == 0)
    figure("xrun counts stream_status showed", sorted(tally.xruns))
    figure("card overruns (chaosgarden read too late)", overruns)
    figure("card thread worst lateness", f"{rig.card.worst_lateness_s * 1000:.1f} ms")
    for name in rss_before:
        figure(f"{name} RSS", f"{rss_before[name] // 1024} -> {rss_after[name] // 1024} MiB")
    figure("warnings and errors the box logged", len(complaints))
    figure("data directory after", f"{stored / 2**30:.1f} GiB")

    runs = recording.runs()
    if runs:  # the card's frame k is timeline frame k - offset: how far behind it the head was, when asked
        lag = np.array([card - runs[0].offset - head for card, head in tally.heads]) / RATE
        for q, name in ((0.5, "p50"), (0.99, "p99"), (1.0, "worst")):
            figure(f"readable head behind the card, {name}", ms_quantile(lag, q))
    lost = sum(b.source - a.source - a.length for a, b in zip(runs, runs[1:]))
    figure("samples recorded", recording.frames)
    figure("samples lost", lost, target="0", ok=lost == 0)
    figure("breaks in the audio", len(runs) - 1, target="0", ok=len(runs) == 1)
    figure("gaps in the manifest", len(recording.manifest.gaps), target="0", ok=not recording.manifest.gaps)
    figure("sealed chunks not verifying", len(recording.unverified), target="0", ok=not recording.unverified)
    figure("CAS files not verifying", bad, target="0", ok=bad == 0)

    assert not tally.errors, (f"{len(tally.errors)} errors, first: {tally.errors[:SHOWN_ERRORS]}; "
                              f"the box logged: {complaints[:SHOWN_ERRORS]}")
    assert all(tally.latencies[tool] for tool in TOOLS), "every tool was answered at least once"
    assert xruns == 0
    assert len(runs) == 1 and runs[0].start == 0 and runs[0].length == recording.frames, (runs[:5], card_log)
    assert not recording.manifest.gaps and not recording.unverified and bad == 0
