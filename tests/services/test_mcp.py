"""MCP over real HTTP with the SDK's own client: the lock, the tools, their errors, a worker that dies."""

import asyncio
import json
import signal
import socket

import httpx2
import pytest

from appliance.services.agent.host_check import host_name
from tests.support.mcp_client import mcp_session, mcp_url

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def stack_env():
    return {"STUDIO_MCP_TOKEN": TOKEN, "STUDIO_MCP_ALLOWED_HOSTS": "studio-extra.lan"}


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize("auth", [None, "Bearer wrong-token-0000000000", "Basic dXNlcjpwYXNz", f"Bearer {TOKEN}x"])
def test_no_or_wrong_token_is_401(url, auth):
    headers = {**ACCEPT, **({"Authorization": auth} if auth else {})}
    response = httpx2.post(url, json=INIT, headers=headers)
    assert response.status_code == 401
    assert TOKEN not in response.text


def test_right_token_is_accepted(url):
    response = httpx2.post(url, json=INIT, headers={**ACCEPT, "Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8080", "127.0.0.1.evil.example.com",
                                  "[::2]:80", ""])
def test_foreign_host_is_refused_naming_the_names_allowed(url, host):
    headers = {**ACCEPT, "Authorization": f"Bearer {TOKEN}", "Host": host}
    response = httpx2.post(url, json=INIT, headers=headers)
    assert response.status_code == 421
    assert f"Host {host!r} is not this box" in response.text and "localhost" in response.text
    assert "[mcp] allowed_hosts" in response.text


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:1234", "127.0.0.1", "[::1]:8080",
                                  f"{socket.gethostname()}.local:9", "studio-extra.lan:80"])
def test_the_box_names_and_configured_extras_are_accepted(url, host):
    headers = {**ACCEPT, "Authorization": f"Bearer {TOKEN}", "Host": host}
    assert httpx2.post(url, json=INIT, headers=headers).status_code == 200


@pytest.mark.parametrize(("origin", "status"), [
    ("http://evil.example.com", 403), ("null", 403), ("file://localhost", 403), ("http://localhost:3000", 200),
    ("https://127.0.0.1", 200)])
def test_origin_must_be_the_box(url, origin, status):
    headers = {**ACCEPT, "Authorization": f"Bearer {TOKEN}", "Origin": origin}
    response = httpx2.post(url, json=INIT, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert f"Origin {origin!r} is not this box" in response.text


def test_host_check_guards_the_other_routes_too(url):
    response = httpx2.get(url.replace("/mcp", "/healthz"), headers={"Host": "evil.example.com"})
    assert response.status_code == 421


def test_an_address_the_box_gains_after_start_is_accepted(stack):
    """The address a request arrives on is the box's, whenever it got it (DHCP after boot, Wi-Fi later).

    Bound to every address, hootenanny is reached on 127.0.0.2, an address no list made at its start
    names; a Host naming another address is still refused on that connection.
    """
    stack.env["STUDIO_MCP_BIND"] = "0.0.0.0"
    stack.start("chaosgarden")
    stack.start("hootenanny")
    port = stack.env["STUDIO_MCP_PORT"]
    mcp_url(port)
    headers = {**ACCEPT, "Authorization": f"Bearer {TOKEN}"}
    arrived = httpx2.post(f"http://127.0.0.2:{port}/mcp", json=INIT, headers=headers)
    assert arrived.status_code == 200
    elsewhere = httpx2.post(f"http://127.0.0.2:{port}/mcp", json=INIT, headers={**headers, "Host": "127.0.0.3"})
    assert elsewhere.status_code == 421


@pytest.mark.parametrize(("authority", "name"), [
    ("Studio-1.local:8080", "studio-1.local"), ("[FE80::1]:80", "fe80::1"), ("fe80::1", "fe80::1"),
    ("10.0.0.5", "10.0.0.5"), ("host:notaport", "host:notaport"), ("", "")])
def test_host_name_takes_the_name_out_of_an_authority(authority, name):
    assert host_name(authority) == name


def test_healthz_says_nothing_private(url, stack):
    body = httpx2.get(url.replace("/mcp", "/healthz")).text
    assert TOKEN not in body and str(stack.data_dir) not in body


def test_artifact_download_needs_the_token(url):
    response = httpx2.get(url.replace("/mcp", "/artifacts/art-0000"))
    assert response.status_code == 401
    response = httpx2.get(url.replace("/mcp", "/artifacts/art-0000"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and "no artifact" in response.text


async def test_tools_have_schemas_and_annotations(url):
    async with mcp_session(url, TOKEN) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("stream_create", "stream_start", "stream_stop", "stream_status", "artifact_get",
                 "artifact_list", "device_list"):
        assert name in tools
        assert tools[name].input_schema["type"] == "object"
    assert tools["stream_status"].annotations.read_only_hint is True
    assert tools["stream_create"].input_schema["properties"]["sample_format"]


@pytest.mark.parametrize(("tool", "arguments", "expected"), [
    ("stream_create", {"uri": "stream://a/b", "device": "sim", "sample_format": "u8"}, "sample_format"),
    ("stream_create", {"uri": "stream://a/b", "device": "sim", "channels": 0}, "channels"),
    ("stream_create", {"uri": "stream://a/b"}, "device"),
    ("stream_create", {"uri": "nope", "device": "sim"}, "uri"),
    ("stream_start", {"uri": "stream://never/made"}, "no stream"),
    ("stream_stop", {"uri": "stream://never/made"}, "no stream"),
    ("stream_status", {"uri": 5}, "uri"),
    ("artifact_get", {"artifact_id": "art-missing"}, "no artifact"),
    ("artifact_list", {"limit": 0}, "limit"),
    ("device_list", {"extra": 1}, "extra"),
])
async def test_bad_arguments_are_tool_errors_naming_the_field(url, tool, arguments, expected):
    async with mcp_session(url, TOKEN) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text
    assert expected in text
    assert "Error executing tool" not in text


async def test_record_through_mcp(url):
    async with mcp_session(url, TOKEN) as client:
        created = await client.call_tool("stream_create", {"uri": "stream://eurorack/main", "device": "sim",
                                                           "chunk_samples": 4800})
        assert not created.is_error, created.content
        assert (await client.call_tool("stream_start", {"uri": "stream://eurorack/main"})).structured_content[
            "state"] == "recording"
        for _ in range(200):
            status = (await client.call_tool("stream_status", {"uri": "stream://eurorack/main"})).structured_content
            if status["streams"][0]["chunks_sealed"] >= 2:
                break
            await asyncio.sleep(0.05)
        stopped = await client.call_tool("stream_stop", {"uri": "stream://eurorack/main"})
        assert stopped.structured_content["state"] == "stopped"
        assert json.loads(stopped.content[0].text.split()[-1]) == stopped.structured_content["head_sample"]


async def test_worker_tools_and_a_worker_that_dies_mid_call(url, stack):
    stack.start("vibeweaver")
    async with mcp_session(url, TOKEN) as client:
        for _ in range(200):
            if "weave_eval" in {t.name for t in (await client.list_tools()).tools}:
                break
            await asyncio.sleep(0.05)
        ok = await client.call_tool("weave_eval", {"code": "x = 20\nx + 22"})
        assert ok.structured_content["result"] == "42"
        call = asyncio.ensure_future(client.call_tool("weave_eval", {"code": "import time\ntime.sleep(20)"}))
        await asyncio.sleep(0.5)
        stack.kill("vibeweaver", signal.SIGKILL)
        result = await asyncio.wait_for(call, 15)  # fails fast: heartbeats stop, the call is failed
        assert result.is_error and "unavailable" in result.content[0].text
        again = await client.call_tool("weave_eval", {"code": "1"})
        assert again.is_error and "restarting" in again.content[0].text
        stack.start("vibeweaver")
        for _ in range(200):
            back = await client.call_tool("weave_eval", {"code": "1 + 1"})
            if not back.is_error:
                break
            await asyncio.sleep(0.05)
        assert back.structured_content["result"] == "2"
