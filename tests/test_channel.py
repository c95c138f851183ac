"""Request/reply over real ZMQ ipc sockets, in one process and across processes."""

import asyncio
import subprocess
import sys

import pytest
import zmq
import zmq.asyncio

from appliance.proto.channel import Channel, Incoming, PeerUnavailable, RequestError
from appliance.proto.codec import Body
from appliance.proto.endpoints import ipc, prepare_runtime_dir
from appliance.proto.framing import PROTOCOL, Command


@pytest.fixture
async def pair(short_tmp):
    """A ROUTER server and a DEALER client on an ipc socket, both running."""
    ctx = zmq.asyncio.Context()
    endpoint = ipc(prepare_runtime_dir(short_tmp / "run"), "t.sock")
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind(endpoint)
    dealer.connect(endpoint)
    calls: list[Incoming] = []
    controls: list[Incoming] = []

    async def handle(incoming: Incoming) -> Body:
        calls.append(incoming)
        if incoming.body.kind == "streamStop":
            return Body("ack")
        if incoming.body.kind == "streamStatusRequest":
            await asyncio.sleep(0.3)  # slower than the client's per-attempt timeout
            return Body("streamStatusReply", [])
        if incoming.body.kind == "toolCall":
            raise ValueError("handler bug")
        raise RequestError("badRequest", f"unsupported {incoming.body.kind}")

    server = Channel(router, name="server", handler=handle, on_control=controls.append)
    client = Channel(dealer, name="client")
    tasks = [asyncio.create_task(server.run()), asyncio.create_task(client.run())]
    yield server, client, calls, controls, dealer
    for task in tasks:
        task.cancel()
    ctx.destroy(linger=0)


async def test_request_reply(pair):
    server, client, calls, _, _ = pair
    reply = await client.request("streamStop", {"uri": "stream://a/b"})
    assert reply == Body("ack")
    assert calls[0].body.value == {"uri": "stream://a/b"}


async def test_handler_error_comes_back_as_request_error(pair):
    _, client, _, _, _ = pair
    with pytest.raises(RequestError) as info:
        await client.request("streamStart", {"uri": "x"})
    assert info.value.code == "badRequest"
    assert "unsupported streamStart" in info.value.message


async def test_handler_crash_is_an_internal_error_and_server_survives(pair):
    _, client, _, _, _ = pair
    with pytest.raises(RequestError) as info:
        await client.request("toolCall", {"name": "x", "argumentsJson": "{}"})
    assert info.value.code == "internal" and "handler bug" in info.value.message
    assert await client.request("streamStop", {"uri": "u"}) == Body("ack")


async def test_retry_reuses_the_id_and_handler_runs_once(pair):
    _, client, calls, _, _ = pair
    reply = await client.request("streamStatusRequest", timeout=0.1, retries=5)
    assert reply == Body("streamStatusReply", [])
    assert len(calls) == 1  # retries arrived while running, then hit the reply cache


async def test_concurrent_requests_are_matched_by_id(pair):
    _, client, _, _, _ = pair
    replies = await asyncio.gather(*(client.request("streamStop", {"uri": f"u{i}"}) for i in range(50)))
    assert all(r == Body("ack") for r in replies)


async def test_router_to_unknown_peer_fails_fast(pair):
    server, _, _, _, _ = pair
    with pytest.raises(PeerUnavailable, match="not connected"):
        await server.request("ack", peer=b"\x00nobody")


async def test_server_can_request_from_its_client(pair):
    server, client, _, controls, dealer = pair

    async def worker(incoming: Incoming) -> Body:
        return Body("toolResult", {"structuredJson": "{}", "text": "2", "isError": False})

    client.handler = worker
    await client.send_control(Command.READY)
    for _ in range(100):
        if controls:
            break
        await asyncio.sleep(0.01)
    peer = controls[0].peer
    reply = await server.request("toolCall", {"name": "weave_eval", "argumentsJson": "{}"}, peer=peer)
    assert reply.value["text"] == "2"


async def test_malformed_frames_are_dropped_and_counted(pair):
    server, client, _, _, dealer = pair
    await dealer.send_multipart([b"garbage"])
    await dealer.send_multipart([PROTOCOL, b"\x00"])
    await dealer.send_multipart([PROTOCOL, b"\x00\x02", b"\x00\x01", bytes(16), b"", b"", b"\xff" * 9])
    reply = await client.request("streamStop", {"uri": "u"})  # still serving
    assert reply == Body("ack")
    assert server.drops.total == 3
    assert server.drops.by_reason["body"] == 1  # counted, and answered with badRequest


async def test_no_reply_raises_peer_unavailable(short_tmp):
    ctx = zmq.asyncio.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(ipc(short_tmp, "nobody.sock"))
    client = Channel(dealer, name="client")
    task = asyncio.create_task(client.run())
    with pytest.raises(PeerUnavailable, match="after 3 attempts"):
        await client.request("ack", timeout=0.05, retries=2)
    task.cancel()
    ctx.destroy(linger=0)


async def test_lazy_pirate_reaches_a_server_that_starts_late(short_tmp):
    """The request goes out before the server process exists; a retry reaches it."""
    endpoint = ipc(short_tmp, "late.sock")
    count = short_tmp / "count"
    ctx = zmq.asyncio.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    client = Channel(dealer, name="client")
    task = asyncio.create_task(client.run())
    pending = asyncio.create_task(client.request("streamStop", {"uri": "u"}, timeout=0.5, retries=20))
    await asyncio.sleep(0.3)
    server = subprocess.Popen([sys.executable, "-m", "tests.support.echo_responder", endpoint, str(count)],
                              stdout=subprocess.PIPE)
    try:
        assert (await pending) == Body("ack")
        assert count.read_text() == "1"
    finally:
        server.kill()
        server.wait()
        task.cancel()
        ctx.destroy(linger=0)


async def test_server_killed_mid_call_fails_the_call_cleanly(short_tmp):
    endpoint = ipc(short_tmp, "dies.sock")
    server = subprocess.Popen([sys.executable, "-m", "tests.support.echo_responder", endpoint, str(short_tmp / "c")],
                              stdout=subprocess.PIPE)
    assert server.stdout.readline().strip() == b"ready"
    ctx = zmq.asyncio.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoint)
    client = Channel(dealer, name="client")
    task = asyncio.create_task(client.run())
    try:
        assert await client.request("streamStop", {"uri": "u"}) == Body("ack")
        server.kill()
        server.wait()
        with pytest.raises(PeerUnavailable):
            await client.request("streamStop", {"uri": "u"}, timeout=0.1, retries=1)
    finally:
        task.cancel()
        ctx.destroy(linger=0)


def test_runtime_dir_is_private(short_tmp):
    run = prepare_runtime_dir(short_tmp / "run")
    assert run.stat().st_mode & 0o777 == 0o750


def test_too_long_socket_path_is_explained(tmp_path):
    with pytest.raises(ValueError, match="unix sockets allow 107"):
        ipc(tmp_path / ("x" * 120), "a.sock")


async def test_a_flood_of_frames_leaves_the_loop_to_other_tasks(short_tmp):
    """Found by the fuzz scenario: pyzmq hands back a queued message without yielding, so `run` kept the loop
    until the socket was empty; chaosgarden's pump stopped and hootenanny declared it gone."""
    flood = 3000
    ctx = zmq.asyncio.Context()
    endpoint = ipc(short_tmp, "flood.sock")
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.setsockopt(zmq.RCVHWM, 0)
    router.bind(endpoint)
    dealer.setsockopt(zmq.SNDHWM, 0)
    dealer.connect(endpoint)
    server = Channel(router, name="server")
    for _ in range(flood):
        await dealer.send_multipart([b"garbage"])
    await asyncio.sleep(0.3)  # all of it waiting at the ROUTER
    seen = []

    async def another_task():
        while server.drops.total < flood:
            seen.append(server.drops.total)
            await asyncio.sleep(0)

    task = asyncio.create_task(server.run())
    try:
        await asyncio.wait_for(another_task(), 10)
    finally:
        task.cancel()
        ctx.destroy(linger=0)
    assert len([n for n in seen if 0 < n < flood]) > flood // 2


async def test_a_kind_the_handler_does_not_serve_is_refused_unread(short_tmp):
    ctx = zmq.asyncio.Context()
    endpoint = ipc(short_tmp, "serves.sock")
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    router.bind(endpoint)
    dealer.connect(endpoint)
    calls = []

    async def handle(incoming: Incoming) -> Body:
        calls.append(incoming.body.kind)
        return Body("ack")

    server = Channel(router, name="server", handler=handle, serves=("streamStop",))
    client = Channel(dealer, name="client")
    tasks = [asyncio.create_task(server.run()), asyncio.create_task(client.run())]
    try:
        assert await client.request("streamStop", {"uri": "u"}) == Body("ack")
        with pytest.raises(RequestError) as info:
            await client.request("streamStatusReply", [])
        assert info.value.code == "badRequest" and "streamStatusReply is not served here" in info.value.message
        assert calls == ["streamStop"] and server.drops.by_reason["body"] == 1
    finally:
        for task in tasks:
            task.cancel()
        ctx.destroy(linger=0)
