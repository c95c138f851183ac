"""The four tools as an agent reaches them through hootenanny: real sockets, real process code."""

import io
import json

import pytest
from PIL import Image

from appliance.proto.framing import Command
from appliance.weave.help_topics import EXAMPLES
from tests.weave.conftest import synced


async def test_ready_carries_the_tools_with_typed_schemas(weave):
    ready = weave.ready[0]
    assert ready["service"] == "vibeweaver" and ready["pid"] > 0
    tools = {t["name"]: t for t in ready["tools"]}
    assert set(tools) == {"weave_eval", "weave_session", "weave_reset", "weave_help"}
    schema = json.loads(tools["weave_eval"]["inputSchemaJson"])
    assert schema["required"] == ["code"] and schema["properties"]["code"]["type"] == "string"
    assert schema["additionalProperties"] is False
    assert json.loads(tools["weave_help"]["inputSchemaJson"])["properties"]["topic"]["enum"] == [
        "overview", "api", "session", "scheduler", "examples"]
    assert json.loads(tools["weave_session"]["annotationsJson"])["readOnlyHint"] is True


async def test_eval_executes_python_with_persistent_state(weave):
    first = await weave.eval("notes = [60, 64]\nnotes.append(67)")
    assert first == {"result": None, "stdout": "", "stderr": "", "success": True, "error": None,
                     "execution_count": 1, "picture": None, "picture_refused": None}
    second = await weave.eval("print('chord', notes)\nsum(notes)")
    assert second["result"] == "191" and second["stdout"] == "chord [60, 64, 67]\n"
    assert second["execution_count"] == 2


async def test_a_cell_ending_in_a_picture_returns_it_as_png_beside_the_result(weave):
    reply = await weave.call("weave_eval", {"code": "from PIL import Image\nImage.new('RGB', (64, 32), 'red')"})
    (png,) = reply["images"]
    assert Image.open(io.BytesIO(png)).size == (64, 32)
    structured = reply["structured"]
    assert structured["picture"] == {"width": 64, "height": 32, "bytes": len(png), "title": ""}
    assert structured["result"].startswith("<PIL.Image.Image image mode=RGB size=64x32")
    assert (await weave.call("weave_eval", {"code": "42"}))["images"] == []


async def test_a_picture_too_big_is_refused_and_the_cell_still_succeeds(weave):
    reply = await weave.call("weave_eval", {"code": "from PIL import Image\nhuge = Image.new('L', (5000, 5000))\nhuge"})
    assert reply["images"] == [] and reply["isError"] is False
    structured = reply["structured"]
    assert structured["success"] and structured["picture"] is None
    assert "5000x5000 px; weave_eval returns pictures up to 4000x4000 px" in structured["picture_refused"]
    assert "picture not returned: the cell's PIL image is 5000x5000 px" in reply["text"]
    assert (await weave.eval("huge.size"))["result"] == "(5000, 5000)"  # the cell ran; its globals are kept


async def test_analyze_hands_the_cell_a_picture_it_can_show(weave):
    code = ("a = analyze('stream://sim/audio', {'seconds_ago': 2}, picture='spectrogram', width=640, height=320)\n"
            "a['picture']")
    reply = await weave.call("weave_eval", {"code": code})
    assert weave.calls[-1] == ("stream_analyze", {"uri": "stream://sim/audio", "start": {"seconds_ago": 2},
                                                  "end": "now", "picture": "spectrogram", "width": 640,
                                                  "height": 320})
    (png,) = reply["images"]
    assert Image.open(io.BytesIO(png)).size == (640, 320)
    assert reply["structured"]["picture"]["title"] == "spectrogram"
    assert reply["structured"]["result"] == f"<Picture spectrogram 640x320 PNG, {len(png)} bytes>"
    history = (await weave.call("weave_session", {"history": 1}))["structured"]["history"]
    assert history[-1]["result"] == reply["structured"]["result"]  # history keeps the repr, not the PNG


async def test_eval_reports_errors_as_results(weave):
    reply = await weave.call("weave_eval", {"code": "1/0"})
    assert reply["isError"] is False
    assert reply["structured"]["success"] is False
    assert "ZeroDivisionError" in reply["text"] and "<cell 1>" in reply["structured"]["error"]


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("weave_eval", {}, "weave_eval: code: Field required (allowed: Python source"),
    ("weave_eval", {"code": 5}, "code: Input should be a valid string"),
    ("weave_eval", {"code": "1", "timeout": 3}, "timeout: unknown argument; allowed arguments: code"),
    ("weave_help", {"topic": "everything"},
     "topic: Input should be 'overview', 'api', 'session', 'scheduler' or 'examples'"),
    ("weave_session", {"history": 9999}, "history: Input should be less than or equal to 500"),
    ("weave_reset", {"clear_session": "maybe"}, "clear_session: Input should be a valid boolean"),
])
async def test_bad_arguments_name_the_field_and_what_is_allowed(weave, tool, arguments, expected):
    reply = await weave.call(tool, arguments)
    assert reply["isError"] is True
    assert expected in reply["text"]
    assert (await weave.eval("'still serving'"))["result"] == "'still serving'"


async def test_malformed_and_unknown_calls(weave):
    reply = await weave.channel.request("toolCall", {"name": "weave_eval", "argumentsJson": "{nope"},
                                        peer=weave.worker, retries=0)
    assert reply.value["isError"] and "not valid JSON" in reply.value["text"]
    reply = await weave.channel.request("toolCall", {"name": "weave_eval", "argumentsJson": "[1]"},
                                        peer=weave.worker, retries=0)
    assert reply.value["isError"] and "must be a JSON object" in reply.value["text"]
    unknown = await weave.call("weave_dance", {})
    assert unknown["isError"] and "vibeweaver serves weave_eval" in unknown["text"]


async def test_help_topics(weave):
    for topic in ("overview", "api", "session", "scheduler", "examples"):
        reply = await weave.call("weave_help", {"topic": topic})
        assert not reply["isError"] and len(reply["structured"]["text"]) > 200
    assert "session(name" in (await weave.call("weave_help", {"topic": "api"}))["text"]
    default = await weave.call("weave_help")
    assert default["structured"]["topic"] == "overview"


async def test_help_examples_actually_run(weave):
    await synced(weave)
    for example in EXAMPLES:
        out = await weave.eval(example.code)
        assert out["success"], f"{example.title}: {out['error']}"


async def test_session_summary_for_resuming(weave):
    await weave.eval("session('night', vibe='slow and warm')\ntempo(96)\nmarker('drop', beat=32)")
    await weave.eval("@on_beat(4)\ndef bar():\n    pass")
    summary = (await weave.call("weave_session", {"history": 5}))["structured"]
    assert summary["session"]["name"] == "night" and summary["vibe"] == "slow and warm"
    assert [r["name"] for r in summary["rules"]] == ["python:bar:beat:4.0:0.0"]
    assert "source" not in summary["rules"][0]["action"]
    assert summary["markers"] == [{"name": "drop", "beat": 32.0, "metadata": {}}]
    assert [h["code"] for h in summary["history"]][-1].startswith("@on_beat(4)")
    assert set(summary) >= {"tempo", "transport", "beat", "history", "jobs", "recent_artifacts"}
    assert ("transport_tempo", {"bpm": 96.0}) in weave.calls


async def test_session_load_false_refuses_an_existing_name(weave):
    await weave.eval("session('a')")
    out = await weave.eval("session('a', load=False)")
    assert not out["success"] and "already exists" in out["error"]


async def test_reset_clears_globals_keeps_api_and_optionally_session(weave):
    await weave.eval("mine = 1\n@on_marker('m')\ndef at_m():\n    pass")
    reply = await weave.call("weave_reset", {})
    assert reply["structured"]["rules"] == 1
    assert "NameError" in (await weave.eval("mine"))["error"]
    assert (await weave.eval("callable(tempo) and callable(on_beat), type(beat).__name__"))["result"] == \
        "(True, 'Beat')"
    assert (await weave.eval("callable(at_m)"))["result"] == "True"  # the rule's function was re-created
    await weave.call("weave_reset", {"clear_session": True})
    assert (await weave.eval("rules()"))["result"] == "[]"


async def test_disconnect_from_hootenanny_makes_vibeweaver_register_again(weave):
    await weave.channel.send_control(Command.DISCONNECT, peer=weave.worker)
    await weave.wait_ready(2)
    assert weave.ready[1]["tools"] == weave.ready[0]["tools"]
    assert (await weave.eval("'served'"))["result"] == "'served'"


@pytest.mark.parametrize("cell_timeout", ["0.3"])
async def test_endless_loop_is_interrupted_through_the_tool_and_globals_survive(weave, cell_timeout):
    await weave.eval("tune = 'kept'")
    out = await weave.eval("while True:\n    pass")
    assert not out["success"] and out["error"].startswith("Interrupted: cell 2 ran longer than 0.3 s")
    assert (await weave.eval("tune"))["result"] == "'kept'"
