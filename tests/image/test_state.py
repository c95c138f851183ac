"""Where the read-only root's box keeps what it writes (image.state), checked without root or an image build."""

import os
import re
from pathlib import Path

import pytest

from image import state

INITRAMFS_SCRIPT = Path(state.__file__).parent / "overlay/etc/initramfs-tools/scripts/local-bottom/studio-data"


def fstab_entries(arch: str) -> dict[str, list[str]]:
    rows = [line.split() for line in state.fstab(arch).splitlines() if line and not line.startswith("#")]
    return {row[1]: row for row in rows}


def test_fstab_has_no_root_line_the_kernel_command_line_mounts_it_read_only():
    assert "/" not in fstab_entries("amd64")


def test_fstab_mounts_the_boot_partition_where_each_arch_needs_it():
    assert fstab_entries("amd64")["/boot/efi"][0] == "LABEL=STUDIO-BOOT"
    assert fstab_entries("arm64")["/boot/firmware"][0] == "LABEL=STUDIO-BOOT"


def test_var_and_home_are_overlays_with_their_upper_layer_on_the_data_partition():
    for lower in ("/var", "/home"):
        source, mount, kind, options, *_ = fstab_entries("amd64")[lower]
        assert (source, kind) == ("overlay", "overlay")
        fields = dict(option.split("=", 1) for option in options.split(","))
        assert fields["lowerdir"] == lower
        assert fields["upperdir"].startswith("/data/system/") and fields["workdir"] == fields["upperdir"] + ".work"


def test_the_studio_data_directory_is_the_data_partition_bound_in_place():
    assert fstab_entries("amd64")["/var/lib/studio"][:4] == ["/data/studio", "/var/lib/studio", "none", "bind"]


def test_an_unknown_arch_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="riscv64.*amd64, arm64"):
        state.fstab("riscv64")


def test_every_per_box_etc_file_points_into_data_system_etc():
    links = state.etc_links()
    assert {"/etc/machine-id", "/etc/hostname", "/etc/ssh/ssh_host_ed25519_key",
            "/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"} <= set(links)
    assert all(target == "/data/system" + name for name, target in links.items())


def test_the_initramfs_makes_every_directory_the_links_and_overlays_need():
    script = INITRAMFS_SCRIPT.read_text()
    made = {path.replace('"$data', "/data").rstrip('"')
            for path in re.findall(r'"\$data[^"]*"', script.split("mkdir -p", 1)[1].split("\n#", 1)[0])}
    # mkdir -p makes each one's parents too.
    made |= {str(parent) for path in made for parent in Path(path).parents}
    assert set(state.directories()) <= made, set(state.directories()) - made


def test_prepare_root_links_etc_and_writes_fstab_and_is_idempotent(tmp_path):
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "etc/machine-id").write_text("")
    (tmp_path / "etc/ssh/ssh_host_rsa_key").write_text("baked into the image by mistake")
    for _ in range(2):
        state.prepare_root(tmp_path, "amd64")
    for name, target in state.etc_links().items():
        assert os.readlink(tmp_path / name.lstrip("/")) == target
    assert (tmp_path / "etc/fstab").read_text() == state.fstab("amd64")
    assert (tmp_path / "data").is_dir() and (tmp_path / "boot/efi").is_dir()


def test_populate_makes_the_tree_with_an_empty_machine_id_and_the_studio_directory_owned_by_studio(tmp_path):
    ids = (os.getuid(), os.getgid())
    state.populate(tmp_path, ids)
    for directory in state.directories():
        assert (tmp_path / Path(directory).relative_to("/data")).is_dir()
    assert (tmp_path / "system/etc/machine-id").read_text() == ""
    studio = (tmp_path / "studio").stat()
    assert (studio.st_uid, studio.st_gid, studio.st_mode & 0o777) == (*ids, 0o750)
