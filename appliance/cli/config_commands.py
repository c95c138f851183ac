"""`studio config`: show the effective configuration and where settings come from."""

from __future__ import annotations

import json

import typer

from appliance.cli.context import config_or_exit, console
from appliance.config import CONFIG_FILES, env_names

app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the configuration after every layer (secrets masked)."""
    config = config_or_exit()
    data = json.loads(config.model_dump_json())
    if data["mcp"]["token"]:
        data["mcp"]["token"] = "********"
    data["runtime_dir"] = str(config.runtime_dir)
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(f"files, later wins: {', '.join(str(p) for p in CONFIG_FILES)}; then STUDIO_* variables")
    for key, value in data.items():
        console.print(f"[bold]{key}[/] = {value}")


@app.command("env")
def env() -> None:
    """List every STUDIO_* variable that sets something."""
    for name in env_names():
        console.print(name)
