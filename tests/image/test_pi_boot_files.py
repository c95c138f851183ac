"""Which kernel and initramfs the Pi's firmware loads, read from config.txt (image.qemu_vm.pi_boot_files)."""

import pytest

from image.qemu_vm import pi_boot_files

# As raspi-firmware writes it for trixie's arm64 kernel.
CONFIG = """# Do not modify this file!
arm_64bit=1
enable_uart=1
upstream_kernel=1

kernel=vmlinuz-6.12.117+deb13-arm64
# For details on the initramfs directive, see
initramfs initrd.img-6.12.117+deb13-arm64
"""


def test_the_kernel_and_initramfs_lines_name_the_files():
    assert pi_boot_files(CONFIG) == ("vmlinuz-6.12.117+deb13-arm64", "initrd.img-6.12.117+deb13-arm64")


def test_initramfs_with_followkernel_still_names_the_file():
    assert pi_boot_files("kernel=vmlinuz\ninitramfs initrd.img followkernel\n") == ("vmlinuz", "initrd.img")


def test_a_config_without_them_is_refused_saying_what_is_missing():
    with pytest.raises(ValueError, match="no kernel= and initramfs"):
        pi_boot_files("arm_64bit=1\n# kernel=commented-out\n")
