"""`studio rt`: run chaosgarden until SIGTERM or SIGINT."""

from __future__ import annotations

from appliance.config import Config
from appliance.lifecycle import run_until_signalled
from appliance.rt.garden import Garden


def run(config: Config) -> None:
    run_until_signalled(lambda: Garden(config).run(), "chaosgarden")
