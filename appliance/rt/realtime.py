"""Entering realtime: SCHED_FIFO for a capture thread, a favoured control thread, locked memory, no collector.

Each step that the system refuses (an ordinary laptop user has no RT limits)
is logged as a warning with the fix, and capture goes on without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os

log = logging.getLogger(__name__)

MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4


def lock_memory() -> bool:
    """Lock what is mapped now, and whatever is mapped later as it is first touched: page faults never stall
    the capture loop.

    Later mappings lock on fault (MCL_ONFAULT) rather than being populated inside mmap(): Python's
    mmap.mmap() holds the GIL across that call, so populating a chunk there would stop every capture thread
    for as long as the kernel takes (over half a second for 256 MiB, measured). Chunks are populated for
    writing without the GIL instead (chunk_writer.py).
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.mlockall(MCL_CURRENT) == 0 and libc.mlockall(MCL_FUTURE | MCL_ONFAULT) == 0:
        return True
    err = ctypes.get_errno()
    log.warning(
        "cannot lock memory (%s): capture may stall on page faults; "
        "raise LimitMEMLOCK=infinity (systemd) or `ulimit -l unlimited`", os.strerror(err)
    )
    return False


CONTROL_NICE = -11  # as PulseAudio's: ahead of ordinary work, behind everything realtime


def favour_control_thread(nice: int = CONTROL_NICE) -> bool:
    """Give the calling thread, and every thread it starts later, a favourable nice value.

    A capture thread at SCHED_FIFO still needs the GIL for every period, and
    the control thread holding it is an ordinary thread: descheduled by a busy
    neighbour mid-hold, it would make the capture thread wait (priority
    inversion through the GIL). chaosgarden.service sets Nice= itself; this
    covers `studio up` and anything else that starts `studio rt`.
    """
    if os.getpriority(os.PRIO_PROCESS, 0) <= nice:
        return True
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # on Linux: this thread; threads it starts inherit it
        return True
    except PermissionError:
        log.warning("cannot raise chaosgarden's CPU priority to nice %d: under CPU load the capture threads may "
                    "wait for the GIL and overrun; grant LimitNICE=%d (systemd) or run as a user allowed "
                    "that nice value in /etc/security/limits.d", nice, nice)
        return False


def set_fifo(priority: int) -> bool:
    """Give the calling thread SCHED_FIFO at `priority`."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (PermissionError, OSError) as exc:
        log.warning(
            "cannot set SCHED_FIFO priority %d for capture (%s): it runs at normal priority and may "
            "overrun under load; grant LimitRTPRIO=%d (systemd) or add the user to a group with "
            "an rtprio limit in /etc/security/limits.d", priority, exc.strerror or exc, priority
        )
        return False


def quiet_garbage_collector() -> None:
    """Freeze everything allocated at start-up and stop the cyclic collector.

    The capture loops create no reference cycles, so nothing leaks; what the
    control thread creates is reference-counted away as usual.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
