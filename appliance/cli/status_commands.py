"""`studio status`: are the three services up and answering, what is recording, disk, devices."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from appliance.cli.box_link import BoxLink, BoxUnreachable, ToolError
from appliance.cli.context import EXIT_FAILURE, config_or_exit, console, print_json
from appliance.cli.device_commands import device_table
from appliance.cli.stream_commands import stream_table

SERVICES = ("chaosgarden", "hootenanny", "vibeweaver")
PROBE_TIMEOUT_S = 3.0


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Services, streams (head, xruns, errors), disk and devices; exit 1 when a service is not answering."""
    config = config_or_exit()
    link = BoxLink(config.runtime_dir)
    report: dict[str, Any] = {"services": [], "streams": [], "devices": [], "disk": disk(config.data_dir)}
    units = unit_states()
    answers = _probe(link, report)
    for name in SERVICES:
        report["services"].append({"name": name, "systemd": units.get(name) if units else None,
                                   "answering": answers[name] is None, "problem": answers[name]})
    if as_json:
        print_json(report)
    else:
        _print(report)
    if any(not s["answering"] for s in report["services"]):
        raise typer.Exit(EXIT_FAILURE)


def unit_states() -> dict[str, str] | None:
    """`systemctl is-active` per unit when systemd runs this machine; None otherwise (e.g. `studio up`)."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return None
    out = subprocess.run(["systemctl", "is-active", *SERVICES], capture_output=True, text=True, timeout=10)
    return dict(zip(SERVICES, out.stdout.split(), strict=False))


def _probe(link: BoxLink, report: dict[str, Any]) -> dict[str, str | None]:
    """Ask each process something cheap; None when it answered, else why not. Fills streams and devices."""
    answers: dict[str, str | None] = {}
    answers["chaosgarden"] = _attempt(lambda: link.garden_streams(PROBE_TIMEOUT_S))
    answers["hootenanny"] = _attempt(lambda: report.update(
        streams=link.call("stream_status", timeout=PROBE_TIMEOUT_S)["streams"],
        devices=link.call("device_list", timeout=PROBE_TIMEOUT_S)["devices"]))
    if answers["hootenanny"] is None:
        answers["vibeweaver"] = _attempt(lambda: link.call("weave_help", timeout=PROBE_TIMEOUT_S))
    else:
        answers["vibeweaver"] = "unknown: vibeweaver is reached through hootenanny, which is not answering"
    return answers


def _attempt(probe: Callable[[], object]) -> str | None:
    try:
        probe()
    except (BoxUnreachable, ToolError) as exc:
        return str(exc)
    return None


def disk(data_dir: Path) -> dict[str, Any]:
    """Space on the data directory's filesystem (the recordings' home)."""
    where = data_dir.absolute()
    while not where.exists():
        where = where.parent
    usage = shutil.disk_usage(where)
    return {"path": str(data_dir.absolute()), "total_bytes": usage.total, "used_bytes": usage.used,
            "free_bytes": usage.free, "used_percent": round(100 * usage.used / usage.total, 1) if usage.total else 0}


def _print(report: dict[str, Any]) -> None:
    services = Table("service", "systemd", "answering", box=None)
    for s in report["services"]:
        answering = "yes" if s["answering"] else f"[red]no[/] {s['problem']}"
        services.add_row(s["name"], s["systemd"] or "-", answering)
    console.print(services)
    d = report["disk"]
    console.print(f"\n[bold]disk[/] {d['path']}: {_gib(d['free_bytes'])} free of {_gib(d['total_bytes'])} "
                  f"({d['used_percent']}% used)\n")
    if report["streams"]:
        console.print(stream_table(report["streams"]))
    if report["devices"]:
        console.print()
        console.print(device_table(report["devices"]))


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
