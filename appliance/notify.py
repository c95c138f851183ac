"""systemd's notify protocol: READY, STATUS, WATCHDOG and STOPPING as datagrams to $NOTIFY_SOCKET.

The units are `Type=notify` with `WatchdogSec`: systemd considers a process
started only when it says READY=1, and restarts it when its WATCHDOG=1 pings
stop. Each process pings from its own asyncio loop, and only while a health
check passes, so a wedged loop or a dead capture thread gets it restarted.
Without NOTIFY_SOCKET (a terminal, `studio up`, tests) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

HealthCheck = Callable[[], bool]


def _address() -> str | None:
    """The socket path from NOTIFY_SOCKET; '@' names a socket in the abstract namespace."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return None
    return "\0" + path[1:] if path.startswith("@") else path


def notify(*assignments: str) -> bool:
    """Send `KEY=value` lines in one datagram; True when sent, False when there is no socket or it failed."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(assignments).encode(), address)
    except OSError as exc:
        # systemd's own sd_notify ignores a vanished socket the same way: the service keeps running.
        log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc.strerror or exc)
        return False
    return True


def ready(status: str) -> bool:
    """READY=1: the process serves now (systemd starts what is ordered after it)."""
    return notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")


def status(text: str) -> bool:
    """STATUS=: one line `systemctl status` shows."""
    return notify(f"STATUS={text}")


def stopping() -> bool:
    """STOPPING=1: a stop is deliberate, not a crash."""
    return notify("STOPPING=1")


def watchdog_interval() -> float | None:
    """Seconds between pings: half of WATCHDOG_USEC, when the watchdog is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number of microseconds; not pinging the watchdog", usec)
        return None


async def watchdog(healthy: HealthCheck = lambda: True) -> None:
    """Ping WATCHDOG=1 every half period while `healthy()`; runs until cancelled.

    Because the pings come from the process's own loop, a blocked loop stops
    them too. An unhealthy check skips the ping (logged once per episode), so
    systemd restarts the process if it does not recover within WatchdogSec.
    """
    interval = watchdog_interval()
    if interval is None or _address() is None:
        await asyncio.Event().wait()  # nothing to ping; callers may still treat an ending task as a failure
        return
    sick = False
    while True:
        if healthy():
            notify("WATCHDOG=1")
            sick = False
        elif not sick:
            log.error("health check failed: not pinging the systemd watchdog (a restart follows unless it recovers)")
            sick = True
        await asyncio.sleep(interval)
