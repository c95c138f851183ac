"""`studio sessions`: capture sessions, newest first."""

from __future__ import annotations

import time

import typer
from rich.table import Column, Table

from appliance.cli.context import box, box_errors, console, print_json


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
