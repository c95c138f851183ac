"""The front door: the README's quick start, run as written in a fresh clone, then driven as an agent drives it.

Nothing here starts the box its own way. The command comes out of the
README's quick-start block; it runs in a copy of the working tree (tracked
and new files, nothing ignored: no .venv, no var) with a clean environment,
so it builds its own .venv exactly as a new user's `make run` does. The only
change allowed is STUDIO_MCP_PORT, when 8080 is taken. The box is then used
through the official MCP client over HTTP with the token `make run` printed,
stopped with Ctrl-C (SIGINT to the terminal's process group), and started
again the same way.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mido
import numpy as np
import pytest
import soundfile
from mcp_types import ImageContent
from PIL import Image

from appliance.proto.stream_definition import SampleFormat
from image.box_checks import poll
from appliance.rt.sim_source import sim_frames
from tests.support.mcp_client import mcp_session

REPO = Path(__file__).resolve().parents[2]
RATE = 48000
AUDIO, MIDI = "stream://sim/audio", "stream://sim/midi"
INSTALL_GUARD_S = 900  # a first `make run` builds .venv: pip, and pyalsaaudio compiles
STOP_LIMIT_S = 10  # the bound for Ctrl-C
HANG_GUARD_S = 60
AWAY_S = 5  # between Ctrl-C and the second `make run`


def readme_command(name: str) -> str:
    """The line of the README's quick start that runs `make <name>`, exactly as written (comment dropped)."""
    block = re.search(r"```sh\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md has no ```sh quick-start block"
    for line in block.group(1).splitlines():
        command = line.split("#", 1)[0].strip()
        if command == f"make {name}":
            return command
    raise AssertionError(f"README's quick start does not say `make {name}`")


def fresh_clone(into: Path) -> Path:
    """The working tree as a new clone would have it, plus uncommitted edits: tracked and untracked, not ignored."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = into / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def clean_environment(home: Path) -> dict[str, str]:
    """What a login shell on a fresh machine has: a PATH with the Python `make` will find, HOME, a locale."""
    python = shutil.which("python3")
    assert python, "python3 is not on PATH"
    path = os.pathsep.join(dict.fromkeys([str(Path(python).parent), "/usr/local/sbin", "/usr/local/bin",
                                          "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    if not port_free(8080):
        env["STUDIO_MCP_PORT"] = str(free_port())
    return env


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Terminal:
    """`make run` in the foreground of a terminal of its own: its own session, its output read as it comes."""

    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)

    @classmethod
    def run(cls, command: str, cwd: Path, env: dict[str, str]) -> "Terminal":
        proc = subprocess.Popen(command.split(), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        terminal = cls(proc)
        threading.Thread(target=terminal._read, daemon=True).start()
        return terminal

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.match(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited ({self.proc.returncode}) before printing {pattern!r}:\n"
                                     f"{self.output[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"make run printed no {pattern!r} in {timeout:.0f} s:\n{self.output[-4000:]}")

    def ctrl_c(self) -> float:
        """SIGINT to the foreground process group, as the terminal sends it; seconds until make is gone."""
        began = time.monotonic()
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"make run still running {STOP_LIMIT_S} s after Ctrl-C:\n{self.output[-4000:]}")
        return time.monotonic() - began

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def processes_under(root: Path) -> list[str]:
    """Every live process started from the clone (its .venv's Python): what an orphan would be."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in command:
            found.append(f"{entry.name}: {command.strip()}")
    return found


@dataclass
class Box:
    url: str
    token: str

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")

    def download(self, path: str) -> bytes:
        reply = httpx2.get(self.base + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)
        assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
        return reply.content


async def call(client: Any, tool: str, **arguments: Any) -> tuple[dict[str, Any], list[Any]]:
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool} {arguments}: {text}"
    return result.structured_content, result.content


async def statuses(client: Any) -> dict[str, dict[str, Any]]:
    rows = (await call(client, "stream_status"))[0]["streams"]
    return {row["uri"]: row for row in rows}


@pytest.fixture
def clone() -> Iterator[Path]:
    # Short: the box's sockets live under ./var/run, and a unix socket path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="fd-", dir="/tmp") as tmp:
        yield fresh_clone(Path(tmp) / "studio")


def start(clone: Path, env: dict[str, str]) -> tuple[Terminal, Box]:
    terminal = Terminal.run(readme_command("run"), clone, env)
    url = terminal.wait_for(r"^MCP\s+(http://\S+/mcp)$", INSTALL_GUARD_S).group(1)
    token = terminal.wait_for(r"^token\s+(\S+)$", 30).group(1)
    port = env.get("STUDIO_MCP_PORT", "8080")
    assert url == f"http://127.0.0.1:{port}/mcp"
    box = Box(url, token)
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        try:
            if httpx2.get(box.base + "/healthz", timeout=2).status_code == 200:
                return terminal, box
        except httpx2.HTTPError:
            pass
        assert time.monotonic() < deadline, f"/healthz never answered:\n{terminal.output[-4000:]}"
        assert terminal.proc.poll() is None, f"make run exited:\n{terminal.output[-4000:]}"
        time.sleep(0.2)


def test_make_run_records_and_serves_an_agent_then_stops_and_resumes(clone: Path, tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    terminal, box = start(clone, env)
    try:
        kept = asyncio.run(first_run(box))
        head_before = kept["head"]
        assert terminal.ctrl_c() < STOP_LIMIT_S
        time.sleep(0.5)
        assert processes_under(clone) == [], "processes left behind after Ctrl-C"
        assert not re.search(r"Traceback|\bERROR\b|CancelledError", terminal.output), terminal.output[-4000:]
    finally:
        terminal.kill()

    time.sleep(AWAY_S)  # time away, to be recorded as a gap
    again, box = start(clone, env)
    try:
        asyncio.run(second_run(box, kept, head_before))
        again.ctrl_c()
        assert processes_under(clone) == []
    finally:
        again.kill()


async def first_run(box: Box) -> dict[str, Any]:
    async with mcp_session(box.url, box.token) as client:
        # 1. The devices: the simulated Eurorack is there and connected.
        devices = (await call(client, "device_list"))[0]["devices"]
        assert {"id": "sim", "connected": True}.items() <= next(d for d in devices if d["id"] == "sim").items()

        # 2. Both sim streams record, their heads move, and audio chunks seal.
        async def recording() -> dict[str, dict[str, Any]] | None:
            rows = await statuses(client)
            ok = all(rows.get(u, {}).get("state") == "recording" for u in (AUDIO, MIDI))
            return rows if ok and rows[AUDIO]["chunks_sealed"] >= 2 and rows[AUDIO]["head_sample"] > 11 * RATE \
                else None

        before = await poll(recording, HANG_GUARD_S, "both sim streams recording, two audio chunks sealed, 11 s recorded", 0.2)
        await asyncio.sleep(0.5)
        after = await statuses(client)
        for uri in (AUDIO, MIDI):
            assert after[uri]["head_sample"] > before[uri]["head_sample"], f"{uri} does not advance"
            assert after[uri]["device_connected"] and not after[uri]["last_error"], after[uri]

        # 3. The last 3 s of audio: exactly 3 s, and the samples the sim source made for those positions.
        audio, _ = await call(client, "stream_slice", uri=AUDIO, start={"seconds_ago": 3}, end="now")
        first, end = audio["sample_range"]
        assert end - first == 3 * RATE and audio["seconds"] == 3.0, audio
        wav = box.download(audio["download_url"])
        decoded, rate = soundfile.read(io.BytesIO(wav), dtype="int32", always_2d=True)
        assert rate == RATE and decoded.shape == (3 * RATE, 2)
        assert (await statuses(client))[AUDIO]["xruns"] == 0, "the sim source overran: samples are not comparable"
        expected = np.frombuffer(sim_frames(first, 3 * RATE, RATE, 2, SampleFormat.S32), "<i4").reshape(-1, 2)
        assert np.array_equal(decoded, expected), "the slice differs from what the sim source played"

        # 4. The last 10 s of MIDI as a Standard MIDI File with the sim melody's notes.
        midi, _ = await call(client, "stream_slice", uri=MIDI, start={"seconds_ago": 10}, end="now")
        assert midi["sample_range"][1] - midi["sample_range"][0] == 10 * RATE, midi
        song = mido.MidiFile(file=io.BytesIO(box.download(midi["download_url"])))
        notes = [m for m in song if m.type == "note_on" and m.velocity > 0]
        assert len(notes) >= 36, f"{len(notes)} notes in 10 s of a melody of 4 notes a second"
        assert {m.note for m in notes} <= {36, 48, 43, 46, 55, 51}
        assert 9.5 <= song.length <= 10.0, song.length

        # 5. A picture of a slice.
        _, content = await call(client, "stream_slice", uri=AUDIO, start={"seconds_ago": 2}, picture=True)
        images = [c for c in content if isinstance(c, ImageContent)]
        assert images and images[0].mime_type == "image/png"
        picture = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
        assert picture.format == "PNG" and picture.width >= 100 and picture.height >= 50

        # 5b. The README's analysis: the same window measured, with a labelled waveform, and the melody's notes.
        measured, content = await call(client, "stream_analyze", uri=AUDIO, start={"seconds_ago": 10},
                                       picture="waveform")
        assert measured["duration_s"] == 10.0 and len(measured["audio"]["channels"]) == 2, measured
        assert all(ch["peak_dbfs"] is not None and ch["loudness_lufs"] is not None
                   for ch in measured["audio"]["channels"]), measured
        assert [Image.open(io.BytesIO(base64.b64decode(c.data))).size
                for c in content if isinstance(c, ImageContent)] == [(800, 400)]
        played, _ = await call(client, "stream_analyze", uri=MIDI, start={"seconds_ago": 10})
        assert played["midi"]["note_count"] >= 36 and {n["pitch"] for n in played["midi"]["notes"]} <= \
            {36, 48, 43, 46, 55, 51}, played

        # 6. A session: created, played, stopped, exported.
        session, _ = await call(client, "session_create", streams=[AUDIO, MIDI], mode="passive", name="front door")
        sid = session["session"]
        await call(client, "session_play", session=sid)
        await asyncio.sleep(2)
        await call(client, "session_stop", session=sid)
        exported, _ = await call(client, "session_export", session=sid)
        assert [f["stream"] for f in exported["files"]] == [AUDIO, MIDI], exported
        wav_bytes, smf_bytes = (box.download(f["download_url"]) for f in exported["files"])
        assert soundfile.info(io.BytesIO(wav_bytes)).duration >= 1.9
        assert mido.MidiFile(file=io.BytesIO(smf_bytes)).length >= 1.5

        # 7. The kernel: a pattern sample, and a beat rule that fires once the transport plays.
        pattern, _ = await call(client, "weave_eval", code="a = await sample('pattern', inference={'pulses': 5})\na")
        assert pattern["success"], pattern
        rule, _ = await call(client, "weave_eval",
                             code="ticks = []\n@on_beat(1)\ndef tick(event):\n    ticks.append(event.beat)")
        assert rule["success"], rule

        # 8. The transport plays, and the 3 s slice goes on the next bar.
        await call(client, "transport_play")
        transport, _ = await call(client, "transport_status")
        next_bar = (int(transport["beat"]) // 4 + 1) * 4
        placed, _ = await call(client, "timeline_schedule", artifact_id=audio["artifact_id"], at=next_bar)
        assert placed, placed

        async def fired() -> bool:
            out, _ = await call(client, "weave_eval", code="len(ticks)")
            return out["success"] and int(out["result"]) >= 2

        await poll(fired, HANG_GUARD_S, "the @on_beat rule fired twice", 0.2)
        head = (await statuses(client))[AUDIO]["head_sample"]
        return {"audio": audio, "wav": wav, "head": head}


async def second_run(box: Box, kept: dict[str, Any], head_before: int) -> None:
    # 10. What the first run made is still there, byte for byte.
    assert box.download(kept["audio"]["download_url"]) == kept["wav"]
    async with mcp_session(box.url, box.token) as client:
        # The streams go on, with the time the box was down as a gap of silence on their timelines. The last
        # head seen (head_before) came at most a second or so before Ctrl-C, and the box was away at least
        # AWAY_S: so [head_before + 2 s, head_before + AWAY_S - 0.5 s] lies in the gap whatever the timing.
        async def resumed() -> dict[str, dict[str, Any]] | None:
            rows = await statuses(client)
            return rows if all(rows[u]["state"] == "recording" for u in (AUDIO, MIDI)) and \
                rows[AUDIO]["head_sample"] > head_before + (AWAY_S + 1) * RATE else None

        await poll(resumed, HANG_GUARD_S, "both streams recording again, past the time away", 0.2)
        gap_start, gap_end = head_before + 2 * RATE, head_before + int((AWAY_S - 0.5) * RATE)
        gap, _ = await call(client, "stream_slice", uri=AUDIO, start={"sample": gap_start}, end={"sample": gap_end})
        silence, _ = soundfile.read(io.BytesIO(box.download(gap["download_url"])), dtype="int32")
        assert len(silence) == gap_end - gap_start and not silence.any(), "the time away is not silence"
