"""`studio doctor`: a machine without RT limits is told so and how to fix it; each check on its own."""

from __future__ import annotations

import json
import math
import os
import resource
from pathlib import Path

from appliance.cli import doctor
from tests.cli.conftest import studio


def no_realtime_limits() -> None:
    resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))


def test_without_rt_limits_doctor_says_so_and_how_to_fix(short_tmp: Path):
    env = {**os.environ, "STUDIO_DATA_DIR": str(short_tmp)}
    out = studio("doctor", env=env, preexec_fn=no_realtime_limits)
    assert out.returncode == 1
    text = " ".join(out.stdout.split())
    assert "rtprio limit is 0, capture threads need 70" in text
    assert "LimitRTPRIO=95" in text and "'studio - rtprio 95'" in text
    assert "memlock limit is 0 bytes" in text
    assert "LimitMEMLOCK=infinity" in text and "'studio - memlock unlimited'" in text


def test_doctor_json_names_each_check(short_tmp: Path):
    env = {**os.environ, "STUDIO_DATA_DIR": str(short_tmp)}
    out = studio("doctor", "--json", env=env, preexec_fn=no_realtime_limits)
    findings = {f["check"]: f for f in json.loads(out.stdout)}
    assert set(findings) == {"realtime priority", "memory lock", "cpu governor", "disk space", "sound cards",
                             "clock sync"}
    assert findings["realtime priority"]["state"] == "problem" and findings["realtime priority"]["fix"]


def test_limits_are_read_as_proc_shows_them(tmp_path: Path):
    limits = tmp_path / "limits"
    limits.write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max locked memory         unlimited            unlimited            bytes     \n"
        "Max realtime priority     95                   95                             \n")
    read = doctor.read_limits(limits)
    assert read == {"Max locked memory": math.inf, "Max realtime priority": 95}
    assert doctor.rt_priority(read, 70, "chaosgarden").state == "ok"
    assert doctor.memory_lock(read, "chaosgarden").state == "ok"


def test_governor_other_than_performance_is_a_problem(tmp_path: Path):
    for cpu, governor in (("cpu0", "performance"), ("cpu1", "powersave")):
        (tmp_path / cpu / "cpufreq").mkdir(parents=True)
        (tmp_path / cpu / "cpufreq" / "scaling_governor").write_text(governor + "\n")
    finding = doctor.governor(tmp_path)
    assert finding.state == "problem" and "powersave" in finding.detail and "performance" in finding.fix
    (tmp_path / "cpu1" / "cpufreq" / "scaling_governor").write_text("performance\n")
    assert doctor.governor(tmp_path).state == "ok"


def test_sound_cards_from_proc_asound(tmp_path: Path):
    cards = tmp_path / "cards"
    assert doctor.sound_cards(cards).state == "problem"
    cards.write_text("--- no soundcards ---\n")
    assert doctor.sound_cards(cards).state == "problem"
    cards.write_text(" 0 [ES9            ]: USB-Audio - ES-9\n                      Expert Sleepers ES-9 at usb-1\n")
    finding = doctor.sound_cards(cards)
    assert finding.state == "ok" and "ES-9" in finding.detail
