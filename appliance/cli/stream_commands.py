"""`studio streams` and `studio slice`: what is recording, and any moment of it as a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
from rich.console import Group
from rich.table import Column, Table
from rich.text import Text

from appliance.cas import ContentStore
from appliance.cli.context import EXIT_FAILURE, EXIT_USAGE, box, box_errors, config_or_exit, console, errors, print_json

SLICE_TIMEOUT_S = 600.0
COPY_BLOCK = 1 << 20
TIME_POINT_HELP = ('"now" (when the command runs), or JSON as in MCP: {"seconds_ago": 10}, '
                   '{"wall_time": "2026-11-21T10:00:00Z"}, {"sample": 123456}, {"session_start": {"session": "<id>"}}')


def streams(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every stream: state, head sample, chunks, bytes, xruns, device and last error."""
    with box_errors():
        rows = box().call("stream_status")["streams"]
    if as_json:
        print_json(rows)
    elif rows:
        console.print(stream_table(rows))
    else:
        console.print("no streams defined")


def stream_table(rows: list[dict[str, Any]]) -> Group:
    """One line a stream, then each stream's last error in full below the table.

    A URI is what people copy into the next command, so it is never cut or
    folded; an error would squeeze the other columns on a narrow terminal,
    so errors are not a column.
    """
    widest = max((len(r["uri"]) for r in rows), default=0)
    table = Table(Column("stream", no_wrap=True, min_width=widest), "state", "head", "chunks", "bytes", "xruns",
                  Column("device", overflow="fold"), box=None)
    for r in rows:
        state = r["state"] if r["state"] in ("recording", "stopped", "defined") else f"[red]{r['state']}[/]"
        device = r["device"] if r["device_connected"] else f"[yellow]{r['device']} (gone)[/]"
        table.add_row(r["uri"], state, str(r["head_sample"]), str(r["chunks_sealed"]), str(r["bytes"]),
                      str(r["xruns"]) if not r["xruns"] else f"[yellow]{r['xruns']}[/]", device)
    errors = [Text.assemble((r["uri"], "bold"), ": ", (r["last_error"], "red")) for r in rows if r["last_error"]]
    return Group(table, *([Text()] + errors if errors else []))


def slice_(
    uri: str = typer.Argument(..., help="the stream, e.g. stream://sim/audio"),
    start: str = typer.Option(..., "--start", help=f"where the slice begins: {TIME_POINT_HELP}"),
    end: str = typer.Option("now", "--end", help="where it ends (exclusive), same forms"),
    output: Path = typer.Option(..., "-o", "--output", help="file to write (WAV or FLAC for audio, .mid for MIDI)"),
    channels: str | None = typer.Option(None, "--channels", help="audio channels to keep, e.g. 0,3"),
    file_format: str = typer.Option("wav", "--format", help="audio file format: wav or flac"),
    sample_format: str | None = typer.Option(None, "--sample-format",
                                             help="s16 (dithered), s24 or f32; as recorded when omitted"),
    force: bool = typer.Option(False, "--force", help="overwrite the output file"),
    as_json: bool = typer.Option(False, "--json", help="Print the slice's details as JSON."),
) -> None:
    """Cut [start, end) of a stream into a file, sample-exact, as stream_slice does for agents."""
    if output.exists() and not force:
        errors.print(f"[red]studio:[/] {output} exists; use --force to overwrite it")
        raise typer.Exit(EXIT_USAGE)
    arguments = {"uri": uri, "start": time_point("--start", start), "end": time_point("--end", end),
                 **audio_options(channels, file_format, sample_format)}
    config = config_or_exit()
    with box_errors(), Progress(SpinnerColumn(), TextColumn("{task.description}"), console=errors,
                                transient=True, disable=as_json) as progress:
        progress.add_task(f"slicing {uri}", total=None)
        result = box().call("stream_slice", arguments, timeout=SLICE_TIMEOUT_S)
    source = ContentStore(config.data_dir / "cas").path(result["content_hash"])
    try:
        copy_with_progress([(source, output)], as_json)
    except OSError as exc:
        errors.print(f"[red]studio:[/] cannot copy {source} to {output}: {exc.strerror or exc} (the box's data "
                     "is readable by root and the studio user: sudo studio slice ...)")
        raise typer.Exit(EXIT_FAILURE) from None
    if as_json:
        print_json({**result, "path": str(output)})
        return
    first, last = result["sample_range"]
    console.print(f"wrote {output}: {result['seconds']:.3f} s, samples {first}..{last}, "
                  f"artifact {result['artifact_id']}")


def audio_options(channels: str | None, file_format: str, sample_format: str | None) -> dict[str, Any]:
    """The audio arguments of stream_slice and session_export as the options gave them (the box checks them)."""
    options: dict[str, Any] = {}
    if channels is not None:
        try:
            options["channels"] = [int(c) for c in channels.split(",")]
        except ValueError:
            errors.print(f"[red]studio:[/] --channels: {channels!r} is not a list of channel numbers; e.g. 0,3")
            raise typer.Exit(EXIT_USAGE) from None
    if file_format != "wav":
        options["format"] = file_format
    if sample_format is not None:
        options["sample_format"] = sample_format
    return options


def time_point(option: str, text: str) -> Any:
    """`now` or a JSON time point; exit 2 naming the option otherwise."""
    if text == "now":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.print(f"[red]studio:[/] {option}: {text!r} is not a time point ({exc.msg}); use {TIME_POINT_HELP}")
        raise typer.Exit(EXIT_USAGE) from None


def copy_with_progress(pairs: list[tuple[Path, Path]], quiet: bool) -> None:
    """Copy sealed content out of the CAS (read-only there) into files of the user's, one bar over all bytes."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with Progress(*columns, console=errors, transient=True, disable=quiet) as progress:
        task = progress.add_task("writing", total=sum(source.stat().st_size for source, _ in pairs))
        for source, target in pairs:
            progress.update(task, description=f"writing {target.name}")
            with source.open("rb") as src, target.open("wb") as dst:
                while block := src.read(COPY_BLOCK):
                    dst.write(block)
                    progress.advance(task, len(block))