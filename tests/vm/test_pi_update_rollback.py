"""The Pi image's A/B update and rollback under qemu, through U-Boot and its boot script (`make image-test-arm64`).

The same scenario as the amd64 one (image.update_test) on the arm64 image
booted by the qemu build of the Pi's U-Boot release: a good update is armed
with three tries in U-Boot's state file, boots from slot B and is blessed;
a broken one spends its three tries and U-Boot boots the good one again.
The forgeries are left to the amd64 run (the same studio-update code). The
image must have been built first (`make image-arm64`, some 25 minutes).
"""

from pathlib import Path

import pytest

from image import DEFAULT_OUT
from image.boot_test import load_record
from image.update_test import run_scenario

pytestmark = [pytest.mark.vm, pytest.mark.pi, pytest.mark.timeout(10800)]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_scenario(load_record(DEFAULT_OUT, "arm64"), Path(tmp_path_factory.mktemp("pi-update", numbered=True)),
                        say=print)


def test_the_built_version_boots_from_slot_a_with_nothing_on_trial(scenario):
    built = scenario["versions"]["built"]
    assert scenario["first"]["version"] == built and scenario["first"]["slot"] == f"studio_{built}"
    assert scenario["first"]["bless"] == "clean"
    assert scenario["first"]["entries"] == [f"studio_good={built}"]
    assert scenario["loader_first"] == {"arch": "arm64", "version": built, "verdict": "clean", "booted": built,
                                        "good": built, "trial": "", "tries": "0"}


def test_an_update_is_armed_with_three_tries_without_touching_the_running_slot(scenario):
    built, good = scenario["versions"]["built"], scenario["versions"]["good"]
    after = scenario["after_install_good"]
    assert after["entries"] == sorted([f"studio_good={built}", f"studio_trial={good}", "studio_tries=3"])
    assert after["version"] == built and after["slots"] == sorted([f"studio_{built}", f"studio_{good}"])


def test_the_updated_version_boots_from_the_other_slot_and_is_blessed(scenario):
    good = scenario["versions"]["good"]
    assert scenario["good"]["version"] == good and scenario["good"]["slot"] == f"studio_{good}"
    assert scenario["good_assessed"] == {"studio-good-boot.service": "active"}
    assert scenario["good"]["bless"] == "clean" and scenario["good"]["entries"] == [f"studio_good={good}"]


def test_a_broken_update_uses_up_its_tries_and_u_boot_brings_the_good_version_back(scenario):
    good, broken = scenario["versions"]["good"], scenario["versions"]["broken"]
    assert scenario["boots_after_broken"].count(broken) >= 1 and scenario["boots_after_broken"][-1] == good
    rolled_back = scenario["rolled_back"]
    assert rolled_back["version"] == good and rolled_back["slot"] == f"studio_{good}"
    assert rolled_back["bless"] == "rolled-back"
    assert rolled_back["entries"] == sorted([f"studio_good={good}", f"studio_trial={broken}", "studio_tries=0"])
    assert any("BAD" in line for line in scenario["assessments"])


def test_each_update_replaces_the_oldest_version_so_no_kernel_outlives_its_slot(scenario):
    good, broken = scenario["versions"]["good"], scenario["versions"]["broken"]
    after = scenario["after_install_broken"]
    assert after["slots"] == sorted([f"studio_{good}", f"studio_{broken}"])
    assert after["boot_files"] == sorted(f"studio_{v}.{kind}" for v in (good, broken) for kind in ("initrd", "vmlinuz"))


def test_the_box_keeps_its_identity_and_services_through_updates_and_rollback(scenario):
    assert scenario["identity_rolled_back"] == scenario["identity_first"]
    assert set(scenario["services_rolled_back"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}
