"""`studio rt`, `studio hootenanny`, `studio vibeweaver`: run one of the three processes in the foreground."""

from __future__ import annotations

from appliance.cli.context import config_or_exit
from appliance.logs import setup_logging


def rt() -> None:
    """Run chaosgarden: realtime capture, beat clock and playback."""
    config = config_or_exit()
    setup_logging("chaosgarden", config.log_level)
    from appliance.rt.main import run

    run(config)


def hootenanny() -> None:
    """Run hootenanny: the control plane and the MCP endpoint."""
    config = config_or_exit()
    setup_logging("hootenanny", config.log_level)
    from appliance.services.main import run

    run(config)
