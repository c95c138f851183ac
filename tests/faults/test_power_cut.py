"""Power cut: the data directory as a crash would leave it, taken at random moments while recording.

All three processes are frozen for the moment of the copy, so the copy is
one instant of what the kernel holds (what a crash image would see). A box
started on the copy must open it, report what it recovered, and have lost
at most the tail that hootenanny had not yet been told about.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
from pathlib import Path

import pytest

from appliance.services.capture.streams import LIVE_PERSIST_INTERVAL_S
from tests.faults.box import COMMANDS
from tests.faults.recording import ms
from tests.faults.rig import recording_rig

pytestmark = pytest.mark.faults

CUTS = 3
# hootenanny writes the live edge into the manifest once a second (LIVE_PERSIST_INTERVAL_S); what it was
# told since then is in the chunk file but not yet named, so a cut may lose up to that much.
LOSS_BOUND_MS = 1000 * LIVE_PERSIST_INTERVAL_S + 100


def frozen_copy(rig, target: Path) -> int:
    """Copy the data directory with every process stopped; return the head hootenanny had been told."""
    head = rig.status()["head_sample"]
    pids = [rig.box.pid(name) for name in COMMANDS]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        shutil.copytree(rig.box.data_dir, target, symlinks=True)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    return head


def test_restart_from_a_crash_image(short_tmp, figure):
    rng = random.Random(11)
    cuts: list[tuple[Path, int]] = []
    with recording_rig(short_tmp) as rig:
        for i in range(CUTS):
            rig.wait_recorded(rng.uniform(1.0, 4.0))
            cuts.append((short_tmp / f"cut{i}", frozen_copy(rig, short_tmp / f"cut{i}")))
    figure.scenario = f"power cut x{CUTS}"
    losses, reports = [], []
    data_dir = rig.box.data_dir
    for i, (image, head) in enumerate(cuts):
        # Back on the same disk at the same place, as after a real power cut (the catalog names paths).
        shutil.rmtree(data_dir)
        shutil.copytree(image, data_dir, symlinks=True)
        root = short_tmp / f"restored{i}"
        root.mkdir()
        with recording_rig(root, data_dir=data_dir, create=False) as restored:
            log = restored.box.log()
            recording = restored.stop_and_read()
        runs = recording.runs()
        assert runs and runs[0].start == 0, runs
        losses.append(head - runs[0].end)
        reports.append(bool(re.search(r"recovered \d+ sealed chunks \(\d+ samples\)", log)))
        assert not recording.unverified and recording.holes() == 0
    figure("audio lost behind the notified head, worst", f"{ms(max(losses))} ms",
           target=f"<= {LOSS_BOUND_MS:.0f} ms", ok=ms(max(losses)) <= LOSS_BOUND_MS)
    figure("audio lost behind the notified head, each (ms)", " ".join(f"{ms(x)}" for x in losses))
    figure("restarts that reported what they recovered", sum(reports), target=str(CUTS), ok=all(reports))
    assert all(reports)
    assert ms(max(losses)) <= LOSS_BOUND_MS, losses
