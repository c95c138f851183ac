"""`studio eval`: run one cell in vibeweaver's kernel, as weave_eval does for agents."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn

from appliance.cli.context import (EXIT_FAILURE, EXIT_USAGE, box, box_errors, config_or_exit, console, errors,
                                   print_json)

# vibeweaver stops a cell after weave.cell_timeout_seconds; wait a little longer for its answer.
REPLY_MARGIN_S = 15.0


def eval_(
    code: str = typer.Argument(None, help="Python source of the cell; '-' reads it from stdin"),
    file: Path = typer.Option(None, "--file", "-f", help="read the cell from this file"),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
) -> None:
    """Run a cell (globals persist; top-level await works); exit 1 when it raises."""
    source = _source(code, file)
    timeout = config_or_exit().weave.cell_timeout_seconds + REPLY_MARGIN_S
    with box_errors(), Progress(SpinnerColumn(), TextColumn("running the cell"), console=errors, transient=True,
                                disable=as_json):
        result = box().call("weave_eval", {"code": source}, timeout=timeout)
    if as_json:
        print_json(result)
    else:
        _print(result)
    if not result["success"]:
        raise typer.Exit(EXIT_FAILURE)


def _source(code: str | None, file: Path | None) -> str:
    if (code is None) == (file is None):
        errors.print("[red]studio:[/] give the cell as an argument ('-' for stdin) or with --file, not both")
        raise typer.Exit(EXIT_USAGE)
    if file is not None:
        try:
            return file.read_text()
        except OSError as exc:
            errors.print(f"[red]studio:[/] cannot read {file}: {exc.strerror}")
            raise typer.Exit(EXIT_USAGE) from None
    assert code is not None  # exactly one of the two, checked above
    return sys.stdin.read() if code == "-" else code


def _print(result: dict[str, Any]) -> None:
    """stdout and the result to stdout, stderr and the error to stderr, verbatim (no markup)."""
    if result["stdout"]:
        console.out(result["stdout"], end="", highlight=False)
    if result["stderr"]:
        errors.out(result["stderr"], end="", highlight=False)
    if result["result"] is not None:
        console.out(result["result"], highlight=False)
    if result["error"]:
        errors.print(f"[red]{escape(result['error'])}[/]")
