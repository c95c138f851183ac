"""Ableton Link tempo: a real chaosgarden following or leading a Link peer in this process; loud when unavailable."""

import asyncio
import logging
import sys

import pytest

from appliance.config import load_config
from appliance.proto.transport_messages import TransportCommand
from appliance.rt.beat_clock import SampleClock
from appliance.rt.timekeeper import Timekeeper
from tests.support.garden import HANG_GUARD_S, until


async def status(control):
    return (await control.request("transportCommand", {"status": None}, timeout=10, retries=0)).value


async def status_until(control, predicate):
    """The transport status once `predicate` holds for it (a hang guard bounds the wait)."""
    async with asyncio.timeout(HANG_GUARD_S):
        while not predicate(state := await status(control)):
            await asyncio.sleep(0.02)
    return state


@pytest.fixture
async def peer():
    aalink = pytest.importorskip("aalink", reason="the 'link' extra (aalink) is not installed")
    link = aalink.Link(120.0)
    link.enabled = True
    yield link
    link.enabled = False


async def test_link_asked_for_without_the_package_is_off_and_says_so(short_tmp, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "aalink", None)  # import aalink raises ImportError
    config = load_config(files=(), environ={"STUDIO_DATA_DIR": str(short_tmp / "data"), "STUDIO_RT_LINK": "follow"})
    keeper = Timekeeper(config, SampleClock(config.capture.sample_rate))
    with caplog.at_level(logging.ERROR):
        await keeper.start()
    try:
        # the clock works on without Link
        state = (await keeper.transport_command(TransportCommand(verb="tempo", argument=97.0))).value
        assert state.tempo_bpm == 97.0
        link = state.link
        assert link.mode == "follow" and link.peers == 0
        assert "aalink" in link.error and "studio-appliance[link]" in link.error and "Link is off" in link.error
        assert any(r.getMessage() == link.error for r in caplog.records)
    finally:
        keeper.stop()


@pytest.mark.parametrize("garden_env", [{"STUDIO_RT_LINK": "follow"}])
async def test_following_takes_the_session_tempo_and_gives_it_the_box_tempo(peer, control):
    joined = await status_until(control, lambda s: s["link"]["peers"] >= 1)
    assert joined["link"]["mode"] == "follow" and joined["link"]["error"] == ""
    peer.tempo = 133.0
    followed = await status_until(control, lambda s: abs(s["tempoBpm"] - 133.0) < 0.01)
    assert followed["state"] == "stopped"  # only the tempo is shared
    await control.request("transportCommand", {"tempo": 90.0}, timeout=10, retries=0)
    await until(lambda: abs(peer.tempo - 90.0) < 0.01)


@pytest.mark.parametrize("garden_env", [{"STUDIO_RT_LINK": "lead"}])
async def test_leading_puts_the_box_tempo_back(peer, control):
    await control.request("transportCommand", {"tempo": 100.0}, timeout=10, retries=0)
    await status_until(control, lambda s: s["link"]["peers"] >= 1)
    await until(lambda: abs(peer.tempo - 100.0) < 0.01)
    peer.tempo = 140.0
    await until(lambda: abs(peer.tempo - 100.0) < 0.01)
    assert (await status(control))["tempoBpm"] == 100.0
