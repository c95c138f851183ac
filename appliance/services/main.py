"""`studio hootenanny`: run the control plane until SIGTERM or SIGINT."""

from __future__ import annotations

from appliance.config import Config
from appliance.lifecycle import run_until_signalled
from appliance.services.hootenanny import Hootenanny


def run(config: Config) -> None:
    run_until_signalled(lambda: Hootenanny(config).run(), "hootenanny")
