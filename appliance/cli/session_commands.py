"""`studio sessions` (capture sessions, newest first) and `studio export` (a session's files into a folder)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Column, Table

from appliance.cas import ContentStore
from appliance.cli.context import EXIT_FAILURE, EXIT_USAGE, box, box_errors, config_or_exit, console, errors, print_json
from appliance.cli.stream_commands import SLICE_TIMEOUT_S, audio_options, copy_with_progress


def sessions(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every capture session: status, segments and streams (the JSON has its artifact and clock snapshots)."""
    with box_errors():
        rows = box().call("session_list")["sessions"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no sessions")
        return
    table = Table(Column("session", no_wrap=True, min_width=max(len(r["session"]) for r in rows)), "name",
                  "mode", "status", "segments", Column("streams", overflow="fold"), "created", box=None)
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_ns"] / 1e9))
        table.add_row(r["session"], r["name"] or "", r["mode"], r["status"], str(len(r["segments"])),
                      " ".join(r["streams"]), created)
    console.print(table)


def export(
    session: str = typer.Argument(..., help="a session id from `studio sessions`"),
    output: Path = typer.Option(..., "-o", "--output", help="folder to write the files into (made if missing)"),
    segment: int | None = typer.Option(None, "--segment", help="one segment; the whole session when omitted"),
    stems: bool = typer.Option(False, "--stems", help="one mono file per channel, named after the channel"),
    channels: str | None = typer.Option(None, "--channels", help="audio channels to keep, e.g. 0,3"),
    file_format: str = typer.Option("wav", "--format", help="audio file format: wav or flac"),
    sample_format: str | None = typer.Option(None, "--sample-format",
                                             help="s16 (dithered), s24 or f32; as recorded when omitted"),
    force: bool = typer.Option(False, "--force", help="overwrite files that are there"),
    as_json: bool = typer.Option(False, "--json", help="Print the exported files as JSON."),
) -> None:
    """Export a session's streams into a folder, as session_export does for agents, with a progress bar."""
    arguments = {"session": session, "segment": segment, "stems": stems,
                 **audio_options(channels, file_format, sample_format)}
    config = config_or_exit()
    with box_errors(), Progress(SpinnerColumn(), TextColumn("{task.description}"), console=errors,
                                transient=True, disable=as_json) as progress:
        progress.add_task(f"exporting {session} on the box", total=None)
        files = box().call("session_export", arguments, timeout=SLICE_TIMEOUT_S)["files"]
    targets = [output / f["name"] for f in files]
    there = [t for t in targets if t.exists()]
    if there and not force:
        errors.print(f"[red]studio:[/] {', '.join(map(str, there))} exist; use --force to overwrite them")
        raise typer.Exit(EXIT_USAGE)
    store = ContentStore(config.data_dir / "cas")
    try:
        output.mkdir(parents=True, exist_ok=True)
        copy_with_progress([(store.path(f["content_hash"]), t) for f, t in zip(files, targets)], as_json)
    except OSError as exc:
        errors.print(f"[red]studio:[/] cannot write into {output}: {exc.strerror or exc} (the box's data is "
                     "readable by root and the studio user: sudo studio export ...)")
        raise typer.Exit(EXIT_FAILURE) from None
    if as_json:
        print_json([{**f, "path": str(t)} for f, t in zip(files, targets)])
        return
    for f, t in zip(files, targets):
        console.print(f"wrote {t}: {f['seconds']:.3f} s of {f['stream']}")

