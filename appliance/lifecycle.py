"""Running a process's main coroutine until SIGTERM or SIGINT, then letting it clean up."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def run_until_signalled(main: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `main()`; SIGTERM or SIGINT cancels it, and its `finally` blocks get to run."""
    asyncio.run(_run(main, name))


async def _run(main: Callable[[], Awaitable[None]], name: str) -> None:
    task = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("%s stopped", name)
