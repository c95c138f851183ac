"""`studio logs`: the journal of the box's services (journalctl with the usual options)."""

from __future__ import annotations

import os
import shutil

import typer

from appliance.cli.context import EXIT_FAILURE, EXIT_USAGE, errors
from appliance.cli.status_commands import SERVICES


def logs(
    services: list[str] = typer.Argument(None, help=f"some of {', '.join(SERVICES)} (default: all three)"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines"),
    lines: int = typer.Option(None, "--lines", "-n", min=0, help="show the last N lines"),
    priority: str = typer.Option(None, "--priority", "-p", help="e.g. warning: only that priority and worse"),
    since: str = typer.Option(None, "--since", help='e.g. "1 hour ago", "today"'),
) -> None:
    """Show what the services logged (journalctl -u chaosgarden -u hootenanny -u vibeweaver)."""
    chosen = services or list(SERVICES)
    unknown = [s for s in chosen if s not in SERVICES]
    if unknown:
        errors.print(f"[red]studio:[/] no service {', '.join(unknown)}; choose from {', '.join(SERVICES)}")
        raise typer.Exit(EXIT_USAGE)
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        errors.print("[red]studio:[/] journalctl is not available here; the box's services log to the systemd "
                     "journal (under `studio up` their lines go to its terminal)")
        raise typer.Exit(EXIT_FAILURE)
    argv = [journalctl, *[f"--unit={s}.service" for s in chosen]]
    argv += [f"--lines={lines}"] if lines is not None else []
    argv += ["--follow"] if follow else []
    argv += [f"--priority={priority}"] if priority else []
    argv += [f"--since={since}"] if since else []
    os.execv(journalctl, argv)  # journalctl owns the terminal (pager, Ctrl-C) and the exit code from here
