"""What makes a studio box work, checked from outside as an agent and a maintainer see it.

Shared by the qemu boot test (`image.boot_test`, tests/vm) and the
hardware-in-loop tests (tests/hil): the root is read-only, what first boot
made survives a reboot, the three services are active, a known
waveform played into the ALSA loopback comes back sample-exact through the
real MCP endpoint (stream_create, stream_start, stream_slice, then the
`/artifacts/<id>` download), and a sound card plugged in reaches
hootenanny's device_list (and its removal, too).
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import httpx2
import numpy as np
import soundfile as sf
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

SERVICES = ("chaosgarden", "hootenanny", "vibeweaver")
RATE = 48000
CHANNELS = 2
FRAME_BYTES = 4 * CHANNELS  # s32 stereo
# snd-aloop joins playback substream N of device 0 to capture substream N of device 1. Named without a
# substream, each side takes the first one free, so anything else holding one (a device probe) pairs aplay
# with a capture nobody records: a silent recording. Named, a busy substream is an error that says so.
PLAYBACK_PCM = "hw:Loopback,0,0"
CAPTURE_PCM = "hw:Loopback,1,0"


class Shell(Protocol):
    """A command on the box as the studio user (SSH); returns stdout."""

    def __call__(self, command: str, input: bytes | None = None, timeout: float = 120, check: bool = True) -> str: ...


class BoxCheckFailed(AssertionError):
    """A check saw the box misbehave; the message says what it saw."""


@asynccontextmanager
async def mcp_session(base_url: str, token: str) -> AsyncIterator[Client]:
    """The official SDK client over real HTTP with the bearer token, as an agent connects."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        async with Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client:
            yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise BoxCheckFailed(f"{tool}: {' '.join(getattr(c, 'text', '') for c in result.content)}")
    return result.structured_content or {}


async def poll(probe: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Await `probe()` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BoxCheckFailed(f"after {timeout:.0f} s: {what}")
        await asyncio.sleep(every)


def services_active(shell: Shell, timeout: float = 180) -> dict[str, str]:
    """`systemctl is-active` of the three services and studio.target, waited for until all are active.

    vibeweaver comes up last (it registers with hootenanny), so a box whose
    MCP already answers may still be activating it; a failed unit is left
    failed by its start limit, and then the wait ends with its state.
    """
    units = [*SERVICES, "studio.target"]
    deadline = time.monotonic() + timeout
    while True:
        states = dict(zip(units, shell("systemctl is-active " + " ".join(units), check=False).split()))
        if set(states.values()) == {"active"} and len(states) == len(units):
            return states
        if time.monotonic() > deadline:
            raise BoxCheckFailed(f"not all active after {timeout:.0f} s: {states}")
        time.sleep(2)


def root_is_read_only(shell: Shell) -> dict[str, str]:
    """`/` is mounted ro and refuses a write even from root; returns the mount options and what the write said."""
    options = shell("findmnt -no OPTIONS /").strip()
    if options.split(",")[0] != "ro":
        raise BoxCheckFailed(f"/ is mounted {options!r}, not read-only")
    refused = shell("sudo touch /usr/studio-write-probe 2>&1 && echo WRITTEN", check=False).strip()
    if "WRITTEN" in refused or "Read-only file system" not in refused:
        raise BoxCheckFailed(f"a write to /usr as root was not refused as read-only: {refused!r}")
    return {"options": options, "write": refused}


def data_partition_grown(shell: Shell, timeout: float = 180) -> int:
    """Bytes of the data partition's filesystem once studio-grow-data has run; raises if that unit failed."""
    deadline = time.monotonic() + timeout
    while (state := shell("systemctl is-active studio-grow-data.service", check=False).strip()) != "active":
        if state == "failed" or time.monotonic() > deadline:
            raise BoxCheckFailed(f"studio-grow-data.service is {state}: "
                                 f"{shell('sudo journalctl -b -u studio-grow-data --no-pager | tail -5', check=False)}")
        time.sleep(1)
    return int(shell("df -B1 --output=size /data | tail -1").strip())


def identity(shell: Shell) -> dict[str, str]:
    """What first boot made and every later boot must keep: machine ID, name, SSH host key, token, authorized keys."""
    command = ("cat /etc/machine-id; hostname; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2; "
               "sudo sha256sum /var/lib/studio/mcp-token | cut -d' ' -f1; sha256sum ~/.ssh/authorized_keys | cut -d' ' -f1")
    names = ("machine_id", "hostname", "ssh_host_key", "mcp_token_sha256", "authorized_keys_sha256")
    values = shell(command).split()
    if len(values) != len(names):
        raise BoxCheckFailed(f"identity: expected {len(names)} values, got {values}")
    return dict(zip(names, values))


WATCHDOG = "/sys/class/watchdog/watchdog0"
# Stops systemd (PID 1) where it stands and holds it there, as a hang would. A ptrace stop needs no signal, which
# PID 1 would not take; the tracer sleeps so the stop lasts, and nothing but a watchdog can end it. PID 1's state
# is read in the same session: a new SSH login would wait on logind, which waits on the stopped systemd.
HANG_PID1 = ("sudo nohup python3 -c 'import ctypes, time; libc = ctypes.CDLL(None); "
             "assert libc.ptrace(0x4206, 1, 0, 0) == 0; assert libc.ptrace(0x4207, 1, 0, 0) == 0; time.sleep(3600)' "
             ">/dev/null 2>&1 </dev/null & "
             "for i in $(seq 40); do s=$(grep '^State:' /proc/1/status); "
             "case \"$s\" in *'tracing stop'*) break;; esac; sleep 0.5; done; echo \"$s\"")


def watchdog_armed(shell: Shell) -> dict[str, str]:
    """The hardware watchdog is open and counting, with systemd's interval; raises otherwise."""
    state = shell(f"cat {WATCHDOG}/identity {WATCHDOG}/state {WATCHDOG}/timeout 2>&1; "
                  "systemctl show -P RuntimeWatchdogUSec", check=False).splitlines()
    if len(state) != 4 or state[1] != "active":
        raise BoxCheckFailed(f"no active hardware watchdog: {WATCHDOG} says {state}")
    return dict(zip(("device", "state", "timeout_s", "systemd_interval"), state))


def hang_pid1(shell: Shell) -> str:
    """Stop PID 1 for good; returns its state line, which must say `t (tracing stop)`."""
    state = shell(HANG_PID1, timeout=90, check=False).strip()
    if "tracing stop" not in state:
        raise BoxCheckFailed(f"PID 1 did not stop: {state!r}")
    return state


RUNNING_VERSION = "sed -n 's/^IMAGE_VERSION=//p' /etc/os-release"
# What each arch's loader says of this boot: systemd-bless-boot's verdict; boot-trial's `verdict=… good=…` line.
LOADER_STATUS = {"amd64": "sudo /usr/lib/systemd/systemd-bless-boot status",
                 "arm64": "sudo /usr/local/lib/studio/boot-trial status"}


def loader_state(shell: Shell) -> dict[str, str]:
    """Which version runs and what its loader thinks of it; raises unless the loader boots the running version.

    amd64: systemd-bless-boot's status of this boot (`clean` for an entry
    without a counter, `good`, or `indeterminate` while on trial). The Pi:
    boot-trial's line from U-Boot's state file, whose good or trial version
    must be the one running; on a real Pi that shows the firmware started
    U-Boot and U-Boot ran our script, which qemu cannot show.
    """
    arch = shell("dpkg --print-architecture").strip()
    version = shell(RUNNING_VERSION).strip()
    if arch == "amd64":
        verdict = shell(LOADER_STATUS[arch], check=False).strip()
        if verdict not in ("clean", "good", "indeterminate"):
            raise BoxCheckFailed(f"systemd-bless-boot status says {verdict!r}: this boot was not started by "
                                 "systemd-boot from a studio entry")
        return {"arch": arch, "version": version, "verdict": verdict}
    line = shell(f"{LOADER_STATUS[arch]} 2>&1", check=False).strip()
    state = dict(field.split("=", 1) for field in line.split() if "=" in field)
    if version not in (state.get("good"), state.get("trial")):
        raise BoxCheckFailed(f"running {version}, but U-Boot's state file says {line!r}")
    return {"arch": arch, "version": version, **state}


def known_waveform(seconds: float = 2.0) -> bytes:
    """Stereo s32 noise from a fixed seed: every frame differs, so there is exactly one place it can match."""
    return random.Random(9).randbytes(int(seconds * RATE) * FRAME_BYTES)


def find_exactly(recording: bytes, wave: bytes) -> int:
    """The frame where `wave` starts in `recording`, checked byte for byte; raises if it is not all there."""
    at = recording.find(wave[:256])
    if at < 0:
        raise BoxCheckFailed(f"the waveform's first frames are nowhere in {len(recording)} recorded bytes; "
                             f"{pieces_found(recording, wave)}")
    if at % FRAME_BYTES:
        raise BoxCheckFailed(f"the waveform starts {at} bytes in, not on a frame boundary")
    got = recording[at : at + len(wave)]
    if got != wave:
        first_bad = next((i for i, (a, b) in enumerate(zip(got, wave)) if a != b), len(got))
        raise BoxCheckFailed(f"the waveform differs from byte {first_bad} of {len(wave)} (got {len(got)} bytes)")
    return at // FRAME_BYTES


def pieces_found(recording: bytes, wave: bytes, pieces: int = 8) -> str:
    """Where each eighth of `wave` is in `recording`: tells a lost start (an xrun) from a playback never heard."""
    step = len(wave) // pieces // FRAME_BYTES * FRAME_BYTES
    places = [recording.find(wave[i * step : i * step + 256]) for i in range(pieces)]
    found = [f"{i}/{pieces} at frame {at // FRAME_BYTES}" for i, at in enumerate(places) if at >= 0]
    nonzero = next((i for i, byte in enumerate(recording) if byte), -1)
    return (f"pieces of the waveform found: {', '.join(found) or 'none'}; first non-zero byte "
            f"{'none' if nonzero < 0 else f'at frame {nonzero // FRAME_BYTES}'}")


async def loopback_recording_is_exact(base_url: str, token: str, shell: Shell, say: Callable[[str], None],
                                      uri: str = "stream://boxcheck/loopback") -> dict[str, Any]:
    """Play a known waveform into snd-aloop on the box and get it back sample-exact over MCP."""
    shell("sudo modprobe snd-aloop && for i in $(seq 50); do grep -q Loopback /proc/asound/cards && exit 0; "
          "sleep 0.2; done; exit 1")
    wave = known_waveform()
    shell("cat > /tmp/studio-wave.raw", input=wave)
    async with mcp_session(base_url, token) as client:
        await call(client, "stream_create", uri=uri, device=CAPTURE_PCM, sample_rate=RATE, channels=CHANNELS,
                   sample_format="s32", chunk_samples=16384)
        await call(client, "stream_start", uri=uri)

        async def head(at_least: int) -> int:
            status = (await call(client, "stream_status", uri=uri))["streams"][0]
            return status["head_sample"] if status["head_sample"] >= at_least else 0
        recording_from = await poll(lambda: head(RATE // 2), 60, f"{uri} never recorded half a second")
        say(f"recording {CAPTURE_PCM}; playing {len(wave) // FRAME_BYTES} frames into {PLAYBACK_PCM}")
        # The capture side is open, so aloop makes aplay take its rate, format and channels.
        await asyncio.to_thread(shell, f"aplay -q -D {PLAYBACK_PCM} -t raw -f S32_LE -c {CHANNELS} -r {RATE} "
                                       "/tmp/studio-wave.raw", None, 120)
        played_to = await poll(lambda: head(0), 10, "no head")
        await poll(lambda: head(played_to + RATE // 2), 60, f"{uri} stopped advancing after the playback")
        sliced = await call(client, "stream_slice", uri=uri, start={"sample": 0}, end="now")
        status = (await call(client, "stream_status", uri=uri))["streams"][0]
        await call(client, "stream_stop", uri=uri)
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        response = await http.get(f"{base_url}{sliced['download_url']}")
    if response.status_code != 200:
        raise BoxCheckFailed(f"GET {sliced['download_url']}: {response.status_code} {response.text[:200]}")
    samples, rate = sf.read(io.BytesIO(response.content), dtype="int32")
    if rate != RATE or samples.ndim != 2 or samples.shape[1] != CHANNELS:
        raise BoxCheckFailed(f"slice is {rate} Hz, shape {samples.shape}")
    try:
        frame = find_exactly(np.ascontiguousarray(samples).tobytes(), wave)
    except BoxCheckFailed as exc:
        raise BoxCheckFailed(f"{exc}; the stream had {status['xruns']} xruns, last error {status['last_error']!r}, "
                             f"playback ended by sample {played_to}") from None
    return {"artifact_id": sliced["artifact_id"], "frames": samples.shape[0], "waveform_at_frame": frame,
            "recording_from": recording_from}


async def hotplug_reaches_device_list(base_url: str, token: str, plug: Callable[[], None],
                                      unplug: Callable[[], None], timeout: float = 120, settle: float = 10) -> str:
    """A sound card plugged in shows up connected in device_list, and unplugged shows up gone; returns its id.

    The card stays in for `settle` seconds after it is listed, as a person's
    would: pulled while its studio-device@ instance is still finishing its
    start, systemd deactivates the instance without running ExecStop, and
    hootenanny is never told of the removal (seen under TCG, where the
    instance's start takes seconds).
    """
    async with mcp_session(base_url, token) as client:
        async def connected() -> set[str]:
            return {d["id"] for d in (await call(client, "device_list"))["devices"] if d["connected"]}
        before = await connected()
        await asyncio.to_thread(plug)

        async def arrived() -> set[str]:
            return await connected() - before
        (device, *_) = sorted(await poll(arrived, timeout, f"no new device in device_list (had {sorted(before)})", 1))
        await asyncio.sleep(settle)
        await asyncio.to_thread(unplug)

        async def departed() -> bool:
            return device not in await connected()
        await poll(departed, timeout, f"{device} still connected after the unplug", 1)
    return device
