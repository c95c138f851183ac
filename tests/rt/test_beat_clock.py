"""The beat clock: beats as a function of samples and the tempo map; ticks monotone and never skipped."""

import asyncio
import subprocess
import sys
import time

import pytest
import zmq
import zmq.asyncio

from appliance.proto import endpoints
from appliance.proto.pubsub import Subscriber
from appliance.rt.beat_clock import SampleClock, TempoMap, TempoMapView
from appliance.proto.transport_messages import Marker
from appliance.rt.beat_ticker import BeatTicker, MarkerTable
from tests.support.garden import until, wait_until

RATE = 48000


def test_beats_follow_samples_through_play_pause_seek_tempo():
    t = TempoMap(RATE, bpm=120)
    view = TempoMapView(t)
    assert view.beat_at(1000) == 0.0  # stopped
    t.play(at=RATE)  # 120 bpm: a beat every half second
    view.refresh()
    assert view.beat_at(RATE) == 0.0 and view.beat_at(2 * RATE) == 2.0
    assert view.beat_at(RATE // 2) == 0.0  # before the anchor the transport was stopped
    t.tempo(at=2 * RATE, bpm=60)
    view.refresh()
    assert view.beat_at(1.5 * RATE) == 1.0  # before the change: the old tempo
    assert view.beat_at(3 * RATE) == 3.0  # after it: one beat a second from beat 2
    assert view.sample_at(1.0) == 1.5 * RATE and view.sample_at(4.0) == 4 * RATE
    t.pause(at=3 * RATE)
    view.refresh()
    assert view.beat_at(10 * RATE) == 3.0 and not view.playing()
    t.play(at=5 * RATE)
    view.refresh()
    assert view.beat_at(6 * RATE) == 4.0  # resumed where it was paused
    t.seek(at=6 * RATE, beat=16)
    view.refresh()
    assert view.beat_at(7 * RATE) == 17.0
    t.stop(at=7 * RATE)
    assert t.state(8 * RATE).state == "stopped" and t.state(8 * RATE).beat == 0.0


def test_a_stalled_clock_thread_emits_every_missed_tick_in_order():
    clock = SampleClock(RATE)
    transport = TempoMap(RATE, bpm=400)  # 37.5 ms per quarter-beat tick
    ticker = BeatTicker(clock, transport, resolution=4, priority=0)
    ticker.markers = MarkerTable.of([Marker(name="m", beat=1.0, metadata_json="{}")])
    ticker.start()
    transport.play(at=clock.now_sample())
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.5)  # this thread keeps the GIL: the ticker stalls for several ticks
    try:
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            pass
    finally:
        sys.setswitchinterval(before)
    wait_until(lambda: ticker.ticks.written >= 16)
    ticker.stop()
    ticker.join(2)
    ticks = ticker.ticks.drain()
    beats = [t[0] for t in ticks]
    assert beats == [i / 4 for i in range(len(beats))]
    late = [emitted - grid for _b, _bpm, _s, grid, emitted in ticks]
    assert max(late) > 100_000_000  # the stall really happened, and the missed ticks came out after it
    grid = [t[3] for t in ticks]
    assert grid == sorted(grid) and [t[2] for t in ticks] == sorted(t[2] for t in ticks)
    assert [m.name for m in ticker.reached] == ["m"]


@pytest.fixture
def hogs():
    """Competing CPU load: one busy process per core."""
    import os

    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for p in procs:
        p.kill()
        p.wait()


async def test_ticks_from_chaosgarden_are_monotone_and_never_skip_under_load(garden, garden_dirs, hogs):
    _data, run = garden_dirs
    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sub.connect(endpoints.ipc(run, endpoints.GARDEN_EVENTS))
    events = Subscriber(sub, ["beat."])
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoints.ipc(run, endpoints.GARDEN_COMMANDS))
    from appliance.proto.channel import Channel

    channel = Channel(dealer, name="test")
    runner = asyncio.ensure_future(channel.run())
    ticks = []

    async def listen():
        while True:
            event, _ = await events.receive()
            ticks.append(event.body.value)

    listener = asyncio.ensure_future(listen())
    try:
        await asyncio.sleep(0.3)
        await channel.request("transportCommand", {"tempo": 300.0}, timeout=10, retries=0)
        played = (await channel.request("transportCommand", {"play": None}, timeout=10, retries=0)).value
        await until(lambda: len(ticks) >= 80)  # 4 s of quarter-beat ticks at 300 bpm
        await channel.request("transportCommand", {"stop": None}, timeout=10, retries=0)
    finally:
        listener.cancel()
        runner.cancel()
        ctx.destroy(linger=0)
    beats = [t["beat"] for t in ticks]
    assert beats[:80] == [i / 4 for i in range(80)]
    samples = [t["samplePosition"] for t in ticks[:80]]
    spb = RATE * 60 / 300
    assert all(abs(s - (played["samplePosition"] + b * spb)) <= 1 for s, b in zip(samples, beats))
    grid = [t["monotonicNs"] for t in ticks[:80]]
    assert grid == sorted(grid)
