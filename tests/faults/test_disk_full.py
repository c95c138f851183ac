"""The disk fills up while recording: a clear error, and nothing sealed is harmed.

The data directory is a small tmpfs mounted by the test (a size-limited
directory; needs root, as on the box). Recording must stop with an error
that says the disk is full on `stream_status` and in the log; every sealed
chunk must verify, and no half-written file may sit under content/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appliance.cas import ContentStore
from tests.faults.recording import Recording
from tests.faults.rig import URI, recording_rig
from tests.support.garden import wait_until

pytestmark = pytest.mark.faults

SIZE_MIB = 12
RESERVE_MIB = 1  # what the box keeps free for manifests and the catalog (64 MiB by default)


@pytest.fixture
def small_disk(short_tmp: Path):
    mount = short_tmp / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a {SIZE_MIB} MiB tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_stops_cleanly(short_tmp, small_disk, figure):
    env = {"STUDIO_CAPTURE_DISK_RESERVE_MB": str(RESERVE_MIB)}
    with recording_rig(short_tmp, chunk_seconds=0.5, data_dir=small_disk / "data", extra_env=env) as rig:
        wait_until(lambda: rig.status()["state"] != "recording", timeout=180, interval=0.2)
        status = rig.status()
        log = rig.box.log()
        bad = rig.bad_content()
        store = ContentStore(rig.box.data_dir / "cas")
        partial = [p for p in store.content_dir.rglob("*") if p.is_file() and len(p.name) != 64]
        recording = Recording.load(rig.box.data_dir, URI, rig.channels)
        answers = rig.box.call("stream_status")  # still serving
    figure.scenario = f"disk full ({SIZE_MIB} MiB data partition)"
    runs = recording.runs()
    said_full = status["last_error"].startswith("disk full: ")
    figure("stream state after the disk filled", status["state"], target="stopped", ok=status["state"] == "stopped")
    figure("error on stream_status", status["last_error"][:40] + "...", target="names the full disk", ok=said_full)
    figure("error in the log", "yes" if status["last_error"] in log else "no", target="yes",
           ok=status["last_error"] in log)
    figure("seconds recorded before it filled", f"{recording.frames / 48000:.1f}")
    figure("breaks in the sealed audio", len(runs) - 1, target="0", ok=len(runs) == 1)
    figure("CAS files not verifying", bad, target="0", ok=bad == 0)
    figure("half-written files under content/", len(partial), target="0", ok=not partial)
    assert status["state"] == "stopped" and said_full and status["last_error"] in log
    assert len(runs) == 1 and bad == 0 and not partial and not recording.unverified
    assert answers["streams"]
