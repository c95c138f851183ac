from tests.weave.conftest import synced


async def test_eval_persists(weave):
    assert (await weave.eval("x = 41"))["success"]
    out = await weave.eval("x + 1")
    assert out["result"] == "42"
    await synced(weave)
