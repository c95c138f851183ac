"""sd_notify: the datagram protocol, the no-op without systemd, and READY/WATCHDOG from the real processes."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance import notify
from appliance.rt.garden import Garden
from tests.support.stack import make_stack

WAIT_S = 60.0  # a hang guard, not a threshold


def datagram_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(WAIT_S)
    return sock


def messages_until(sock: socket.socket, wanted: set[str]) -> list[str]:
    """Every assignment received until each of `wanted` has been seen."""
    seen: list[str] = []
    while not wanted <= set(seen):
        seen += sock.recv(4096).decode().split("\n")
    return seen


def test_without_notify_socket_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.ready("x") is False
    assert notify.watchdog_interval() is None or notify.notify("WATCHDOG=1") is False


def test_ready_reaches_a_path_socket(monkeypatch, short_tmp):
    sock = datagram_socket(str(short_tmp / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_tmp / "notify"))
    assert notify.ready("serving")
    lines = sock.recv(4096).decode().split("\n")
    assert lines[:2] == ["READY=1", "STATUS=serving"]
    assert f"MAINPID={os.getpid()}" in lines


def test_abstract_namespace_socket(monkeypatch):
    name = f"studio-test-{os.getpid()}"
    sock = datagram_socket("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    assert notify.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_a_vanished_socket_is_reported_not_raised(monkeypatch, short_tmp, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_tmp / "gone"))
    assert notify.status("x") is False
    assert "cannot notify systemd" in caplog.text


def test_watchdog_interval_is_half_and_only_for_our_pid(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 2.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert notify.watchdog_interval() is None


async def test_watchdog_pings_only_while_healthy(monkeypatch, short_tmp):
    sock = datagram_socket(str(short_tmp / "notify"))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(short_tmp / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "20000")
    healthy = True
    task = asyncio.create_task(notify.watchdog(lambda: healthy))
    loop = asyncio.get_running_loop()
    assert await asyncio.wait_for(loop.sock_recv(sock, 64), WAIT_S) == b"WATCHDOG=1"
    healthy = False
    await asyncio.sleep(0.05)  # let a ping already sent drain before we listen for silence
    while True:
        try:
            sock.recv(64)
        except BlockingIOError:
            break
    for _ in range(5):  # five periods of the watchdog loop, counted by its own sleeps
        await asyncio.sleep(0.01)
    with pytest.raises(BlockingIOError):
        sock.recv(64)
    healthy = True
    assert await asyncio.wait_for(loop.sock_recv(sock, 64), WAIT_S) == b"WATCHDOG=1"
    task.cancel()


@pytest.mark.parametrize("process", ["chaosgarden", "hootenanny", "vibeweaver"])
def test_each_process_says_ready_then_pings_the_watchdog(short_tmp: Path, process: str):
    sock = datagram_socket(str(short_tmp / "notify"))
    stack = make_stack(short_tmp, {"NOTIFY_SOCKET": str(short_tmp / "notify"), "WATCHDOG_USEC": "200000"})
    try:
        proc = stack.start(process)
        seen = messages_until(sock, {"READY=1", "WATCHDOG=1"})
        assert f"MAINPID={proc.pid}" in seen
        stack.kill(process, 15)
        assert "STOPPING=1" in messages_until(sock, {"STOPPING=1"})
    finally:
        stack.stop_all()


def test_chaosgarden_is_unhealthy_when_a_recording_streams_capture_thread_died():
    alive = SimpleNamespace(running=True, thread=SimpleNamespace(is_alive=lambda: True))
    dead = SimpleNamespace(running=True, thread=SimpleNamespace(is_alive=lambda: False))
    stopped = SimpleNamespace(running=False, thread=SimpleNamespace(is_alive=lambda: False))
    assert Garden.healthy(SimpleNamespace(streams={"a": alive, "s": stopped}))
    assert not Garden.healthy(SimpleNamespace(streams={"a": alive, "d": dead}))
