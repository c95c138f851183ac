"""The loopback check's matching: exact or a failure that says what was recorded instead."""

from __future__ import annotations

import pytest

from image.box_checks import FRAME_BYTES, BoxCheckFailed, find_exactly, known_waveform


def test_the_waveform_is_found_at_its_frame() -> None:
    wave = known_waveform(0.1)
    assert find_exactly(bytes(37 * FRAME_BYTES) + wave + bytes(64), wave) == 37


def test_a_lost_start_is_told_apart_from_a_playback_never_heard() -> None:
    wave = known_waveform(0.1)
    lost_start = bytes(100 * FRAME_BYTES) + wave[len(wave) // 2:]
    with pytest.raises(BoxCheckFailed, match=r"found: 4/8 at frame 100, 5/8 .*first non-zero byte at frame 100"):
        find_exactly(lost_start, wave)
    with pytest.raises(BoxCheckFailed, match="found: none; first non-zero byte none"):
        find_exactly(bytes(len(wave) * 2), wave)


def test_one_wrong_sample_fails_and_names_the_byte() -> None:
    wave = known_waveform(0.1)
    damaged = bytearray(wave)
    damaged[1000] ^= 1
    with pytest.raises(BoxCheckFailed, match="differs from byte 1000"):
        find_exactly(bytes(damaged), wave)
