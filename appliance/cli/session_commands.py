"""`studio sessions`: capture sessions, newest first."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from appliance.cli.context import box, box_errors, console, print_json


def sessions(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every capture session: status, streams, segments and its artifact."""
    with box_errors():
        rows = box().call("session_list")["sessions"]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no sessions")
        return
    table = Table("session", "name", "mode", "status", "segments", "streams", "created", "artifact", box=None)
    for r in rows:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_ns"] / 1e9))
        table.add_row(r["session"], r["name"] or "", r["mode"], r["status"], str(len(r["segments"])),
                      ", ".join(r["streams"]), created, r["artifact_id"] or "")
    console.print(table)
