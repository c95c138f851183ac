"""`studio cas`: check the content-addressed store."""

from __future__ import annotations

import json

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from appliance.cas import ContentStore
from appliance.cli.context import EXIT_FAILURE, config_or_exit, console, errors

app = typer.Typer(help="Verify the content-addressed store.", no_args_is_help=True)


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Rehash every sealed file; exit 1 when any does not match its name."""
    store = ContentStore(config_or_exit().data_dir / "cas")
    columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=errors, transient=True, disable=as_json) as progress:
        task = progress.add_task("verifying", total=None)
        report = store.verify(lambda done, total: progress.update(task, completed=done, total=total))
    if as_json:
        console.print_json(json.dumps({
            "checked": report.checked, "bytes": report.bytes, "ok": report.ok,
            "mismatched": [{"name": n, "actual": a} for n, a in report.mismatched],
            "unreadable": [{"path": str(p), "error": e} for p, e in report.unreadable],
        }))
    else:
        console.print(f"checked {report.checked} files, {report.bytes} bytes")
        for name, actual in report.mismatched:
            errors.print(f"[red]mismatch[/] {name}: content hashes to {actual}")
        for path, error in report.unreadable:
            errors.print(f"[red]unreadable[/] {path}: {error}")
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
