"""hootenanny frozen (SIGSTOP) for 30 s while recording: the RAM ring holds everything."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.rig import recording_rig
from tests.faults.test_kill import check_unbroken

pytestmark = pytest.mark.faults

STALL_SECONDS = 30


def test_sigstop_hootenanny_30_s_loses_nothing(short_tmp, figure):
    with recording_rig(short_tmp) as rig:
        pid = rig.box.kill("hootenanny", signal.SIGSTOP)
        try:
            time.sleep(STALL_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)
        rig.wait_recorded(3.0)
        xruns = rig.status()["xruns"]
        recording = rig.stop_and_read()
        bad = rig.bad_content()
    figure.scenario = f"SIGSTOP hootenanny {STALL_SECONDS} s"
    check_unbroken(recording, rig.card, figure)
    figure("xruns", xruns, target="0", ok=xruns == 0)
    figure("CAS files not verifying", bad, target="0", ok=bad == 0)
    assert xruns == 0 and bad == 0
