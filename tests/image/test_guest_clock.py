"""The guest-to-host clock offset from console printk stamps (image.guest_clock)."""

import threading
import time

import pytest

from image.guest_clock import ConsoleClock, tighter_bound

LINES = b"[    0.000000] Linux version 6.12\n[    1.500000] virtio_blk virtio1: [vda]\n"


def test_no_stamped_line_leaves_the_offset_unknown():
    assert tighter_bound(None, 3.0, b"SeaBIOS (version 1.16)\nBooting from ROM..\n") is None


def test_the_newest_stamp_read_bounds_the_offset():
    # Read by 2.0 s on the host: the line stamped 1.5 was written at most 0.5 s after the guest clock's zero.
    assert tighter_bound(None, 2.0, LINES) == pytest.approx(0.5)


def test_a_later_and_looser_reading_does_not_widen_the_bound():
    bound = tighter_bound(None, 2.0, LINES)
    assert tighter_bound(bound, 9.0, b"[    2.000000] systemd[1]: started\n") == pytest.approx(0.5)
    assert tighter_bound(bound, 2.3, b"[    2.000000] systemd[1]: started\n") == pytest.approx(0.3)


def test_stamps_in_the_middle_of_a_line_are_not_printk_stamps():
    assert tighter_bound(None, 5.0, b"login: [ 4.9] not a stamp\n") is None


def test_console_clock_places_guest_timestamps_on_the_host_clock(tmp_path):
    console = tmp_path / "console.log"
    started = time.monotonic()
    clock = ConsoleClock(console, lambda: time.monotonic() - started, every=0.01)
    clock.start()
    try:
        with pytest.raises(RuntimeError, match="no stamped kernel line"):
            clock.host_seconds(1_000_000)
        # A guest whose clock started when the host's did: each line is stamped with the host time it is written.
        for _ in range(20):
            with console.open("ab") as out:
                out.write(f"[{time.monotonic() - started:12.6f}] tick\n".encode() + b"partial, no newline yet")
            with console.open("ab") as out:
                out.write(b"\n")
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while clock.bound is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        clock.stop()
    assert clock.bound is not None and clock.bound >= 0
    assert clock.host_seconds(2_500_000) == pytest.approx(clock.bound + 2.5)
    assert not any(t.name == "console-clock" for t in threading.enumerate())
