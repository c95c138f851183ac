"""Typed tool results: every tool declares an outputSchema, and what each one returns validates against it.

Through the official MCP client over real HTTP against a real hootenanny and chaosgarden (and vibeweaver
for weave_*). The SDK client checks results against the schemas too; each call here is also checked
explicitly with jsonschema, so a failure names the tool, the schema path and the value.
"""

import asyncio
from typing import Any

import pytest
import zmq.asyncio
from jsonschema import Draft202012Validator
from mcp import Client

from appliance.proto.codec import pack_envelope
from appliance.proto.tool_messages import Ready
from appliance.services.agent.registry import Tool, ToolOutput, ToolRegistry
from appliance.services.agent.tools.capture import StreamList, StreamStatusArgs
from appliance.services.capture.stream_status import StreamStatus
from appliance.services.agent.worker_hub import WorkerHub
from appliance.services.service_error import ServiceError
from appliance.weave import tools as weave_tools
from appliance.weave.results import EvalResult, ResetResult
from tests.services.test_request_response import loop, session  # noqa: F401 - fixtures for TestRequestResponse
from tests.services.test_transport import wav_in_cas
from tests.support.alsa import write_asoundrc
from tests.support.mcp_client import mcp_session, mcp_url

TOKEN = "test-token-schemas-0123456789abcdef"
URI = "stream://schema/audio"
CHUNK = 4800
HANG_GUARD_S = 60

# Each tool and the test below that makes a representative call of it.
CAPTURE = {"device_list", "stream_create", "stream_update", "stream_start", "stream_status", "stream_slice", "stream_stop",
           "artifact_get", "artifact_list", "artifact_register", "stream_retention", "job_sample", "job_status",
           "cas_gc"}
SESSIONS = {"session_create", "session_play", "session_status", "session_list", "session_stop", "session_export"}
TRANSPORT = {"transport_status", "transport_tempo", "transport_play", "transport_pause", "transport_seek",
             "transport_stop", "timeline_schedule", "timeline_marker", "timeline_list", "timeline_remove",
             "timeline_audition"}
REQUEST_RESPONSE = {"session_request", "session_calibrate"}
WEAVE = {"weave_eval", "weave_session", "weave_reset", "weave_help"}
ANALYSIS = {"stream_analyze", "stream_activity", "stream_find"}


@pytest.fixture
def stack_env():
    return {"STUDIO_MCP_TOKEN": TOKEN}


class Checked:
    """Tool calls whose structured results must validate against the outputSchema tools/list declares."""

    def __init__(self, client: Client, schemas: dict[str, dict[str, Any]]) -> None:
        self.client, self.schemas, self.called = client, schemas, set()

    async def call(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        assert not result.is_error, f"{tool}: {result.content[0].text}"
        Draft202012Validator(self.schemas[tool]).validate(result.structured_content)
        self.called.add(tool)
        return result.structured_content


async def listed_schemas(client: Client) -> dict[str, dict[str, Any]]:
    return {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}


async def wait_for_weave(client: Client) -> dict[str, dict[str, Any]]:
    """The tools listed once vibeweaver has registered its own."""
    for _ in range(int(HANG_GUARD_S / 0.05)):
        schemas = await listed_schemas(client)
        if WEAVE <= set(schemas):
            return schemas
        await asyncio.sleep(0.05)
    raise AssertionError(f"vibeweaver never registered: {sorted(schemas)}")


async def test_every_tool_declares_an_output_schema(url, stack):
    stack.start("vibeweaver")
    async with mcp_session(url, TOKEN) as client:
        schemas = await wait_for_weave(client)
    assert set(schemas) == CAPTURE | SESSIONS | TRANSPORT | REQUEST_RESPONSE | WEAVE | ANALYSIS  # each is called below
    assert len(schemas) == 40
    for name, schema in schemas.items():
        assert schema is not None, f"{name} declares no outputSchema"
        assert schema["type"] == "object" and schema["properties"], name
        Draft202012Validator.check_schema(schema)


async def test_capture_session_and_job_results_match_their_schemas(url):
    async with mcp_session(url, TOKEN) as client:
        tools = Checked(client, await listed_schemas(client))
        devices = await tools.call("device_list")
        assert devices["devices"][0]["id"] == "sim"
        await tools.call("stream_create", uri=URI, device="sim", sample_format="s16", chunk_samples=CHUNK,
                         channel_names={"0": "left"})
        await tools.call("stream_update", uri=URI, channel_names={"1": "right"})
        await tools.call("stream_start", uri=URI)
        for _ in range(int(HANG_GUARD_S / 0.05)):
            if (await tools.call("stream_status", uri=URI))["streams"][0]["chunks_sealed"] >= 2:
                break
            await asyncio.sleep(0.05)
        wav = await tools.call("stream_slice", uri=URI, start={"sample": 0}, end={"sample": 2 * CHUNK})
        assert wav["sample_range"] == [0, 2 * CHUNK]
        measured = await tools.call("stream_analyze", uri=URI, start={"sample": 0}, end={"sample": 2 * CHUNK})
        assert measured["kind"] == "audio" and measured["sample_range"] == [0, 2 * CHUNK]
        for _ in range(int(HANG_GUARD_S / 0.05)):  # the activity index follows the seals
            found = await tools.call("stream_find", uri=URI, query="sound_starts", min_silence_s=0.1)
            if found["indexed_to_sample"] > 0:
                break
            await asyncio.sleep(0.05)
        await tools.call("stream_activity", uri=URI, start={"sample": 0}, picture=True)
        virtual = await tools.call("stream_slice", uri=URI, start={"sample": 0}, end={"sample": CHUNK},
                                   output="virtual")
        await tools.call("artifact_get", artifact_id=wav["artifact_id"])
        await tools.call("artifact_get", artifact_id=virtual["artifact_id"], materialize=True)
        await tools.call("artifact_register", content_hash=wav["content_hash"], mime="audio/wav", tags=["again"])
        await tools.call("stream_retention", uri=URI, keep_hours=1)
        await tools.call("cas_gc", dry_run=True)

        session = (await tools.call("session_create", streams=[URI], name="typed"))["session"]
        await tools.call("session_play", session=session)
        await asyncio.sleep(0.3)
        await tools.call("session_status", session=session)
        stopped = await tools.call("session_stop", session=session)
        assert stopped["segments"] and stopped["clock_snapshots"][URI]
        await tools.call("session_export", session=session, segment=1)
        await tools.call("session_list")
        await tools.call("artifact_get", artifact_id=stopped["artifact_id"])  # a container: no bytes, no URL
        await tools.call("artifact_list")
        await tools.call("stream_stop", uri=URI)

        job = await tools.call("job_sample", space="pattern", inference={"pulses": 3, "steps": 8})
        for _ in range(int(HANG_GUARD_S / 0.05)):
            if (status := await tools.call("job_status", job_id=job["job_id"]))["state"] in ("complete", "failed"):
                break
            await asyncio.sleep(0.05)
        assert status["state"] == "complete", status
        notes = await tools.call("stream_analyze", artifact_id=status["artifact_id"])  # the pattern's MIDI file
        assert notes["kind"] == "midi" and notes["midi"]["note_count"] > 0
    assert tools.called == CAPTURE | SESSIONS | ANALYSIS


async def test_transport_and_timeline_results_match_their_schemas(url, stack):
    async with mcp_session(url, TOKEN) as client:
        tools = Checked(client, await listed_schemas(client))
        wav = (await tools.call("artifact_register", content_hash=wav_in_cas(stack), mime="audio/wav"))["artifact_id"]
        await tools.call("transport_status")
        await tools.call("transport_tempo", bpm=200)
        await tools.call("transport_play")
        await tools.call("transport_pause")
        await tools.call("transport_seek", beat=4)
        await tools.call("transport_stop")
        region = await tools.call("timeline_schedule", artifact_id=wav, at=8, duration=2, gain=0.5)
        await tools.call("timeline_schedule", artifact_id=wav, at=4)  # duration null: all of it
        await tools.call("timeline_marker", name="verse", beat=6, metadata={"n": 1})
        listed = await tools.call("timeline_list")
        assert len(listed["regions"]) == 2 and listed["markers"]
        await tools.call("timeline_remove", region_id=region["region_id"])
        await tools.call("timeline_audition", artifact_id=wav, duration=0.05)
    assert tools.called == TRANSPORT | {"artifact_register"}


async def test_weave_results_match_their_schemas(url, stack):
    stack.start("vibeweaver")
    async with mcp_session(url, TOKEN) as client:
        tools = Checked(client, await wait_for_weave(client))
        assert (await tools.call("weave_eval", code="x = 20\nx + 22"))["result"] == "42"
        failed = await tools.call("weave_eval", code="1/0")  # a failing cell is a result, not a tool error
        assert failed["success"] is False and "ZeroDivisionError" in failed["error"]
        await tools.call("weave_eval", code="marker('drop', beat=32)\n@on_beat(4)\ndef bar():\n    pass")
        summary = await tools.call("weave_session", history=5)
        assert summary["rules"] and summary["markers"] and summary["history"]
        await tools.call("weave_help", topic="api")
        await tools.call("weave_reset")
    assert tools.called == WEAVE


class TestRequestResponse:
    """session_request and session_calibrate need the MIDI-to-audio loop of test_request_response."""

    @pytest.fixture
    def stack_env(self, short_tmp, loop):  # noqa: F811 - `loop` is the imported fixture
        home = short_tmp / "home"
        home.mkdir()
        return {"STUDIO_MCP_TOKEN": TOKEN, **write_asoundrc(home, loop[2].path)}

    async def test_request_results_match_their_schema(self, session, stack):  # noqa: F811
        async with mcp_session(mcp_url(stack.env["STUDIO_MCP_PORT"]), TOKEN) as client:
            tools = Checked(client, await listed_schemas(client))
            answered = await tools.call("session_request", session=session, tail_seconds=0.3, events=[
                {"at": 0.1, "message": [0x90, 60, 100]}, {"at": 0.2, "message": [0x80, 60, 0]}])
            assert answered["round_trip_latency_seconds"] is not None
            await tools.call("session_calibrate", session=session)
        assert tools.called == REQUEST_RESPONSE


async def test_a_result_that_is_not_its_tools_model_is_refused():
    registry = ToolRegistry()

    async def one_status(_args: Any) -> ToolOutput:
        return ToolOutput(StreamStatus(uri=URI, state="recording", head_sample=0, chunks_sealed=0, bytes=0, xruns=0,
                                       device="sim", device_connected=True, last_error=""), "one status")

    registry.add(Tool("stream_status", "drifted", StreamStatusArgs, StreamList, one_status))
    with pytest.raises(ServiceError, match="stream_status: returned a StreamStatus, not its outputSchema's StreamList"):
        await registry.call("stream_status", {})


def test_a_weave_result_that_is_not_its_tools_model_is_a_tool_error():
    reset = ResetResult(globals_cleared=True, session_cleared=False, session="default", rules=0)
    reply = weave_tools._checked(weave_tools.TOOLS["weave_help"], reset, "help")
    assert reply.is_error and "weave_help: returned a ResetResult, not its outputSchema's HelpResult" in reply.text


async def test_a_worker_from_before_output_schemas_declares_none(config):
    """An older vibeweaver's READY has no outputSchemaJson: its tools are listed without an outputSchema."""
    ctx = zmq.asyncio.Context()
    config.runtime_dir.mkdir(parents=True)
    hub = WorkerHub(ctx, config, ToolRegistry(), on_device=lambda _event: asyncio.sleep(0))
    try:
        old = {"name": "weave_eval", "description": "old", "inputSchemaJson": "{}", "annotationsJson": ""}
        hub._register(b"old-peer", pack_envelope("ready", {"service": "vibeweaver", "tools": [old], "pid": 1}))
        assert hub.remote["weave_eval"].output_schema is None
        hub._register(b"new-peer", pack_envelope(Ready.KIND, Ready(service="vibeweaver", pid=2,
                                                                 tools=weave_tools.definitions())))
        assert hub.remote["weave_eval"].output_schema == EvalResult.model_json_schema()
    finally:
        ctx.destroy(linger=0)
