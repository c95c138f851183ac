"""A/B slot layout, version names and boot entries (image.slots), and the sysupdate transfers (image.sysupdate)."""

import configparser
import shutil
import subprocess
from datetime import datetime, timezone

import pytest

from image import slots, sysupdate
from image.update import file_name

VERSION = "0.1.0.20261129171500"


def test_a_build_version_sorts_after_an_earlier_build_of_the_same_release():
    early = slots.build_version("0.1.0", datetime(2026, 11, 29, 9, 5, tzinfo=timezone.utc))
    late = slots.build_version("0.1.0", datetime(2026, 11, 29, 17, 15, tzinfo=timezone.utc))
    assert early == "0.1.0.20261129090500"
    # sort -V compares versions as systemd-sysupdate does for these (digits and dots).
    ordered = subprocess.run(["sort", "-V"], input=f"{late}\n{early}\n", capture_output=True, text=True).stdout
    assert ordered.split() == [early, late]


@pytest.mark.parametrize("bad, why", [("", "must start with a digit"), ("v1", "must start with a digit"),
                                      ("1+2", "letters, digits"), ("1/2", "letters, digits"),
                                      ("1" * 30, "at most 29")])
def test_a_version_that_cannot_be_a_slot_label_is_refused_saying_why(bad, why):
    with pytest.raises(ValueError, match=why):
        slots.check_version(bad)


def test_the_slot_label_and_entry_names_carry_the_version():
    assert slots.slot_label(VERSION) == f"studio_{VERSION}"
    assert slots.entry_name(VERSION) == f"studio_{VERSION}.conf"
    assert slots.entry_name(VERSION, tries_left=3) == f"studio_{VERSION}+3-0.conf"


def test_the_entry_boots_that_versions_kernel_on_that_versions_slot_read_only():
    entry = dict(line.split(" ", 1) for line in slots.entry_text(VERSION, "console=ttyS0").splitlines())
    assert entry["version"] == VERSION
    assert entry["linux"] == f"/studio_{VERSION}.vmlinuz" and entry["initrd"] == f"/studio_{VERSION}.initrd"
    options = entry["options"].split()
    assert f"root=PARTLABEL=studio_{VERSION}" in options and "ro" in options and "console=ttyS0" in options
    # A panic must reboot, or a counted boot that panics would never count down.
    assert any(o.startswith("panic=") and int(o.split("=")[1]) > 0 for o in options)


def test_the_layout_puts_two_equal_slots_between_boot_and_data():
    layout = slots.Layout()
    at = layout.offsets_mib()
    assert at["slot_b"] - at["slot_a"] == at["data"] - at["slot_b"] == layout.slot_mib
    assert at["data"] + layout.data_mib + 1 == layout.total_mib


def test_a_root_too_big_for_a_slot_is_refused():
    with pytest.raises(ValueError, match="needs 3000 MiB but a slot holds 2048"):
        slots.Layout().check_root_fits(3000)


def test_the_partition_table_has_slot_a_with_the_version_and_slot_b_empty():
    table = slots.partition_table("amd64", slots.Layout(), VERSION)
    rows = [line for line in table.splitlines() if line.startswith("start=")]
    assert table.startswith("label: gpt")
    assert [r.split('name="')[1].rstrip('"') for r in rows] == ["STUDIO-BOOT", f"studio_{VERSION}", "_empty",
                                                               "studio-data"]
    assert f"type={slots.ESP_TYPE}" in rows[0]
    assert all(f"type={slots.ROOT_TYPES['amd64']}" in row for row in rows[1:3])


@pytest.mark.skipif(shutil.which("sfdisk") is None, reason="sfdisk (fdisk package) is not installed")
def test_sfdisk_accepts_the_partition_table(tmp_path):
    disk = tmp_path / "disk.img"
    with disk.open("wb") as fh:
        fh.truncate(slots.Layout().total_mib * slots.MIB)
    table = slots.partition_table("amd64", slots.Layout(), VERSION)
    done = subprocess.run(["sfdisk", "--quiet", str(disk)], input=table, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr
    dump = subprocess.run(["sfdisk", "--dump", str(disk)], capture_output=True, text=True, check=True).stdout
    assert f'name="studio_{VERSION}"' in dump and 'name="_empty"' in dump


def parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_each_transfer_takes_its_update_file_and_protects_the_running_version(arch):
    transfers = sysupdate.transfers(arch)
    names = sysupdate.source_names(arch, VERSION)
    assert len(transfers) == len(names)
    for text in transfers.values():
        config = parse(text)
        assert config["Transfer"]["ProtectVersion"] == "%A"
        assert config["Source"]["Path"] == sysupdate.UPDATE_DIR
        # Two versions at most on the boot partition as in the slots: a kernel or entry must never outlive its slot.
        assert config["Target"]["InstancesMax"] == "2"
        pattern = config["Source"]["MatchPattern"]
        assert pattern.replace("@v", VERSION) in names.values()
    root = parse(transfers["10-root.transfer"])["Target"]
    assert (root["Type"], root["Path"], root["MatchPattern"], root["MatchPartitionType"]) == (
        "partition", "auto", "studio_@v", "root")
    kernel = parse(transfers["20-kernel.transfer"])["Target"]
    assert (kernel["Path"], kernel["MatchPattern"]) == ({"amd64": "/boot/efi", "arm64": "/boot/firmware"}[arch],
                                                         "studio_@v.vmlinuz")


def test_the_entry_is_written_last_with_three_tries():
    transfers = sysupdate.transfers("amd64")
    assert sorted(transfers)[-1] == "90-entry.transfer"
    entry = transfers["90-entry.transfer"]
    assert "MatchPattern=studio_@v+@l-@d.conf" in entry.split("[Target]")[1].splitlines()[3]
    assert parse(entry)["Target"]["TriesLeft"] == "3"


def test_the_pi_has_no_entry_to_write_its_boot_script_finds_kernel_and_initrd_by_name():
    assert set(sysupdate.source_names("arm64", VERSION).values()) == {
        f"studio_{VERSION}.root.raw.gz", f"studio_{VERSION}.vmlinuz", f"studio_{VERSION}.initrd"}
    assert not any("TriesLeft" in text for text in sysupdate.transfers("arm64").values())


def test_an_unknown_arch_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="arch 'riscv64': allowed amd64, arm64"):
        sysupdate.transfers("riscv64")


def test_the_update_file_is_named_by_arch_and_version():
    assert file_name("amd64", VERSION) == f"studio-amd64_{VERSION}.update.tar"
    with pytest.raises(ValueError):
        file_name("amd64", "not a version")
