"""`studio rt`: run chaosgarden until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from appliance.config import Config
from appliance.rt.garden import Garden

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    asyncio.run(_main(config))


async def _main(config: Config) -> None:
    garden = Garden(config)
    task = asyncio.ensure_future(garden.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("chaosgarden stopped")
