"""Realtime scheduling: granted where allowed, and a loud, useful warning where it is not."""

import os
import socket
import subprocess
import sys

import pytest

from appliance.proto import endpoints
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


def as_nobody(setup: str, check: str) -> subprocess.CompletedProcess:
    """Python run as an unprivileged user: `setup` (imports, limits) still as root, then `check` with warnings shown."""
    code = (f"import os, logging;{setup}"
            "os.setgid(65534); os.setuid(65534) if os.geteuid() == 0 else None;"
            f"logging.basicConfig(level=logging.WARNING);{check}")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_refused_priority_warns_with_the_fix():
    """As an unprivileged user with no rtprio limit, set_fifo falls back and says how to fix it."""
    out = as_nobody(
        "import resource;"
        "from appliance.rt.realtime import set_fifo, lock_memory;"  # import before giving up root
        "resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0));"
        "resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0));",
        "print(set_fifo(70), lock_memory())",
    )
    assert out.stdout.strip() == "False False", out.stderr
    assert "cannot set SCHED_FIFO priority 70" in out.stderr
    assert "LimitRTPRIO=70" in out.stderr
    assert "cannot lock memory" in out.stderr and "LimitMEMLOCK" in out.stderr


def zmtp_handshake(socket_type: bytes) -> bytes:
    """What a ZMTP 3.0 peer sends before its first frame: the greeting (NULL mechanism) and READY."""
    greeting = b"\xff" + bytes(8) + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\x00" + bytes(31)
    ready = b"\x05READY" + bytes([11]) + b"Socket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    return greeting + b"\x04" + bytes([len(ready)]) + ready


@pytest.mark.parametrize(("socket_name", "peer_type"), [(endpoints.GARDEN_COMMANDS, b"DEALER"),
                                                       (endpoints.GARDEN_EVENTS, b"SUB")])
def test_a_peer_announcing_a_huge_frame_is_cut_off_before_it_is_allocated(garden, garden_dirs, socket_name,
                                                                         peer_type):
    """Found by the fuzz scenario: 20 bytes announcing a 256 MB frame made chaosgarden allocate it, resident at
    once under mlockall (a few such peers exhaust the box); now the peer is disconnected."""
    with socket.socket(socket.AF_UNIX) as peer:
        peer.settimeout(10)
        peer.connect(str(garden_dirs[1] / socket_name))
        peer.sendall(zmtp_handshake(peer_type) + b"\x02" + (256 << 20).to_bytes(8, "big") + b"abc")
        while peer.recv(4096):  # chaosgarden's greeting, perhaps, then the end of the connection (not a timeout)
            pass
    assert garden.poll() is None


LOCKED_MAPPINGS = r'''
import ctypes, mmap, os, sys
from pathlib import Path
from appliance.rt.chunk_writer import MappedChunk
from appliance.rt.realtime import lock_memory

def smaps_kib(buffer, field):
    address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    inside = False
    for line in open("/proc/self/smaps"):
        if "-" in line.split()[0] and ":" not in line.split()[0]:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            inside = lo <= address < hi
        elif inside and line.startswith(field + ":"):
            return int(line.split()[1])

assert lock_memory()
root = Path(sys.argv[1])
size = 64 << 20
plain_fd = os.open(root / "plain", os.O_RDWR | os.O_CREAT)
os.posix_fallocate(plain_fd, 0, size)
plain = mmap.mmap(plain_fd, size, flags=mmap.MAP_SHARED)
chunk = MappedChunk.prepare(root / "chunk", size, 1)
print(smaps_kib(plain, "Rss"), smaps_kib(chunk.map, "Rss"), smaps_kib(chunk.map, "Locked"))
'''


def test_later_mappings_lock_as_touched_and_chunks_are_populated_without_mmap(tmp_path):
    """Under lock_memory(), mmap() itself populates nothing (Python holds the GIL across it, so a populating
    mmap would stall every capture thread); a prepared chunk is resident and locked all the same."""
    if os.geteuid() != 0:
        pytest.skip("mlockall of 64 MiB needs root or a raised RLIMIT_MEMLOCK")
    out = subprocess.run([sys.executable, "-c", LOCKED_MAPPINGS, str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    plain_rss, chunk_rss, chunk_locked = map(int, out.stdout.split())
    assert plain_rss < 1024  # KiB: the plain mapping is not populated
    assert chunk_rss == chunk_locked == 64 * 1024


async def test_chaosgarden_favours_its_control_thread(garden):
    """Its control thread holds the GIL the capture threads need: it runs at a favourable nice."""
    if os.geteuid() != 0:
        pytest.skip("only root may lower a nice value without an RLIMIT_NICE")
    from appliance.rt.realtime import CONTROL_NICE

    await until(lambda: os.getpriority(os.PRIO_PROCESS, garden.pid) == CONTROL_NICE)


def test_refused_nice_warns_with_the_fix():
    out = as_nobody("from appliance.rt.realtime import favour_control_thread;", "print(favour_control_thread())")
    assert out.stdout.strip() == "False", out.stderr
    assert "cannot raise chaosgarden's CPU priority to nice -11" in out.stderr and "LimitNICE=-11" in out.stderr
