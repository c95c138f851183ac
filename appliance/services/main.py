"""`studio hootenanny`: run the control plane until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from appliance.config import Config
from appliance.services.hootenanny import Hootenanny

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    asyncio.run(_main(config))


async def _main(config: Config) -> None:
    task = asyncio.ensure_future(Hootenanny(config).run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("hootenanny stopped")
