"""`studio cas`: check the content-addressed store."""

from __future__ import annotations

import json

import typer
from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from appliance.cas import ContentStore
from appliance.cli.context import EXIT_FAILURE, box, box_errors, config_or_exit, console, errors

GC_TIMEOUT_S = 3600.0  # a card full of released chunks takes a while to unlink

app = typer.Typer(help="Verify and collect the content-addressed store.", no_args_is_help=True)


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


@app.command("gc")
def gc(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    grace: float = typer.Option(600.0, "--grace", min=0, help="Never remove content sealed less than this many "
                                "seconds ago (it may not be in its manifest yet)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove content nothing references (released chunks, old slices); a grace period protects fresh seals.

    hootenanny does the work (the `cas_gc` tool): only it knows what its catalog and manifests reference.
    """
    with box_errors(), Progress(SpinnerColumn(), TextColumn("{task.description}"), console=errors,
                                transient=True, disable=as_json) as progress:
        progress.add_task("collecting", total=None)
        report = box().call("cas_gc", {"dry_run": dry_run, "grace_seconds": grace}, timeout=GC_TIMEOUT_S)
    if as_json:
        console.print_json(json.dumps(report))
        return
    verb = "would remove" if dry_run else "removed"
    console.print(f"{verb} {len(report['removed'])} files ({report['removed_bytes']} bytes); kept {report['kept']}, "
                  f"{report['young']} too recent to judge")
