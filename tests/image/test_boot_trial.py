"""The Pi box's side of the try counter (overlay-arm64's boot-trial), run here on a folder standing in for
/boot/firmware; and the build's own pieces of it (image.uboot's state file and config.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from image import uboot
from tests.image.overlay_scripts import boot_trial

GOOD, TRIAL, NEXT = "0.1.0.1", "0.1.0.2", "0.1.0.3"


def boot_folder(tmp_path: Path, state: str) -> Path:
    (tmp_path / uboot.STATE).write_text(state)
    return tmp_path


def os_release(tmp_path: Path, version: str) -> Path:
    path = tmp_path / "os-release"
    path.write_text(f'PRETTY_NAME="Studio box"\nIMAGE_VERSION={version}\n')
    return path


def run(tmp_path: Path, booted: str, *args: str) -> int:
    return boot_trial.main(["--boot", str(tmp_path), "--os-release", str(os_release(tmp_path, booted)), *args])


def test_arming_gives_the_new_version_three_tries_and_keeps_the_running_one_as_good(tmp_path):
    boot = boot_folder(tmp_path, uboot.state_text(GOOD))
    assert run(boot, GOOD, "arm", TRIAL) == 0
    assert boot_trial.parse_state((boot / uboot.STATE).read_text()) == {
        "studio_good": GOOD, "studio_trial": TRIAL, "studio_tries": "3"}
    assert not list(boot.glob(f".{uboot.STATE}*")), "the partial file was left behind"


def test_only_a_boot_of_the_trial_is_on_trial_and_blessing_makes_it_good(tmp_path, capsys):
    boot = boot_folder(tmp_path, uboot.state_text(GOOD, TRIAL, 2))
    assert run(boot, GOOD, "on-trial") == 1
    assert run(boot, TRIAL, "on-trial") == 0
    assert run(boot, TRIAL, "bless") == 0
    assert (boot / uboot.STATE).read_text() == uboot.state_text(TRIAL)
    assert run(boot, TRIAL, "on-trial") == 1
    assert capsys.readouterr().out.splitlines()[-1] == f"verdict=clean booted={TRIAL} good={TRIAL} trial= tries=0"


def test_a_trial_out_of_tries_shows_as_rolled_back_and_the_next_update_replaces_it(tmp_path, capsys):
    boot = boot_folder(tmp_path, uboot.state_text(GOOD, TRIAL, 0))
    assert run(boot, GOOD, "status") == 0
    assert capsys.readouterr().out.startswith(f"verdict=rolled-back booted={GOOD} good={GOOD} trial={TRIAL}")
    assert run(boot, GOOD, "arm", NEXT) == 0
    assert boot_trial.parse_state((boot / uboot.STATE).read_text())["studio_trial"] == NEXT


@pytest.mark.parametrize(("booted", "args", "state", "message"), [
    (GOOD, ("bless",), uboot.state_text(GOOD), f"this boot of {GOOD} is not on trial"),
    (TRIAL, ("arm", NEXT), uboot.state_text(GOOD, TRIAL, 2), f"this boot of {TRIAL} is itself on trial"),
    (GOOD, ("arm", GOOD), uboot.state_text(GOOD), f"{GOOD} is the version running"),
    (GOOD, ("arm", "../../etc"), uboot.state_text(GOOD), "must start with a digit"),
    (GOOD, ("status",), "studio_trial=0.1.0.2\n", "names no good version"),
])
def test_what_cannot_be_done_is_refused_saying_why_and_the_state_is_untouched(tmp_path, capsys, booted, args, state,
                                                                                message):
    boot = boot_folder(tmp_path, state)
    assert run(boot, booted, *args) == 2
    assert message in capsys.readouterr().err
    assert (boot / uboot.STATE).read_text() == state


def test_a_missing_boot_partition_is_named(tmp_path, capsys):
    assert run(tmp_path, GOOD, "arm", TRIAL) == 2
    assert f"is the boot partition mounted at {tmp_path}?" in capsys.readouterr().err


def test_the_state_file_allows_only_tries_the_script_counts_in_decimal():
    assert uboot.state_text(GOOD, TRIAL, 9).endswith("studio_tries=9\n")
    with pytest.raises(ValueError, match="tries 10: allowed 0 to 9"):
        uboot.state_text(GOOD, TRIAL, 10)


def test_config_txt_starts_u_boot_instead_of_the_packaged_kernel_and_keeps_the_rest():
    packaged = ("# Do not modify this file!\narm_64bit=1\nenable_uart=1\nupstream_kernel=1\n\n"
                "kernel=vmlinuz-6.12.107+deb13-arm64\ninitramfs initrd.img-6.12.107+deb13-arm64\n")
    config = uboot.config_txt(packaged)
    lines = config.splitlines()
    assert "kernel=u-boot.bin" in lines and "enable_uart=1" in lines and "upstream_kernel=1" in lines
    assert not [line for line in lines if "vmlinuz" in line or line.startswith("initramfs")]
    assert lines.count("arm_64bit=1") == 1
