"""`studio vibeweaver`: run the persistent Python kernel for agents as this process."""

from __future__ import annotations

from appliance.cli.context import config_or_exit
from appliance.logs import setup_logging
from appliance.weave.main import run


def vibeweaver() -> None:
    """Run vibeweaver until SIGTERM or Ctrl-C (it registers its tools with hootenanny)."""
    config = config_or_exit()
    setup_logging("vibeweaver", config.log_level)
    run(config)
