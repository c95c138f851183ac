"""The systemd units: systemd-analyze accepts them, and they say what the box needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.config import load_config
from tests.box.unit_files import ALL_UNITS, INSTALLED_STUDIO, SERVICES, UNIT_DIR, parse_unit, value, values

HARDENING = {
    "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "CapabilityBoundingSet": "",
}


@pytest.fixture
def installed_units(tmp_path: Path) -> Path:
    """The units as the image installs them, with ExecStart pointing at a stub `studio` that exists here."""
    stub = tmp_path / "bin" / "studio"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for name in ALL_UNITS:
        (tmp_path / name).write_text((UNIT_DIR / name).read_text().replace(INSTALLED_STUDIO, str(stub)))
    return tmp_path


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed: apt-get install systemd")
@pytest.mark.parametrize("unit", [*ALL_UNITS[:-1], "studio-device@controlC1.service"])
def test_systemd_analyze_verify_accepts_every_unit(installed_units: Path, unit: str):
    # --generators=no and --man=no: this host is not booted with systemd; the units themselves are checked,
    # including that ExecStart names an executable. Any warning (unknown key, bad value) fails the test.
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", str(installed_units / unit)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_verify_would_catch_a_bad_directive(installed_units: Path):
    """Guards the check above: a typo is reported on stderr, so an empty stderr means something."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: apt-get install systemd")
    bad = installed_units / "chaosgarden.service"
    bad.write_text(bad.read_text().replace("Restart=always", "Restart=sometimes"))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert "restart specifier" in out.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_services_notify_watchdog_restart_and_run_as_studio(name: str):
    unit = parse_unit(UNIT_DIR / name)
    assert value(unit, "Service", "Type") == "notify"
    assert value(unit, "Service", "WatchdogSec")
    assert value(unit, "Service", "Restart") == "always"
    assert value(unit, "Unit", "StartLimitIntervalSec") and value(unit, "Unit", "StartLimitBurst")
    assert (value(unit, "Service", "User"), value(unit, "Service", "Group")) == ("studio", "studio")
    assert "audio" in values(unit, "Service", "SupplementaryGroups")
    command = {"chaosgarden.service": "rt", "hootenanny.service": "hootenanny", "vibeweaver.service": "vibeweaver"}
    assert value(unit, "Service", "ExecStart") == f"{INSTALLED_STUDIO} {command[name]}"
    assert set(values(unit, "Service", "Environment")) >= {
        "STUDIO_DATA_DIR=/var/lib/studio", "STUDIO_RUN_DIR=/run/studio", "STUDIO_MCP_BIND=0.0.0.0"}
    assert "studio.target" in values(unit, "Install", "WantedBy")


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened_and_write_only_their_state(name: str):
    unit = parse_unit(UNIT_DIR / name)
    for key, wanted in HARDENING.items():
        assert value(unit, "Service", key) == wanted, f"{name}: {key} should be {wanted!r}"
    assert values(unit, "Service", "ReadWritePaths") == ["/var/lib/studio"]
    assert value(unit, "Service", "StateDirectory") == "studio"


@pytest.mark.parametrize("name", SERVICES)
def test_the_shared_runtime_directory_survives_one_unit_stopping(name: str):
    unit = parse_unit(UNIT_DIR / name)
    assert value(unit, "Service", "RuntimeDirectory") == "studio"
    assert value(unit, "Service", "RuntimeDirectoryPreserve") == "yes"


@pytest.mark.parametrize("name", ["hootenanny.service", "vibeweaver.service"])
def test_hootenanny_and_vibeweaver_outlive_chaosgarden(name: str):
    unit = parse_unit(UNIT_DIR / name)
    for strong in ("Requires", "BindsTo", "Requisite", "PartOf"):
        assert "chaosgarden.service" not in values(unit, "Unit", strong), f"{name} has {strong}=chaosgarden"
    assert "Requires" not in dict(unit["Unit"]) and "BindsTo" not in dict(unit["Unit"])


def test_hootenanny_starts_beside_chaosgarden_not_after_it():
    """Ordered after chaosgarden's READY, MCP came up a whole Python start-up later at boot."""
    unit = parse_unit(UNIT_DIR / "hootenanny.service")
    assert "chaosgarden.service" in values(unit, "Unit", "Wants")
    assert "chaosgarden.service" not in " ".join(values(unit, "Unit", "After"))


def test_only_chaosgarden_gets_realtime_limits_and_sound_devices():
    garden = parse_unit(UNIT_DIR / "chaosgarden.service")
    assert value(garden, "Service", "LimitRTPRIO") == "95"
    assert value(garden, "Service", "LimitMEMLOCK") == "infinity"
    assert value(garden, "Service", "DeviceAllow") == "char-alsa rw"
    assert value(garden, "Service", "RestrictRealtime") is None
    assert int(value(garden, "Service", "Nice")) < 0  # its control thread holds the GIL the capture threads need
    for name in ("hootenanny.service", "vibeweaver.service"):
        other = parse_unit(UNIT_DIR / name)
        assert value(other, "Service", "Nice") is None
        assert value(other, "Service", "RestrictRealtime") == "yes"
        assert value(other, "Service", "PrivateDevices") == "yes"


def test_target_wants_the_three_without_requiring_them():
    target = parse_unit(UNIT_DIR / "studio.target")
    assert set(values(target, "Unit", "Wants")) == set(SERVICES)
    assert not values(target, "Unit", "Requires")
    assert "multi-user.target" in values(target, "Install", "WantedBy")


def test_device_instance_is_bound_to_its_device_node():
    unit = parse_unit(UNIT_DIR / "studio-device@.service")
    assert values(unit, "Unit", "BindsTo") == ["dev-snd-%i.device"]
    assert "dev-snd-%i.device" in values(unit, "Unit", "After")
    assert value(unit, "Service", "Type") == "oneshot" and value(unit, "Service", "RemainAfterExit") == "yes"
    assert value(unit, "Service", "ExecStart") == f"-{INSTALLED_STUDIO} device added %i"
    assert value(unit, "Service", "ExecStop") == f"-{INSTALLED_STUDIO} device removed %i"


def test_device_unit_name_matches_what_systemd_derives_from_the_node():
    """`BindsTo=dev-snd-%i.device` only works if systemd names the node's unit that way."""
    if shutil.which("systemd-escape") is None:
        pytest.skip("systemd-escape is not installed: apt-get install systemd")
    for node in ("controlC1", "midiC1D0"):
        out = subprocess.run(["systemd-escape", "--path", "--suffix=device", f"/dev/snd/{node}"],
                             capture_output=True, text=True, check=True)
        assert out.stdout.strip() == f"dev-snd-{node}.device"


def test_the_shipped_config_points_the_cli_where_the_units_point():
    config = load_config(files=(UNIT_DIR / "studio.toml",), environ={})
    unit = parse_unit(UNIT_DIR / "hootenanny.service")
    env = dict(v.split("=", 1) for v in values(unit, "Service", "Environment"))
    assert str(config.data_dir) == env["STUDIO_DATA_DIR"] and str(config.runtime_dir) == env["STUDIO_RUN_DIR"]
    assert config.mcp.bind == env["STUDIO_MCP_BIND"]
