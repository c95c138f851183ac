"""The amd64 image booted under qemu and checked from outside (`make image-test`, `make vm`; never `make test`).

One boot serves every check (a TCG boot takes about a minute); the image must
have been built first (`make image`), else the test says so and fails.
"""

from pathlib import Path

import pytest

from image.boot_test import load_record, run_checks
from image.build import DEFAULT_OUT

pytestmark = [pytest.mark.vm, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    record = load_record(DEFAULT_OUT)
    return run_checks(record, Path(tmp_path_factory.mktemp("vm", numbered=True)), say=print)


def test_mcp_answers_within_the_boot_budget(booted):
    assert booted["mcp_ready_s"] < 420


def test_all_three_services_are_active(booted):
    assert set(booted["services"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}


def test_root_is_mounted_read_only_and_refuses_writes(booted):
    assert booted["read_only_root"]["options"].startswith("ro")
    assert booted["read_only_root_after_reboot"]["options"].startswith("ro")


def test_what_first_boot_made_survives_a_reboot(booted):
    assert booted["identity_after_reboot"] == booted["identity_before_reboot"]
    assert len(booted["identity_before_reboot"]["machine_id"]) == 32


def test_the_box_comes_back_after_a_reboot(booted):
    assert booted["mcp_ready_after_reboot_s"] < 420
    assert set(booted["services_after_reboot"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}


def test_first_boot_grew_the_data_partition_to_the_end_of_the_disk(booted):
    # The image's data partition is 256 MiB; BootedBox makes the disk 1 GiB larger than the image.
    assert booted["data_bytes"] > 1 << 30


def test_first_boot_named_the_box(booted):
    assert booted["hostname"].startswith("studio-") and len(booted["hostname"]) == len("studio-") + 6


def test_loopback_waveform_comes_back_sample_exact_over_mcp(booted):
    # Played only after the recording had begun, so it cannot start before that point.
    assert booted["loopback"]["waveform_at_frame"] >= booted["loopback"]["recording_from"]


def test_usb_audio_hotplug_reaches_device_list(booted):
    assert booted["hotplug_device"]


def test_a_hung_systemd_is_reset_by_the_hardware_watchdog(booted):
    # Nothing else reboots a box whose PID 1 is stopped: no panic, no unit can run.
    assert booted["watchdog"]["state"] == "active" and booted["watchdog"]["systemd_interval"] == "15s"
    assert "tracing stop" in booted["pid1_hung"]
    assert booted["back_after_hang_s"] < 420
    assert set(booted["services_after_hang"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}
