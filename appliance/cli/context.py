"""What every CLI command needs: the validated config and the box link, or a clean exit naming what is wrong."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from appliance.cli.box_link import BoxLink, BoxUnreachable, ToolError
from appliance.config import Config, ConfigError, load_config

# Piped into grep, less or a log, output is not cut to rich's 80-column guess (a terminal's own width wins).
PIPED_WIDTH = 160
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH)
errors = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def config_or_exit() -> Config:
    try:
        return load_config()
    except ConfigError as exc:
        errors.print(f"[red]studio: configuration error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from None


def box() -> BoxLink:
    """The link to the running processes, through the run directory of the effective config."""
    return BoxLink(config_or_exit().runtime_dir)


@contextmanager
def box_errors() -> Iterator[None]:
    """Turn 'not running' and tool errors into one red line and exit 1."""
    try:
        yield
    except (BoxUnreachable, ToolError) as exc:
        errors.print(f"[red]studio:[/] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))
