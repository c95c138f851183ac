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

    def stop() -> None:
        # Once: under `studio up` a Ctrl-C reaches us from the terminal and then again as the supervisor's
        # SIGTERM, and a second cancel would cut short the clean-up the first one started.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            loop.add_signal_handler(sig, lambda: log.info("%s is already stopping", name))
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await task
    except asyncio.CancelledError:
        log.info("%s stopped", name)
