"""A stand-in hootenanny for vibeweaver tests: a real ROUTER and PUB on the ipc endpoints hootenanny binds.

It records READY, heartbeats and every tool call vibeweaver makes, answers
the box tools vibeweaver uses (`stream_analyze` with a plain picture of the
asked size when one is asked for), runs `job_sample` as a job that broadcasts
`job.` and `artifact.` events, and calls vibeweaver's own tools the way
hootenanny routes an agent's MCP call.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from PIL import Image

from appliance.proto.channel import Channel, Incoming, RequestError
from appliance.proto.codec import Body, unpack_envelope
from appliance.proto.endpoints import HOOTENANNY_EVENTS, HOOTENANNY_WORKERS, ipc, prepare_runtime_dir
from appliance.proto.framing import Command
from appliance.proto.pubsub import Publisher

HANG_GUARD = 20.0


class HootenannyPeer:
    def __init__(self, run_dir: Path) -> None:
        prepare_runtime_dir(run_dir)
        self.context = zmq.asyncio.Context()
        router = self.context.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind(ipc(run_dir, HOOTENANNY_WORKERS))
        self.pub_socket = self.context.socket(zmq.PUB)
        self.pub_socket.setsockopt(zmq.LINGER, 0)
        self.pub_socket.bind(ipc(run_dir, HOOTENANNY_EVENTS))
        self.publisher = Publisher(self.pub_socket, "hootenanny")
        self.channel = Channel(router, name="hootenanny", handler=self._handle, on_control=self._control)
        self.ready: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.worker: bytes | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.transport = {"state": "stopped", "beat": 0.0, "tempoBpm": 120.0}
        self.regions: dict[str, dict[str, Any]] = {}
        self.job_delay = 0.01
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self.channel.run())

    async def close(self) -> None:
        for task in [self._task, *self._jobs]:
            if task is not None:
                task.cancel()
        self.context.destroy(linger=0)

    # -- what vibeweaver sends --------------------------------------------------------
    async def _control(self, incoming: Incoming) -> None:
        if incoming.message.command == Command.READY:
            self.ready.append(unpack_envelope(incoming.message.body).value)
            self.worker = incoming.peer
        elif incoming.message.command == Command.HEARTBEAT:
            self.heartbeats += 1
        self._changed.set()

    async def _handle(self, incoming: Incoming) -> Body:
        if incoming.body.kind != "toolCall":
            raise RequestError("badRequest", f"test hootenanny serves toolCall only, not {incoming.body.kind}")
        name = incoming.body.value["name"]
        args = json.loads(incoming.body.value["argumentsJson"] or "{}")
        self.calls.append((name, args))
        self._changed.set()
        try:
            result = self._answer(name, args)
        except ValueError as exc:
            return Body("toolResult", {"structuredJson": json.dumps({"error": str(exc)}), "text": str(exc),
                                       "isError": True})
        return Body("toolResult", {"structuredJson": json.dumps(result), "text": "ok", "isError": False,
                                   "images": self._pictures(name, args)})

    def _pictures(self, name: str, args: dict[str, Any]) -> list[bytes]:
        if name != "stream_analyze" or args.get("picture") is None:
            return []
        png = io.BytesIO()
        Image.new("RGB", (args["width"], args["height"]), "navy").save(png, format="PNG")
        return [png.getvalue()]

    def _answer(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name.startswith("transport_"):
            return self._transport(name.removeprefix("transport_"), args)
        if name == "timeline_schedule":
            region_id = f"region-{len(self.calls)}"
            self.regions[region_id] = {"region_id": region_id, "artifact_id": args["artifact_id"], "at": args["at"],
                                       "duration": args.get("duration"), "gain": args["gain"], "mime": "audio/midi"}
            return {"region_id": region_id}
        if name == "timeline_remove":
            if args["region_id"] not in self.regions:
                raise ValueError(f"region_id: no region {args['region_id']!r} on the timeline; "
                                 f"placed: {', '.join(self.regions) or 'none'}")
            return self.regions.pop(args["region_id"])
        if name == "timeline_list":
            return {"regions": sorted(self.regions.values(), key=lambda r: r["at"]), "markers": []}
        if name in ("timeline_audition", "timeline_marker"):
            return {}
        if name == "job_sample":
            job_id = f"job-{uuid.uuid4().hex[:8]}"
            task = asyncio.create_task(self._run_job(job_id, args))
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
            return {"job_id": job_id}
        if name == "stream_analyze":
            return {"source": args.get("uri") or args.get("artifact_id"), "kind": "audio"}
        if name == "artifact_get":
            return {"artifact_id": args["artifact_id"], "content_hash": "", "mime": "audio/midi", "tags": []}
        if name == "artifact_register":
            artifact_id = f"art-{uuid.uuid4().hex[:8]}"
            self.publish("artifact.created", "artifactCreated", {
                "artifactId": artifact_id, "contentHash": args["content_hash"], "mime": args["mime"],
                "tags": args["tags"], "parentId": ""})
            return {"artifact_id": artifact_id}
        raise ValueError(f"unknown tool {name}")

    def _transport(self, verb: str, args: dict[str, Any]) -> dict[str, Any]:
        if verb == "tempo":
            self.transport["tempoBpm"] = float(args["bpm"])
        elif verb in ("play", "pause", "stop"):
            self.transport["state"] = {"play": "playing", "pause": "paused", "stop": "stopped"}[verb]
            if verb == "stop":
                self.transport["beat"] = 0.0
        elif verb == "seek":
            self.transport["beat"] = float(args["beat"])
        self.publish("transport.changed", "transportStateChanged", {**self.transport, "samplePosition": 0,
                                                                    "monotonicNs": 0, "realtimeNs": 0})
        return dict(self.transport)

    async def _run_job(self, job_id: str, args: dict[str, Any]) -> None:
        space = args["space"]
        self.publish("job.running", "jobEvent", {"jobId": job_id, "state": "running", "space": space,
                                                 "artifactId": "", "error": "", "progress": -1.0})
        await asyncio.sleep(self.job_delay)
        if "fail" in args.get("prompt", ""):
            self.publish("job.failed", "jobEvent", {"jobId": job_id, "state": "failed", "space": space,
                                                    "artifactId": "", "error": "the generator gave up",
                                                    "progress": -1.0})
            return
        artifact_id = f"art-{job_id}"
        self.publish("artifact.created", "artifactCreated", {"artifactId": artifact_id, "contentHash": "ab" * 32,
                                                             "mime": "audio/midi", "tags": args.get("tags", []),
                                                             "parentId": ""})
        self.publish("job.complete", "jobEvent", {"jobId": job_id, "state": "complete", "space": space,
                                                  "artifactId": artifact_id, "error": "", "progress": 1.0})

    # -- what the test does -----------------------------------------------------------
    def publish(self, topic: str, kind: str, value: dict[str, Any]) -> None:
        self.publisher.publish(topic, kind, value)

    def beat(self, beat: float, tempo: float = 120.0) -> None:
        self.publish("beat.tick", "beatTick", {"beat": beat, "tempoBpm": tempo, "samplePosition": 0,
                                               "monotonicNs": 0, "realtimeNs": 0})

    async def until(self, condition: Callable[[], bool], timeout: float = HANG_GUARD) -> None:
        """Wait until `condition()` holds after something vibeweaver sent (a hang guard, not a threshold)."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def wait_ready(self, count: int = 1) -> None:
        await self.until(lambda: len(self.ready) >= count)

    async def call(self, tool: str, arguments: dict[str, Any] | None = None,
                   timeout: float = HANG_GUARD) -> dict[str, Any]:
        """Call one of vibeweaver's tools; returns the tool result with `structured` parsed."""
        assert self.worker is not None, "vibeweaver has not registered"
        reply = await self.channel.request("toolCall", {"name": tool, "argumentsJson": json.dumps(arguments or {})},
                                           peer=self.worker, timeout=timeout, retries=0)
        return {**reply.value, "structured": json.loads(reply.value["structuredJson"])}

    async def eval(self, code: str, timeout: float = HANG_GUARD) -> dict[str, Any]:
        return (await self.call("weave_eval", {"code": code}, timeout))["structured"]

    async def publish_until(self, publish: Callable[[], None], check: Callable[[], Awaitable[bool]],
                            timeout: float = HANG_GUARD, interval: float = 0.02) -> None:
        """Publish again and again until `check()` says vibeweaver saw it (SUB sockets join late)."""
        async with asyncio.timeout(timeout):
            while True:
                publish()
                if await check():
                    return
                await asyncio.sleep(interval)
