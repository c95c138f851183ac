"""The sound card goes away and comes back while recording: the timeline keeps its length.

udev's removal reaches chaosgarden through `studio device removed` (here the
same notice, sent the way that command sends it); the file plugin's FIFO is
then removed, and later made again and announced. The time away must be
silence on the timeline, with a clock snapshot on each side.
"""

from __future__ import annotations

import time

import pytest

from appliance.proto.stream_definition import StreamKind
from appliance.proto.stream_messages import DeviceAction, DeviceNotice
from tests.faults.recording import ms
from tests.faults.rig import recording_rig
from tests.support.alsa import PCM_NAME
from tests.support.garden import wait_until

pytestmark = pytest.mark.faults

AWAY_SECONDS = 3.0
SHIFT_LIMIT_MS = 50.0


def notice(action: DeviceAction) -> DeviceNotice:
    return DeviceNotice(device_id=PCM_NAME, action=action, kind=StreamKind.AUDIO, alsa_name=PCM_NAME,
                        dev_path="/devices/faults/studiotest")


def test_device_disappears_and_returns(short_tmp, figure):
    with recording_rig(short_tmp) as rig:
        rig.wait_recorded(1.0)
        rig.box.link.device_notice(notice("removed"))
        wait_until(lambda: not rig.status()["device_connected"], interval=0.05)
        rig.card.unplug()
        time.sleep(AWAY_SECONDS)
        rig.card.plug()
        rig.box.link.device_notice(notice("added"))
        wait_until(lambda: rig.status()["device_connected"], interval=0.05)
        rig.wait_recorded(2.0)
        recording = rig.stop_and_read()
    figure.scenario = "device gone and back"
    runs = recording.runs()
    assert len(runs) == 2, runs
    before, after = runs
    silence = after.start - before.end
    garbage = recording.garbage_between(before, after)
    shift = ms(after.offset - before.offset)
    reasons = [c.reason for c in recording.manifest.clocks]
    lost_clock = next(c for c in recording.manifest.clocks if c.reason == "deviceLost")
    back_clock = next(c for c in recording.manifest.clocks if c.reason == "deviceBack")
    figure("silence where the card was away", f"{silence / 48000:.2f} s", target=f">= {AWAY_SECONDS:.0f} s",
           ok=silence >= AWAY_SECONDS * 48000)
    figure("frames in the break that are not silence", garbage, target="0", ok=garbage == 0)
    figure("timeline frames in neither chunk nor gap", recording.holes(), target="0", ok=recording.holes() == 0)
    figure("audio shift after the return", f"{-shift:+.1f} ms", target=f"< {SHIFT_LIMIT_MS:.0f} ms",
           ok=abs(shift) < SHIFT_LIMIT_MS)
    figure("clock snapshots around the break", f"{lost_clock.sample}, {back_clock.sample}",
           target="one each side", ok=lost_clock.sample <= before.end + 1024 and back_clock.sample >= before.end)
    assert garbage == 0 and recording.holes() == 0 and not recording.unverified
    assert abs(shift) < SHIFT_LIMIT_MS
    assert "deviceLost" in reasons and "deviceBack" in reasons
    assert before.end - 1024 <= lost_clock.sample <= before.end + 1024 and back_clock.sample >= before.end
