"""Commands with no box running, help and exit codes, and `studio logs` around journalctl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import studio

READ_COMMANDS = (("status",), ("streams",), ("sessions",), ("device", "list"), ("doctor",), ("cas", "verify"),
                 ("config", "show"))


@pytest.fixture
def nothing_running(short_tmp: Path) -> dict[str, str]:
    return {**os.environ, "STUDIO_DATA_DIR": str(short_tmp / "data"), "STUDIO_RUN_DIR": str(short_tmp / "run")}


def test_help_lists_every_maintenance_command():
    out = studio("--help", env=dict(os.environ))
    assert out.returncode == 0
    for command in ("status", "logs", "streams", "sessions", "slice", "export", "eval", "token", "doctor", "cas",
                    "device"):
        assert command in out.stdout


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_every_read_command_has_json(command: tuple[str, ...]):
    out = studio(*command, "--help", env=dict(os.environ))
    assert out.returncode == 0 and "--json" in out.stdout


@pytest.mark.parametrize("command", [("streams",), ("sessions",), ("device", "list"), ("eval", "1"),
                                     ("export", "ses-x", "-o", "out")])
def test_without_hootenanny_the_error_says_how_to_check(nothing_running: dict[str, str], command: tuple[str, ...]):
    out = studio(*command, env=nothing_running)
    assert out.returncode == 1
    text = " ".join(out.stderr.split())
    sock = Path(nothing_running["STUDIO_RUN_DIR"]) / "hootenanny.sock"
    assert f"hootenanny is not answering on {sock}: is it running? (systemctl status hootenanny / studio up)" in text


def test_status_without_the_box_exits_1_naming_each_service(nothing_running: dict[str, str]):
    out = studio("status", "--json", env=nothing_running)
    assert out.returncode == 1
    services = json.loads(out.stdout)["services"]
    assert [s["answering"] for s in services] == [False, False, False]
    assert "chaosgarden is not answering" in services[0]["problem"]


def test_usage_errors_exit_2(nothing_running: dict[str, str]):
    assert studio("logs", "nonsense", env=nothing_running).returncode == 2
    assert studio("eval", env=nothing_running).returncode == 2
    assert studio("device", "added", env=nothing_running).returncode == 2


def test_logs_without_journalctl_says_where_logs_are(nothing_running: dict[str, str], tmp_path: Path):
    env = {**nothing_running, "PATH": str(tmp_path)}  # no journalctl on this PATH
    out = subprocess_studio(env, "logs")
    assert out.returncode == 1
    assert "journalctl is not available" in out.stderr


def test_logs_asks_journalctl_for_the_three_units(nothing_running: dict[str, str], tmp_path: Path):
    fake = tmp_path / "journalctl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake.chmod(0o755)
    env = {**nothing_running, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    everything = subprocess_studio(env, "logs", "-n", "50", "-f", "-p", "warning")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.splitlines() == ["--unit=chaosgarden.service", "--unit=hootenanny.service",
                                              "--unit=vibeweaver.service", "--lines=50", "--follow",
                                              "--priority=warning"]
    one = subprocess_studio(env, "logs", "hootenanny")
    assert one.stdout.splitlines() == ["--unit=hootenanny.service"]


def subprocess_studio(env: dict[str, str], *args: str):
    """`studio` by absolute interpreter path, so a PATH without python still runs it."""
    return studio(*args, env={**env, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_stream_table_keeps_uris_whole_on_a_narrow_terminal():
    """Found under load: a long error squeezed the stream column and folded the URI people copy from."""
    from rich.console import Console

    from appliance.cli.stream_commands import stream_table

    row = {"uri": "stream://eurorack-case/left-main", "state": "recording", "head_sample": 123456789,
           "chunks_sealed": 940, "bytes": 123456789012, "xruns": 3, "device": "hw:CARD=ES9,DEV=0",
           "device_connected": True, "last_error": "overrun: 4096 frames lost, filled with silence " * 3}
    console = Console(width=80, record=True)
    console.print(stream_table([row]))
    text = console.export_text()
    assert row["uri"] in text
    assert f'{row["uri"]}: {row["last_error"][:40]}' in text  # the error in full, below the table


def test_piped_output_is_not_cut_to_eighty_columns(short_tmp):
    """`studio streams | grep` must see whole lines: the piped console is wide unless COLUMNS says otherwise."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = "from appliance.cli.context import console, PIPED_WIDTH; print(console.width == PIPED_WIDTH)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
