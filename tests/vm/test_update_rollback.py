"""An A/B update and a rollback on the amd64 image under qemu with UEFI (`make image-test`; never `make test`).

One box goes through both updates (image.update_test): a good one that must
boot from slot B and be blessed, three forgeries of the next update (altered,
signed by another key, unsigned) that studio-update must refuse without
touching anything, and a broken but properly signed one that must install,
use up its three tries and hand the box back to the good version. The image
must have been built first (`make image`).
"""

from pathlib import Path

import pytest

from image import DEFAULT_OUT
from image.boot_test import load_record
from image.update_test import run_scenario

pytestmark = [pytest.mark.vm, pytest.mark.timeout(7200)]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_scenario(load_record(DEFAULT_OUT), Path(tmp_path_factory.mktemp("update", numbered=True)), say=print)


def test_the_built_version_boots_from_slot_a_uncounted(scenario):
    built = scenario["versions"]["built"]
    assert scenario["first"]["version"] == built
    assert scenario["first"]["slot"] == f"studio_{built}"
    assert scenario["first"]["bless"] == "clean"
    assert scenario["first"]["entries"] == [f"studio_{built}.conf"]
    assert scenario["loader_first"] == {"arch": "amd64", "version": built, "verdict": "clean"}


def test_an_update_is_installed_with_three_tries_without_touching_the_running_slot(scenario):
    good = scenario["versions"]["good"]
    assert f"studio_{good}+3-0.conf" in scenario["after_install_good"]["entries"]
    assert scenario["after_install_good"]["version"] == scenario["versions"]["built"]


def test_the_updated_version_boots_from_the_other_slot_and_is_blessed(scenario):
    good = scenario["versions"]["good"]
    assert scenario["good"]["version"] == good and scenario["good"]["slot"] == f"studio_{good}"
    assert scenario["good_assessed"] == {"studio-good-boot.service": "active", "systemd-bless-boot.service": "active"}
    assert f"studio_{good}.conf" in scenario["good"]["entries"]


REFUSALS = {
    "altered": "does not match its SHA256SUMS line: it was altered after the update was signed",
    "foreign": "which this box does not trust",
    "unsigned": "no SHA256SUMS.gpg in it: the update is not signed",
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_forged_update_is_refused_saying_why_and_nothing_changes(scenario, kind):
    refused = scenario["refused"][kind]
    assert refused["status"] != 0, refused["output"]
    assert "refused, nothing was installed" in refused["output"] and REFUSALS[kind] in refused["output"]
    if kind == "foreign":
        assert f"signed by key {scenario['keys']['foreign']}" in refused["output"]
    # Same version from the same slot, same slot labels, entries, kernels and initrds: the other slot was not touched.
    assert refused["running"] == scenario["good"]
    assert "No such file or directory" in refused["left_behind"]


def test_the_box_keeps_serving_after_refusing_forgeries(scenario):
    assert set(scenario["services_after_refusals"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}
    assert scenario["healthz_after_refusals"] is not None


def test_a_broken_update_uses_up_its_tries_and_the_good_version_comes_back(scenario):
    good, broken = scenario["versions"]["good"], scenario["versions"]["broken"]
    assert scenario["boots_after_broken"].count(broken) >= 1 and scenario["boots_after_broken"][-1] == good
    assert scenario["rolled_back"]["version"] == good and scenario["rolled_back"]["slot"] == f"studio_{good}"
    assert scenario["rolled_back"]["entries"] == sorted([f"studio_{good}.conf", f"studio_{broken}+0-3.conf"])
    assert any("BAD" in line for line in scenario["assessments"])


def test_each_update_replaces_the_oldest_version_everywhere_so_no_entry_outlives_its_slot(scenario):
    built, good, broken = (scenario["versions"][k] for k in ("built", "good", "broken"))
    assert scenario["after_install_good"]["slots"] == sorted([f"studio_{built}", f"studio_{good}"])
    after = scenario["after_install_broken"]
    assert after["slots"] == sorted([f"studio_{good}", f"studio_{broken}"])
    assert after["entries"] == sorted([f"studio_{good}.conf", f"studio_{broken}+3-0.conf"])
    assert after["boot_files"] == sorted(f"studio_{v}.{kind}" for v in (good, broken) for kind in ("initrd", "vmlinuz"))


def test_the_box_keeps_its_identity_and_services_through_updates_and_rollback(scenario):
    assert scenario["identity_rolled_back"] == scenario["identity_first"]
    assert set(scenario["services_rolled_back"]) == {"chaosgarden", "hootenanny", "vibeweaver", "studio.target"}
