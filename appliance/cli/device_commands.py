"""`studio device`: the devices hootenanny knows, and udev's arrivals and departures told to it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Column, Table

from appliance.cli.context import EXIT_FAILURE, box, box_errors, console, errors, print_json
from appliance.cli.udev_device import properties
from appliance.proto.stream_definition import StreamKind
from appliance.proto.stream_messages import DeviceAction, DeviceNotice
from appliance.sound_devices import DeviceInfoError, kernel_name, notice

app = typer.Typer(help="Sound cards and MIDI ports: list them; udev reports arrivals and departures here.",
                  no_args_is_help=True)

NAME_HELP = "kernel name of the node: controlC<n> (a card) or midiC<n>D<d> (a raw MIDI port)"


@app.command("list")
def list_devices(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Devices the box has seen, connected or not (the simulated Eurorack is always there)."""
    with box_errors():
        rows = box().call("device_list")["devices"]
    if as_json:
        print_json(rows)
        return
    console.print(device_table(rows))


def device_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("device", "kind", "ALSA name", "connected", Column("sysfs path", overflow="fold"), box=None)
    for row in rows:
        table.add_row(row["id"], row["kind"], row["alsa_name"], "yes" if row["connected"] else "[yellow]no[/]",
                      row["dev_path"])
    return table


@app.command("added")
def added(name: str = typer.Argument(..., help=NAME_HELP)) -> None:
    """Tell hootenanny a device arrived (run by studio-device@.service; udev properties from its database)."""
    event = _notice_or_exit("added", name)
    with box_errors():
        box().device_notice(event)
    console.print(f"told hootenanny: {event.device_id} ({event.kind.value}, {event.alsa_name}) added")


@app.command("removed")
def removed(name: str = typer.Argument(..., help=NAME_HELP)) -> None:
    """Tell hootenanny a device left; the node is gone, so hootenanny's registry says which device it was."""
    _valid_or_exit(name)
    event: DeviceNotice | None
    if os.environ.get("DEVPATH"):
        event = _notice_or_exit("removed", name)
    else:
        with box_errors():
            event = _known_notice(name)
    if event is None:
        console.print(f"hootenanny knows no connected device at {name}; nothing to tell")
        return
    with box_errors():
        box().device_notice(event)
    console.print(f"told hootenanny: {event.device_id} removed")


def _valid_or_exit(name: str) -> None:
    try:
        kernel_name(name)
    except DeviceInfoError as exc:
        errors.print(f"[red]studio:[/] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None


def _notice_or_exit(action: DeviceAction, name: str) -> DeviceNotice:
    _valid_or_exit(name)
    try:
        return notice(action, properties(name, os.environ))
    except DeviceInfoError as exc:
        errors.print(f"[red]studio:[/] {exc}")
        raise typer.Exit(EXIT_FAILURE) from None


def _known_notice(name: str) -> DeviceNotice | None:
    """The removal notice for the connected device whose sysfs path ends in `name`, if hootenanny has one."""
    for row in box().call("device_list")["devices"]:
        if row["connected"] and row["dev_path"] and Path(row["dev_path"]).name == name:
            return DeviceNotice(device_id=row["id"], action="removed", kind=StreamKind(row["kind"]),
                                alsa_name=row["alsa_name"], dev_path=row["dev_path"])
    return None
