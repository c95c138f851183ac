"""What every CLI command needs: the validated config, or a clean exit naming what is wrong."""

from __future__ import annotations

import typer
from rich.console import Console

from appliance.config import Config, ConfigError, load_config

console = Console()
errors = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def config_or_exit() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        errors.print(f"[red]studio: configuration error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from None
