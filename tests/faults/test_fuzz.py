"""Fuzz: garbage at every socket the box reads, and at its MCP endpoint. Nothing may crash or hang.

`studio up` runs on a private data directory with the simulated Eurorack
recording. Each ZMQ socket a process binds and reads gets 100 000 malformed
messages (`garbage_frames`): chaosgarden's command ROUTER and hootenanny's
worker ROUTER from raw DEALERs that never wait for a reply, the two PUB
sockets junk subscription traffic from raw XSUBs; then each socket file gets
raw bytes below ZMQ (bad greetings, absurd frame sizes). MCP gets tool
arguments drawn from each tool's inputSchema (valid-ish and wrong-typed) and
raw JSON-RPC garbage over HTTP.

After each batch: the same process ids (no crash), a tool call, chaosgarden's
own status and a vibeweaver tool answer within HANG_S (no hang), the sim
streams still record, and each process's RSS growth is reported. The longest
pause in the head broadcasts during a batch says how long the flooded
process's event loop was held.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import random
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.shared.exceptions import MCPError

from appliance.proto import endpoints
from tests.faults.box import Box, rss_kib
from tests.faults.garbage_frames import Garbage, Subscriptions, raw_connection
from tests.support.garden import wait_until
from tests.support.mcp_client import mcp_session

pytestmark = pytest.mark.faults

FRAMES_PER_SOCKET = 100_000
PEERS = 4  # DEALERs (or XSUBs) at once, each its own identity
RECONNECT_EVERY = 25_000  # then all of them go and new ones come: replies to peers that left, new identities
DRAIN_EVERY = 500  # replies read (and dropped) this often, so they never pile up in the test
RAW_CONNECTIONS = 300  # per socket file
HANG_S = 30.0  # a process that does not answer within this after a batch is hung
QUIET_S = 1.0  # no reply for this long: the ROUTER has worked through what it was sent
PROCESSES = ("chaosgarden", "hootenanny", "vibeweaver")
SIM_STREAMS = ("stream://sim/audio", "stream://sim/midi")
SIM_RATE = 48000
MIB = 1024


@pytest.fixture(scope="module")
def box() -> Iterator[Box]:
    with tempfile.TemporaryDirectory(prefix="fz-", dir="/tmp") as path:  # short: ipc paths are limited
        root = Path(path)
        box = Box(root, root / "unused.fifo", extra_env={"STUDIO_CAPTURE_SIM_STREAMS": "true"})
        try:
            box.start()
            wait_until(lambda: _sim_recording(box), timeout=60, interval=0.2)
            yield box
        finally:
            box.stop()


# -- did it survive ------------------------------------------------------------
@dataclass
class Before:
    pids: dict[str, int]
    rss: dict[str, int]
    sim: dict[str, dict[str, Any]]


def before(box: Box) -> Before:
    pids = {name: box.pid(name) for name in PROCESSES}
    return Before(pids, {name: rss_kib(pid) for name, pid in pids.items()}, _sim(box))


def _sim(box: Box) -> dict[str, dict[str, Any]]:
    return {s["uri"]: s for s in box.call("stream_status", timeout=HANG_S)["streams"] if s["uri"] in SIM_STREAMS}


def _sim_recording(box: Box) -> bool:
    try:
        sim = _sim(box)
    except Exception:
        return False
    return len(sim) == len(SIM_STREAMS) and all(s["state"] == "recording" for s in sim.values())


def _pid(box: Box, name: str) -> int | None:
    try:
        return box.pid(name)
    except LookupError:
        return None


def unanswered(box: Box) -> list[str]:
    """What did not answer within HANG_S: a tool of hootenanny's, chaosgarden itself, a tool of vibeweaver's."""
    asks: dict[str, Callable[[], Any]] = {
        "hootenanny (stream_status)": lambda: box.call("stream_status", timeout=HANG_S),
        "chaosgarden (streamStatusRequest)": lambda: box.link.garden_streams(timeout=HANG_S),
        "vibeweaver (weave_help)": lambda: box.call("weave_help", timeout=HANG_S),
    }
    failed = []
    for what, ask in asks.items():
        try:
            ask()
        except Exception as exc:
            failed.append(f"{what}: {type(exc).__name__}: {exc}")
    return failed


def sim_kept_recording(box: Box, was: Before, figure) -> bool:
    """Both sim streams still recording, and their heads still moving after the batch."""
    now = _sim(box)

    def moved() -> bool:
        later = _sim(box)
        return all(later[u]["head_sample"] > now[u]["head_sample"] for u in SIM_STREAMS)

    try:
        wait_until(moved, timeout=HANG_S, interval=0.2)
        moving = all(s["state"] == "recording" for s in now.values())
    except TimeoutError:
        moving = False
    audio = "stream://sim/audio"
    xruns = sum(now[u]["xruns"] - was.sim[u]["xruns"] for u in SIM_STREAMS)
    figure("sim streams still recording", "yes" if moving else "no", target="yes", ok=moving)
    recorded = now[audio]["head_sample"] - was.sim[audio]["head_sample"]
    figure("sim audio recorded meanwhile", f"{recorded / SIM_RATE:.1f} s")
    # Reported, not asserted. Even at SCHED_FIFO a capture thread needs the GIL for each period, and the
    # flooded control thread holding it runs at normal priority: on a loaded 2-core machine it can be
    # descheduled while holding it for longer than the sim card buffers (priority inversion through the GIL).
    figure("sim xruns during the batch", xruns, target="0", ok=xruns == 0)
    return moving


def check_survived(box: Box, was: Before, figure) -> None:
    crashed = [name for name in PROCESSES if _pid(box, name) != was.pids[name]]
    hung = unanswered(box)
    figure("crashes", len(crashed), target="0", ok=not crashed)
    figure("hangs", len(hung), target="0", ok=not hung)
    for name in PROCESSES:
        if name not in crashed:
            figure(f"RSS growth {name}", f"{(rss_kib(was.pids[name]) - was.rss[name]) / MIB:.1f} MiB")
    recording = sim_kept_recording(box, was, figure)
    assert not crashed, f"{crashed} died: {box.log()[-4000:]}"
    assert not hung, hung
    assert recording, _sim(box)


# -- the head broadcasts: how long a flooded loop was held -------------------------
class HeadPauses:
    """The longest pause between two `stream.head` broadcasts on a PUB socket, heard from a process of its own
    (the test process is busy sending: its own GIL would add pauses of its own)."""

    def __init__(self, box: Box, socket_name: str) -> None:
        ctx = multiprocessing.get_context("fork")
        self.address = endpoints.ipc(box.run_dir, socket_name)
        self.done = ctx.Event()
        self.result = ctx.Value("d", 0.0)
        self.process = ctx.Process(target=self._listen, daemon=True)

    def _listen(self) -> None:
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"stream.head")
        sub.connect(self.address)
        last = None
        while not self.done.is_set():
            if sub.poll(100):
                sub.recv_multipart()
                now = time.monotonic()
                if last is not None:
                    self.result.value = max(self.result.value, now - last)
                last = now
        ctx.destroy(linger=0)

    @property
    def longest(self) -> float:
        return self.result.value

    def __enter__(self) -> "HeadPauses":
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.process.join(5)


# -- the senders -------------------------------------------------------------------
@dataclass
class Sent:
    messages: int = 0
    replies: int = 0
    blocked: int = 0  # sends that waited HANG_S for room: the receiver stopped reading
    seconds: float = 0.0


def _peers(ctx: zmq.Context, address: str, kind: int, rng: random.Random) -> list[zmq.Socket]:
    peers = []
    for _ in range(PEERS):
        peer = ctx.socket(kind)
        peer.setsockopt(zmq.LINGER, 0)
        peer.setsockopt(zmq.SNDHWM, 10_000)
        peer.setsockopt(zmq.RCVHWM, 1_000 if kind == zmq.XSUB else 0)  # an XSUB's share of broadcasts may drop
        peer.setsockopt(zmq.SNDTIMEO, int(HANG_S * 1000))
        if kind == zmq.DEALER:
            peer.setsockopt(zmq.ROUTING_ID, b"fz" + rng.randbytes(rng.randrange(1, 30)))
        peer.connect(address)
        peers.append(peer)
    return peers


def _drain(peers: list[zmq.Socket]) -> int:
    got = 0
    for peer in peers:
        while True:
            try:
                peer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            got += 1
    return got


def blast(address: str, kind: int, make: Callable[[], list[bytes]], count: int, seed: int) -> Sent:
    """Send `count` messages from PEERS raw sockets without waiting for replies; read what comes back now and then."""
    rng = random.Random(seed)
    sent = Sent()
    started = time.monotonic()
    ctx = zmq.Context()
    try:
        peers = _peers(ctx, address, kind, rng)
        for n in range(count):
            if n and n % RECONNECT_EVERY == 0:
                sent.replies += _drain(peers)
                for peer in peers:
                    peer.close(linger=0)
                peers = _peers(ctx, address, kind, rng)
            try:
                peers[n % PEERS].send_multipart(make())
            except zmq.Again:
                sent.blocked += 1
            sent.messages += 1
            if n % DRAIN_EVERY == 0:
                sent.replies += _drain(peers)
        quiet_since = time.monotonic()
        while kind == zmq.DEALER and time.monotonic() - quiet_since < QUIET_S:  # an XSUB hears broadcasts forever
            got = _drain(peers)
            sent.replies += got
            if got:
                quiet_since = time.monotonic()
            time.sleep(0.01)
    finally:
        ctx.destroy(linger=0)
    sent.seconds = time.monotonic() - started
    return sent


def raw_bytes(path: Path, socket_type: bytes, garbage: Garbage, count: int, seed: int) -> Counter[str]:
    """`count` connections to the socket file below ZMQ, each sending one kind of garbage and closing."""
    rng = random.Random(seed)
    kinds: Counter[str] = Counter()
    for _ in range(count):
        what, data = raw_connection(rng, socket_type, garbage.next())
        kinds[what] += 1
        with socket.socket(socket.AF_UNIX) as peer:
            peer.settimeout(HANG_S)
            _connect(peer, path)
            try:
                peer.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it hung up on us first: fine
    return kinds


def _connect(peer: socket.socket, path: Path) -> None:
    """Connect, waiting while the listen backlog is full (EAGAIN on a unix socket); not accepting for HANG_S is a
    hang."""
    deadline = time.monotonic() + HANG_S
    while True:
        try:
            return peer.connect(str(path))
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def report_router(figure, target: str, sent: Sent, garbage: Garbage, pauses: HeadPauses) -> None:
    figure(f"frames sent to {target}", sent.messages)
    figure("replies read", sent.replies)
    figure("sends blocked for HANG_S", sent.blocked, target="0", ok=sent.blocked == 0)
    figure("time for the batch", f"{sent.seconds:.1f} s")
    figure("longest pause in head broadcasts", f"{pauses.longest * 1000:.0f} ms")
    figure("mix", ", ".join(f"{k} {v}" for k, v in sorted(garbage.counts.items())))


# -- the ZMQ scenarios -----------------------------------------------------------
def test_fuzz_chaosgarden_commands(box, figure):
    figure.scenario = "fuzz chaosgarden command ROUTER"
    was = before(box)
    garbage = Garbage("chaosgarden", seed=1)
    address = endpoints.ipc(box.run_dir, endpoints.GARDEN_COMMANDS)
    with HeadPauses(box, endpoints.GARDEN_EVENTS) as pauses:
        sent = blast(address, zmq.DEALER, garbage.next, FRAMES_PER_SOCKET, seed=11)
    report_router(figure, "chaosgarden", sent, garbage, pauses)
    check_survived(box, was, figure)
    assert sent.blocked == 0


def test_fuzz_hootenanny_workers(box, figure):
    figure.scenario = "fuzz hootenanny worker ROUTER"
    was = before(box)
    garbage = Garbage("hootenanny", seed=2)
    address = endpoints.ipc(box.run_dir, endpoints.HOOTENANNY_WORKERS)
    with HeadPauses(box, endpoints.HOOTENANNY_EVENTS) as pauses:
        sent = blast(address, zmq.DEALER, garbage.next, FRAMES_PER_SOCKET, seed=12)
    report_router(figure, "hootenanny", sent, garbage, pauses)
    check_survived(box, was, figure)
    assert sent.blocked == 0


@pytest.mark.parametrize(("process", "socket_name"), [("chaosgarden", endpoints.GARDEN_EVENTS),
                                                       ("hootenanny", endpoints.HOOTENANNY_EVENTS)])
def test_fuzz_pub_subscriptions(box, figure, process, socket_name):
    figure.scenario = f"fuzz {process} PUB subscriptions"
    was = before(box)
    subscriptions = Subscriptions(seed=3)
    sent = blast(endpoints.ipc(box.run_dir, socket_name), zmq.XSUB, subscriptions.next, FRAMES_PER_SOCKET, seed=13)
    figure(f"subscription frames sent to {process}", sent.messages)
    figure("sends blocked for HANG_S", sent.blocked, target="0", ok=sent.blocked == 0)
    figure("time for the batch", f"{sent.seconds:.1f} s")
    figure("mix", ", ".join(f"{k} {v}" for k, v in sorted(subscriptions.counts.items())))
    check_survived(box, was, figure)
    assert sent.blocked == 0


def test_fuzz_raw_bytes_at_every_socket_file(box, figure):
    figure.scenario = "fuzz raw bytes below ZMQ"
    was = before(box)
    kinds: Counter[str] = Counter()
    sockets = [(endpoints.GARDEN_COMMANDS, b"DEALER", "chaosgarden"), (endpoints.GARDEN_EVENTS, b"SUB", "chaosgarden"),
               (endpoints.HOOTENANNY_WORKERS, b"DEALER", "hootenanny"),
               (endpoints.HOOTENANNY_EVENTS, b"SUB", "hootenanny")]
    for seed, (name, socket_type, target) in enumerate(sockets):
        kinds += raw_bytes(box.run_dir / name, socket_type, Garbage(target, seed), RAW_CONNECTIONS, seed)
    figure("connections", sum(kinds.values()))
    figure("mix", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    check_survived(box, was, figure)


# -- MCP -------------------------------------------------------------------------
# Tools fuzzed with wrong-typed arguments only, because valid ones would destroy state or run for long:
# weave_reset (deletes the kernel's globals and, with clear_session, the session) and weave_eval (runs any code
# until the cell timeout). Everywhere, stream uris never name the sim streams (stream_stop would end the
# recording these scenarios watch; stream_retention could release its chunks; stream_slice of it could be long),
# and job_sample's space never names a real one (capture and pattern jobs record and slice for seconds).
WRONG_TYPES_ONLY = {"weave_reset", "weave_eval"}
REAL_SPACES = {"capture", "pattern"}
EXAMPLES_PER_TOOL = 40
JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def _safe(name: str, value: Any) -> bool:
    if isinstance(value, str):
        return value not in SIM_STREAMS and not (name == "space" and value in REAL_SPACES)
    return True


def from_schema(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values a JSON schema allows (most of it: refs, anyOf, enums, bounds, arrays, objects)."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs, name) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"]).filter(lambda v: _safe(name, v))
    kind = schema.get("type")
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 80), 300)).filter(
            lambda v: _safe(name, v))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        return st.floats(low, schema.get("maximum"), allow_nan=False, allow_infinity=False,
                         exclude_min="exclusiveMinimum" in schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        most = min(schema.get("maxItems", 4), 4)
        return st.lists(from_schema(schema.get("items", {}), defs, name), min_size=min(schema.get("minItems", 0), most),
                        max_size=most)
    if kind == "object" and "properties" in schema:
        props = {k: from_schema(v, defs, k) for k, v in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries({k: v for k, v in props.items() if k in required},
                                     optional={k: v for k, v in props.items() if k not in required})
    if kind == "object":
        return st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=4)
    return JSON_VALUES


def wrong_types(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the tool's own keys (and unknown ones) holding any JSON at all: mostly the wrong types."""
    keys = list(schema.get("properties", {})) + ["", "__proto__", "x" * 300]
    values = JSON_VALUES | st.sampled_from(["stream://fuzz/a", "\0", "é" * 5000, 2**63, -1, 1e308, [], {}])
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys)).filter(
        lambda args: all(_safe(k, v) for k, v in args.items()))


def arguments_for(tool: Any) -> st.SearchStrategy[dict[str, Any]]:
    schema = tool.input_schema or {}
    if tool.name in WRONG_TYPES_ONLY:
        # Every argument present and of a kind no validator coerces to a string, number or boolean.
        uncoercible = st.none() | st.lists(JSON_LEAVES, min_size=1, max_size=3) | st.dictionaries(
            st.text(max_size=5), JSON_LEAVES, min_size=1, max_size=3)
        return st.fixed_dictionaries({k: uncoercible for k in schema.get("properties", {})})
    return from_schema(schema, schema.get("$defs", {})) | wrong_types(schema)


class McpLoop:
    """One SDK session in one task on its own event loop thread, so hypothesis's synchronous examples can call
    tools (the SDK's task groups must be left by the task that entered them)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.loop = asyncio.new_event_loop()
        self.jobs: asyncio.Queue[tuple[Callable[[Any], Any], concurrent.futures.Future] | None] = asyncio.Queue()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(),), daemon=True)
        self.thread.start()

    async def _serve(self) -> None:
        async with mcp_session(self.url, self.token) as client:
            while (job := await self.jobs.get()) is not None:
                use, done = job
                try:
                    done.set_result(await use(client))
                except Exception as exc:
                    done.set_exception(exc)

    def run(self, use: Callable[[Any], Any]) -> Any:
        done: concurrent.futures.Future = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self.jobs.put_nowait, (use, done))
        return done.result(HANG_S)

    def list_tools(self) -> list[Any]:
        return self.run(lambda client: client.list_tools()).tools

    def call(self, name: str, arguments: Any) -> str:
        """'tool error', 'protocol error' or 'ok'; anything else (a 5xx, a timeout) raises."""
        try:
            result = self.run(lambda client: client.call_tool(name, arguments))
        except MCPError:
            return "protocol error"
        return "tool error" if result.is_error else "ok"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.jobs.put_nowait, None)
        self.thread.join(HANG_S)


def test_fuzz_mcp_tool_arguments(box, figure):
    figure.scenario = "fuzz MCP tool arguments"
    was = before(box)
    mcp = McpLoop(box.url, box.token)
    outcomes: Counter[str] = Counter()
    try:
        tools = mcp.list_tools()
        for tool in tools:
            fuzz_one_tool(mcp, tool, outcomes)
        for name in ("no_such_tool", "", "x" * 5000, "stream_status\0"):
            outcomes[mcp.call(name, {})] += 1
        still = len(mcp.list_tools())
    finally:
        mcp.close()
    figure("tools fuzzed", len(tools))
    figure("calls", sum(outcomes.values()))
    figure("answers", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    figure("tools listed afterwards", still, target=f">= {len(tools)}", ok=still >= len(tools))
    check_survived(box, was, figure)
    assert still >= len(tools)


def fuzz_one_tool(mcp: McpLoop, tool: Any, outcomes: Counter[str]) -> None:
    @settings(max_examples=EXAMPLES_PER_TOOL, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(arguments_for(tool))
    def call(arguments: dict[str, Any]) -> None:
        outcomes[mcp.call(tool.name, arguments)] += 1  # raises on a 5xx or a timeout, and hypothesis shrinks it

    call()


# Raw JSON-RPC at /mcp, below the SDK: (what, HTTP method, headers to change, body).
def jsonrpc_garbage(token: str, session: str) -> Iterator[tuple[str, str, dict[str, Any], bytes]]:
    rng = random.Random(5)

    def req(method: str, params: Any = None, ident: Any = 1, version: Any = "2.0") -> dict[str, Any]:
        body = {"jsonrpc": version, "id": ident, "method": method}
        return body if params is None else {**body, "params": params}

    def js(value: Any) -> bytes:
        return json.dumps(value).encode()

    for body in (b"", b"{", b"null", b"[]", b"\xff\xfe\x00", b'{"jsonrpc": "2.0"', b"[" * 100_000,
                 b'"' + b"a" * 1_000_000 + b'"', rng.randbytes(4096), b"1e999999", b'{"a": NaN}'):
        yield "invalid JSON", "POST", {}, body
    for version in ("1.0", "3.0", 2.0, None, ["2.0"]):
        yield "wrong jsonrpc version", "POST", {}, js(req("tools/list", version=version))
    for ident in (2**200, -(2**200), "x" * 100_000, {"a": 1}, [1], None, 1.5, True, ""):
        yield "odd ids", "POST", {}, js(req("tools/list", ident=ident))
    for method, params in (("foo/bar", None), ("", None), ("tools/call", None), ("tools/call", []),
                           ("tools/call", "x"), ("tools/call", {"name": 5}), ("tools/call", {"arguments": {}}),
                           ("resources/read", {"uri": "file:///etc/passwd"}), ("resources/subscribe", {"uri": 7}),
                           ("initialize", {}), ("ping", {"x": [1] * 10_000}), ("x" * 100_000, None)):
        yield "unknown methods and bad params", "POST", {}, js(req(method, params))
    for batch in ([req("tools/list"), req("tools/list", ident=2)], [1, 2, 3], [[]],
                  [req("ping", ident=n) for n in range(1000)]):
        yield "batches", "POST", {}, js(batch)
    for notification in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                         {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 999}},
                         {"jsonrpc": "2.0", "id": 77, "result": {}}, {"jsonrpc": "2.0", "id": 78, "error": {}}):
        yield "notifications and stray responses", "POST", {}, js(notification)
    for content_type in ("text/plain", "application/xml", "multipart/form-data", "",
                         "application/json; charset=ebcdic"):
        yield "wrong content types", "POST", {"Content-Type": content_type}, js(req("tools/list"))
    for accept in ("text/html", "", "application/json"):
        yield "wrong accept", "POST", {"Accept": accept}, js(req("tools/list"))
    for sid in (None, "", "bogus", "x" * 10_000, session + "0", "\u00e9".encode()):
        yield "missing or wrong session", "POST", {"mcp-session-id": sid}, js(req("tools/list"))
    for version in ("1999-01-01", "", "x" * 1000):
        yield "wrong protocol version", "POST", {"mcp-protocol-version": version}, js(req("tools/list"))
    for auth in (None, "Bearer", "Bearer wrong", "Basic " + token, "Bearer " + "t" * 100_000, token):
        yield "bad authorization", "POST", {"Authorization": auth}, js(req("tools/list"))
    for host in ("evil.example", "", "127.0.0.1:1"):
        yield "foreign hosts", "POST", {"Host": host}, js(req("tools/list"))
    for method in ("PUT", "PATCH", "OPTIONS", "HEAD"):
        yield "other HTTP methods", method, {}, js(req("tools/list"))
    yield "GET without event-stream", "GET", {"Accept": "application/json"}, b""
    yield "DELETE another session", "DELETE", {"mcp-session-id": "bogus"}, b""
    for _ in range(200):
        yield "sessions opened and never closed", "POST", {"mcp-session-id": None}, js(req("initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}))


def test_fuzz_mcp_jsonrpc_garbage(box, figure):
    figure.scenario = "fuzz MCP raw JSON-RPC"
    was = before(box)
    base = {"Authorization": f"Bearer {box.token}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json", "mcp-protocol-version": "2025-06-18"}
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    with httpx2.Client(timeout=HANG_S) as http:
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}}
        session = http.post(box.url, json=init, headers=base).headers["mcp-session-id"]
        for what, method, changes, body in jsonrpc_garbage(box.token, session):
            headers = {**base, "mcp-session-id": session, **changes}
            headers = {k: v for k, v in headers.items() if v is not None}
            try:
                answer = http.request(method, box.url, content=body, headers=headers)
            except httpx2.HTTPError as exc:  # a timeout is a hang; a dropped connection a crash of the handler
                failures.append(f"{what}: {type(exc).__name__}: {exc}")
                continue
            statuses[f"{answer.status_code // 100}xx"] += 1
            if answer.status_code >= 500:
                failures.append(f"{what}: HTTP {answer.status_code}: {answer.text[:200]}")
        health = http.get(f"http://127.0.0.1:{box.port}/healthz").status_code
    figure("requests", sum(statuses.values()) + len(failures))
    figure("answers", ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    figure("5xx or no answer", len(failures), target="0", ok=not failures)
    figure("healthz afterwards", health, target="200", ok=health == 200)
    check_survived(box, was, figure)
    assert not failures, failures[:10]
    assert health == 200
