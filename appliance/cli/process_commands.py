"""`studio up` and `studio rt|hootenanny|vibeweaver`: run the box, or one of its processes, in the foreground.

`studio rt` and its siblings usually start through appliance.cli.entry_point
without reaching typer; these commands give them their help and take any
other command line.
"""

from __future__ import annotations

import os

import typer

from appliance.cli.context import config_or_exit, console
from appliance.cli.entry_point import run_process
from appliance.logs import setup_logging


def rt() -> None:
    """Run chaosgarden: realtime capture, beat clock and playback."""
    raise typer.Exit(run_process("rt"))


def hootenanny() -> None:
    """Run hootenanny: the control plane and the MCP endpoint."""
    raise typer.Exit(run_process("hootenanny"))


def vibeweaver() -> None:
    """Run vibeweaver: the persistent Python kernel (it registers its tools with hootenanny)."""
    raise typer.Exit(run_process("vibeweaver"))


def up(data_dir: str = typer.Option(None, "--data-dir", help="Data directory (default: STUDIO_DATA_DIR or ./var).")) -> None:
    """Run all three processes on the simulated Eurorack; Ctrl-C stops them all."""
    from appliance.cli.supervisor import Supervisor, child_environment
    from appliance import token as tokens

    if data_dir:
        os.environ["STUDIO_DATA_DIR"] = data_dir
    config = config_or_exit()
    setup_logging("studio", config.log_level)
    token = tokens.load_or_create(config)
    host = "127.0.0.1" if config.mcp.bind in ("0.0.0.0", "::") else config.mcp.bind
    console.print(f"[bold]MCP[/]   http://{host}:{config.mcp.port}/mcp")
    console.print(f"[bold]token[/] {token}")
    console.print(f"[bold]data[/]  {config.data_dir}   (Ctrl-C stops everything)")
    # The resolved directory, not the one given: the children must not depend on the directory they start in.
    raise typer.Exit(Supervisor(child_environment(str(config.data_dir))).run())
