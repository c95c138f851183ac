"""udev: the rules parse, name cards and MIDI ports stably, and their studio-device@ instance reaches hootenanny."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.box.udev_rules import Device, RuleSyntaxError, evaluate, parse
from tests.box.unit_files import INSTALLED_STUDIO, UNIT_DIR, parse_unit, value
from tests.support.stack import Stack, make_stack

RULES = Path(__file__).resolve().parents[2] / "udev" / "90-studio.rules"
USB = "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/sound/card1"
CARD = {"id": "ES9", "number": "1"}
UDEV_DB = {"ID_PATH": "pci-0000:00:14.0-usb-0:2:1.0", "ID_SERIAL": "ES-9_0001", "ID_MODEL": "ES-9"}


def control_node() -> Device:
    return Device("controlC1", "sound", f"{USB}/controlC1", [CARD, {"idVendor": "2708"}], env=dict(UDEV_DB))


def midi_port() -> Device:
    return Device("midiC1D0", "sound", f"{USB}/midiC1D0", [CARD, {"idVendor": "2708"}], env=dict(UDEV_DB))


def test_every_line_is_key_op_value_pairs():
    rules = parse(RULES)
    assert rules, "no rules"


@pytest.mark.parametrize("line", ['KERNEL=="x", GROUP=audio', 'KERNEL="x"', 'GOTO="nowhere"', 'ATTRS=="x"',
                                  'KERNEL=="x" GROUP="audio"'])
def test_the_parser_rejects_what_udev_would(tmp_path: Path, line: str):
    bad = tmp_path / "bad.rules"
    bad.write_text(line + "\n")
    with pytest.raises(RuleSyntaxError):
        parse(bad)


def test_a_card_gets_audio_group_a_stable_name_and_its_instance():
    out = evaluate(parse(RULES), control_node())
    assert (out.group, out.mode) == ("audio", "0660")
    assert out.env["ID_STUDIO_DEVICE"] == "ES9" and out.env["ID_STUDIO_KIND"] == "audio"
    assert out.symlinks == ["snd/by-studio/ES9"]
    assert "systemd" in out.tags
    assert out.env["SYSTEMD_WANTS"] == "studio-device@controlC1.service"


def test_a_midi_port_is_named_after_its_card_and_port():
    out = evaluate(parse(RULES), midi_port())
    assert out.env["ID_STUDIO_DEVICE"] == "midi-ES9-0" and out.env["ID_STUDIO_KIND"] == "midi"
    assert out.symlinks == ["snd/by-studio/midi-ES9-0"]
    assert out.env["SYSTEMD_WANTS"] == "studio-device@midiC1D0.service"


@pytest.mark.parametrize("device", [
    Device("pcmC1D0c", "sound", f"{USB}/pcmC1D0c", [CARD]),
    Device("event3", "input", "/devices/platform/i8042/serio0/input/input3/event3", [{}]),
    Device("controlC1", "sound", f"{USB}/controlC1", [CARD], action="remove"),
])
def test_other_nodes_and_removals_start_nothing(device: Device):
    out = evaluate(parse(RULES), device)
    assert "SYSTEMD_WANTS" not in out.env and "systemd" not in out.tags and out.group is None


# -- the rule-to-command path against a real hootenanny ----------------------------------------------------

@pytest.fixture(scope="module")
def box() -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sd-", dir="/tmp") as root:
        stack = make_stack(Path(root), {"STUDIO_CONFIG_FILES": "/nonexistent/studio.toml"})
        try:
            stack.start("chaosgarden")
            stack.start("hootenanny")
            yield stack
        finally:
            stack.stop_all()


class FakeUdevDatabase:
    """`udevadm info --query=property --path=/sys/class/sound/<node>`, answered from files we write."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "udev-db"
        self.dir.mkdir(exist_ok=True)
        self.bin = root / "bin"
        self.bin.mkdir(exist_ok=True)
        script = self.bin / "udevadm"
        script.write_text(f'#!/bin/sh\nf="{self.dir}/$(basename "${{3#--path=}}")"\n'
                          '[ -f "$f" ] && exec cat "$f"\necho "Unknown device, --name=, --path=, or absolute path '
                          'in /dev/ or /sys expected." >&2\nexit 1\n')
        script.chmod(0o755)

    def plug(self, device: Device, properties: dict[str, str]) -> None:
        lines = [f"{k}={v}" for k, v in {**properties, "DEVNAME": f"/dev/snd/{device.kernel}"}.items()]
        (self.dir / device.kernel).write_text("\n".join(lines) + "\n")

    def unplug(self, device: Device) -> None:
        (self.dir / device.kernel).unlink()


def unit_command(key: str, instance: str) -> list[str]:
    """ExecStart/ExecStop of studio-device@<instance>, with the installed `studio` as this checkout's."""
    line = value(parse_unit(UNIT_DIR / "studio-device@.service"), "Service", key)
    argv = line.lstrip("-").replace("%i", instance).split()
    assert argv[0] == INSTALLED_STUDIO
    return [sys.executable, "-m", "appliance.cli", *argv[1:]]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def devices(env: dict[str, str]) -> dict[str, dict]:
    out = run([sys.executable, "-m", "appliance.cli", "device", "list", "--json"], env)
    assert out.returncode == 0, out.stderr
    return {d["id"]: d for d in json.loads(out.stdout)}


def test_plugging_and_unplugging_a_card_reaches_hootenanny(box: Stack):
    udev = FakeUdevDatabase(box.root)
    env = {**box.env, "PATH": f"{udev.bin}{os.pathsep}{box.env['PATH']}"}
    device = control_node()
    outcome = evaluate(parse(RULES), device)
    instance = outcome.env["SYSTEMD_WANTS"].removeprefix("studio-device@").removesuffix(".service")

    udev.plug(device, outcome.env)
    started = run(unit_command("ExecStart", instance), env)
    assert started.returncode == 0, started.stderr
    seen = devices(env)["ES9"]
    assert seen == {"id": "ES9", "kind": "audio", "alsa_name": "hw:CARD=ES9,DEV=0", "dev_path": device.devpath,
                    "connected": True}

    udev.unplug(device)
    stopped = run(unit_command("ExecStop", instance), env)
    assert stopped.returncode == 0, stopped.stderr
    assert devices(env)["ES9"]["connected"] is False


def test_a_synthetic_udev_environment_is_enough(box: Stack):
    """As under RUN+= (or a hand-made test): DEVPATH and the rule's properties in the environment."""
    device = midi_port()
    outcome = evaluate(parse(RULES), device)
    env = {**box.env, **outcome.env, "DEVNAME": "/dev/snd/midiC1D0"}
    added = run([sys.executable, "-m", "appliance.cli", "device", "added", "midiC1D0"], env)
    assert added.returncode == 0, added.stderr
    assert devices(box.env)["midi-ES9-0"]["alsa_name"] == "/dev/snd/midiC1D0"
    removed = run([sys.executable, "-m", "appliance.cli", "device", "removed", "midiC1D0"], env)
    assert removed.returncode == 0, removed.stderr
    assert devices(box.env)["midi-ES9-0"]["connected"] is False


def test_an_unknown_node_is_refused_by_name(box: Stack):
    out = run([sys.executable, "-m", "appliance.cli", "device", "added", "pcmC1D0c"], box.env)
    assert out.returncode == 1
    assert "not a sound card control node" in out.stderr
