"""Realtime scheduling: granted where allowed, and a loud, useful warning where it is not."""

import os
import subprocess
import sys

import pytest

from tests.support.garden import audio_definition, until


async def test_capture_thread_runs_sched_fifo(control, garden):
    if os.geteuid() != 0:
        pytest.skip("only root may grant SCHED_FIFO without an rtprio limit")
    uri = "stream://sim/rt"
    await control.start(audio_definition(uri, "sim", "s16", period=480))
    await until(lambda: control.streams[uri].heads)
    policies = {}
    for tid in os.listdir(f"/proc/{garden.pid}/task"):
        policies[tid] = os.sched_getscheduler(int(tid))
    assert os.SCHED_FIFO in policies.values()
    fifo_tid = next(t for t, p in policies.items() if p == os.SCHED_FIFO)
    assert os.sched_getparam(int(fifo_tid)).sched_priority == 70
    assert os.sched_getscheduler(garden.pid) == os.SCHED_OTHER  # only the capture thread is realtime
    await control.stop(uri)


def test_refused_priority_warns_with_the_fix():
    """As an unprivileged user with no rtprio limit, set_fifo falls back and says how to fix it."""
    code = (
        "import os, resource, logging;"
        "from appliance.rt.realtime import set_fifo, lock_memory;"  # import before giving up root
        "resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0));"
        "resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0));"
        "os.setgid(65534); os.setuid(65534) if os.geteuid() == 0 else None;"
        "logging.basicConfig(level=logging.WARNING);"
        "print(set_fifo(70), lock_memory())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False False", out.stderr
    assert "cannot set SCHED_FIFO priority 70" in out.stderr
    assert "LimitRTPRIO=70" in out.stderr
    assert "cannot lock memory" in out.stderr and "LimitMEMLOCK" in out.stderr
