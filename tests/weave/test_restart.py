"""Rules persist and come back after a real process restart (the process is killed, not stopped)."""

import asyncio
import os
import signal
import subprocess
import sys

from tests.weave.conftest import synced
from tests.weave.hootenanny_peer import HootenannyPeer
from tests.weave.test_rules_live import auditions, play_until


def spawn(config):
    env = {**os.environ, "STUDIO_DATA_DIR": str(config.data_dir), "STUDIO_RUN_DIR": str(config.runtime_dir),
           "STUDIO_WIRE_HEARTBEAT_SECONDS": "0.2"}
    return subprocess.Popen([sys.executable, "-m", "appliance.weave"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


async def test_rules_persist_and_restore_across_a_process_restart(weave_config):
    peer = HootenannyPeer(weave_config.runtime_dir)
    await peer.start()
    first = spawn(weave_config)
    second = None
    try:
        await peer.wait_ready()
        await synced(peer)
        out = await peer.eval("session('restart-me', vibe='steady')\nsteps = 0\n"
                              "@on_beat(2)\ndef keep_time(event):\n    audition(f'tick-{int(event.beat)}')")
        assert out["success"], out["error"]
        await play_until(peer, lambda: auditions(peer, "tick-2") == 1)

        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        peer.calls.clear()
        second = spawn(weave_config)
        await peer.wait_ready(2)
        await synced(peer)
        resumed = (await peer.call("weave_session"))["structured"]
        assert resumed["session"]["name"] == "restart-me" and resumed["vibe"] == "steady"
        assert [r["name"] for r in resumed["rules"]] == ["python:keep_time:beat:2.0:0.0"]
        assert "NameError" in (await peer.eval("steps"))["error"]  # globals are not persisted
        assert (await peer.eval("callable(keep_time)"))["result"] == "True"  # the rule's function is back
        await play_until(peer, lambda: auditions(peer, "tick-8") == 1, start=4.0)
        assert (await peer.eval("rules()[0]['fired_count'] >= 3"))["result"] == "True"

        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(second.wait), 20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        await peer.close()


async def test_reregisters_when_hootenanny_restarts(weave_config):
    """hootenanny goes away and comes back: vibeweaver registers again and serves calls."""
    peer = HootenannyPeer(weave_config.runtime_dir)
    await peer.start()
    process = spawn(weave_config)
    try:
        await peer.wait_ready()
        assert (await peer.eval("x = 5\nx"))["result"] == "5"
        await peer.close()
        peer = HootenannyPeer(weave_config.runtime_dir)
        await peer.start()
        await peer.wait_ready()  # after silence (3 x 0.2 s) vibeweaver re-sends READY
        assert (await peer.eval("x * 2"))["result"] == "10"
        assert peer.heartbeats > 0
    finally:
        process.kill()
        process.wait()
        await peer.close()
