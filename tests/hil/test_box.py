"""The box checks against a real studio box on the LAN (`make hil`).

Set STUDIO_HIL_HOST (name or address, optionally :port; MCP is on 8080) and
STUDIO_HIL_TOKEN (`ssh studio@<box> studio token`). With STUDIO_HIL_SSH
(e.g. studio@studio-ab12cd.local, key-based) the services and the snd-aloop
loopback recording are checked too. The variables are read at import,
because the suite's autouse fixture removes every STUDIO_* variable before a
test runs.
USB hot-plug is not automated here (it needs hands on the box); the qemu
boot test covers it through the monitor.
"""

from __future__ import annotations

import os
import subprocess

import httpx2
import pytest

from image import box_checks

HOST = os.environ.get("STUDIO_HIL_HOST", "")
TOKEN = os.environ.get("STUDIO_HIL_TOKEN", "")
SSH = os.environ.get("STUDIO_HIL_SSH", "")
BASE_URL = f"http://{HOST if ':' in HOST else HOST + ':8080'}"

pytestmark = [
    pytest.mark.hil,
    pytest.mark.skipif(not HOST, reason="needs a real box: set STUDIO_HIL_HOST and STUDIO_HIL_TOKEN, then `make hil`"),
]
needs_token = pytest.mark.skipif(not (HOST and TOKEN), reason="set STUDIO_HIL_HOST and STUDIO_HIL_TOKEN "
                                                              "(on the box: `studio token`)")
needs_ssh = pytest.mark.skipif(not (HOST and SSH), reason="set STUDIO_HIL_HOST and STUDIO_HIL_SSH=studio@<box> "
                                                          "(key-based SSH) for this check")


def ssh(command: str, input: bytes | None = None, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", SSH, command], input=input,
                          capture_output=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(f"ssh {SSH} {command!r}: exit {done.returncode}: {done.stderr.decode()}")
    return done.stdout.decode()


def test_healthz_answers_without_a_token():
    response = httpx2.get(f"{BASE_URL}/healthz", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "ok"


@needs_token
async def test_mcp_lists_tools_with_the_token():
    async with box_checks.mcp_session(BASE_URL, TOKEN) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"stream_create", "stream_slice", "device_list"} <= names


@needs_token
async def test_device_list_answers():
    async with box_checks.mcp_session(BASE_URL, TOKEN) as client:
        devices = (await box_checks.call(client, "device_list"))["devices"]
    assert all({"id", "connected"} <= set(d) for d in devices)


@needs_ssh
def test_services_are_active():
    box_checks.services_active(ssh)


@needs_ssh
def test_root_is_read_only():
    assert box_checks.root_is_read_only(ssh)["options"].startswith("ro")


@needs_ssh
@needs_token
async def test_loopback_recording_is_sample_exact():
    result = await box_checks.loopback_recording_is_exact(BASE_URL, TOKEN, ssh, print, uri="stream://hil/loopback")
    assert result["waveform_at_frame"] >= result["recording_from"]


@needs_ssh
def test_the_loader_boots_the_version_that_runs():
    """On a Pi this is the firmware -> U-Boot -> boot.scr hop, which only a real Pi can show."""
    state = box_checks.loader_state(ssh)
    assert state["verdict"] in ("clean", "good", "indeterminate", "trial", "rolled-back")


@needs_ssh
def test_the_hardware_watchdog_is_armed():
    """The Pi's bcm2835-wdt or the NUC's iTCO, counting with systemd's 15 s (not hung on purpose: a real box)."""
    armed = box_checks.watchdog_armed(ssh)
    assert armed["systemd_interval"] == "15s" and int(armed["timeout_s"]) <= 15
