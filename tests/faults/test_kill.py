"""kill -9 of each process, ten times at random moments while recording: count the samples.

hootenanny and vibeweaver may die without losing a sample (chaosgarden keeps
recording into spares and its RAM ring). chaosgarden's death loses the time
until it is back, which must be a gap in the timeline, with the audio after
it where it belongs in time.
"""

from __future__ import annotations

import random

import pytest

from tests.faults.counter_card import RATE, CounterCard
from tests.faults.recording import Recording, ms
from tests.faults.rig import Rig, recording_rig

pytestmark = pytest.mark.faults

KILLS = 10
SHIFT_LIMIT_MS = 50.0  # a restart's audio may sit this far from where it belongs (a few periods)


def kill_repeatedly(rig: Rig, name: str, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(KILLS):
        rig.wait_recorded(rng.uniform(0.3, 2.5))
        old = rig.box.kill(name)
        rig.box.wait_restarted(name, old)
        rig.box.wait_ready()
    rig.wait_recorded(2.0)


def check_unbroken(recording: Recording, card: CounterCard, figure) -> None:
    runs = recording.runs()
    lost = sum(b.source - a.source - a.length for a, b in zip(runs, runs[1:]))
    figure("samples recorded", recording.frames)
    figure("samples lost", lost, target="0", ok=lost == 0)
    figure("breaks in the audio", len(runs) - 1, target="0", ok=len(runs) == 1)
    figure("sealed chunks not verifying", len(recording.unverified), target="0", ok=not recording.unverified)
    figure("card overruns (chaosgarden read too late)", card.overruns)
    figure("card thread worst lateness", f"{card.worst_lateness_s * 1000:.1f} ms"
                                         f"{'' if card.realtime else ' (not SCHED_FIFO: not root)'}")
    assert len(runs) == 1 and runs[0].start == 0 and runs[0].length == recording.frames, (runs, card.overrun_log)
    assert not recording.manifest.gaps and not recording.unverified


@pytest.mark.parametrize("name", ["hootenanny", "vibeweaver"])
def test_kill_9_loses_nothing(name, short_tmp, figure):
    with recording_rig(short_tmp) as rig:
        kill_repeatedly(rig, name, seed=hash(name) & 0xFFFF)
        recording = rig.stop_and_read()
        bad = rig.bad_content()
    figure.scenario = f"kill -9 {name} x{KILLS}"
    check_unbroken(recording, rig.card, figure)
    figure("CAS files not verifying", bad, target="0", ok=bad == 0)
    assert bad == 0


def test_kill_9_chaosgarden_leaves_gaps_not_shifts(short_tmp, figure):
    with recording_rig(short_tmp) as rig:
        kill_repeatedly(rig, "chaosgarden", seed=7)
        recording = rig.stop_and_read()
        bad = rig.bad_content()
    figure.scenario = f"kill -9 chaosgarden x{KILLS}"
    runs = recording.runs()
    restarts = [g for g in recording.manifest.gaps if g.reason == "chaosgarden restart"]
    shifts = [ms(b.offset - a.offset) for a, b in zip(runs, runs[1:])]
    unmarked = [(a.end, b.start) for a, b in zip(runs, runs[1:]) if not recording.gap_between(a, b)]
    garbage = sum(recording.garbage_between(a, b) for a, b in zip(runs, runs[1:]))
    gap_s = sum(g.samples for g in restarts) / RATE
    figure("restart gaps", len(restarts), target=str(KILLS), ok=len(restarts) == KILLS)
    figure("time in restart gaps", f"{gap_s:.1f} s")
    figure("audio shift at each restart (ms, + is late)", " ".join(f"{-s:+.1f}" for s in shifts))
    figure("audio shift at a restart, worst", f"{max(map(abs, shifts), default=0)} ms",
           target=f"< {SHIFT_LIMIT_MS:.0f} ms", ok=all(abs(s) < SHIFT_LIMIT_MS for s in shifts))
    figure("breaks not marked as a gap", len(unmarked), target="0", ok=not unmarked)
    figure("frames in breaks that are not silence", garbage, target="0", ok=garbage == 0)
    figure("timeline frames in neither chunk nor gap", recording.holes(), target="0", ok=recording.holes() == 0)
    figure("sealed chunks not verifying", len(recording.unverified), target="0", ok=not recording.unverified)
    figure("CAS files not verifying", bad, target="0", ok=bad == 0)
    assert len(runs) == KILLS + 1 and len(restarts) == KILLS, (runs, recording.manifest.gaps)
    assert not unmarked and not garbage and recording.holes() == 0
    assert all(abs(s) < SHIFT_LIMIT_MS for s in shifts), shifts
    assert not recording.unverified and bad == 0
