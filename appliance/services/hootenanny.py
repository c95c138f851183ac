"""The hootenanny process: CAS, catalog, streams, artifacts, the fan-out, workers and HTTP, wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import uvicorn
import zmq
import zmq.asyncio

from appliance import notify, sound_devices
from appliance import token as tokens
from appliance.cas import ContentStore
from appliance.config import Config
from appliance.proto import endpoints
from appliance.proto.artifact_messages import ArtifactCreated
from appliance.proto.channel import RequestError
from appliance.proto.pubsub import Broadcast, Publisher
from appliance.proto.stream_messages import DEVICE_EVENT, DeviceNotice
from appliance.proto.transport_messages import OutputStatus, TransportStateChanged
from appliance.proto.typed_bodies import typed_value
from appliance.services.agent.http_app import routes
from appliance.services.agent.live_resources import LiveResources, ServiceState
from appliance.services.agent.mcp_endpoint import StudioMCP
from appliance.services.agent.registry import ToolRegistry
from appliance.services.agent.tools.activity import add_activity_tools
from appliance.services.agent.tools.analysis import add_analysis_tools
from appliance.services.agent.tools.capture import add_capture_tools
from appliance.services.agent.tools.jobs import add_job_tools
from appliance.services.agent.tools.request_response import add_request_response_tools
from appliance.services.agent.tools.retention import add_gc_tool, add_retention_tool
from appliance.services.agent.tools.sessions import add_session_tools
from appliance.services.agent.tools.playback import add_playback_tools
from appliance.services.agent.worker_hub import WorkerHub
from appliance.services.activity.activity_queries import ActivityQueries
from appliance.services.activity.activity_store import ActivityStore
from appliance.services.activity.indexer import ActivityIndexer
from appliance.services.analysis.analyzer import Analyzer
from appliance.services.capture.devices import DeviceRegistry
from appliance.services.capture.garden_link import GardenLink
from appliance.services.capture.retention import Retention
from appliance.services.capture.streams import StreamService
from appliance.services.jobs import JobService
from appliance.services.service_error import ServiceError
from appliance.services.sessions.request_response import RequestResponse
from appliance.services.sessions.sessions import SessionService
from appliance.services.slicing.slices import Slicer
from appliance.services.store import garbage
from appliance.services.store.artifacts import ArtifactRecord, ArtifactStore
from appliance.services.store.catalog import open_catalog
from appliance.services.playback import Playback

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL_S = 60.0
SIM_STREAMS: tuple[dict[str, Any], ...] = (
    {"uri": "stream://sim/audio", "device": "sim", "kind": "audio", "sample_format": "s32", "channels": 2},
    {"uri": "stream://sim/midi", "device": "sim", "kind": "midi"},
)


class QuietServer(uvicorn.Server):
    """uvicorn without signal handlers of its own: the process's lifecycle owns SIGINT and SIGTERM.

    uvicorn's handlers would shut the server down first and then raise the
    signals again; two of them (Ctrl-C under `studio up`, then its SIGTERM)
    count as "force quit", which skips the app's lifespan shutdown and leaves
    its task to be cancelled with a traceback. Our `run` asks it to exit.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Hootenanny:
    def __init__(self, config: Config) -> None:
        self.config = config
        endpoints.prepare_runtime_dir(config.runtime_dir)
        self.store = ContentStore(config.data_dir / "cas")
        self.db = open_catalog(config.data_dir / "hootenanny" / "catalog.db")
        self.token = tokens.load_or_create(config)
        self.ctx = zmq.asyncio.Context()
        pub = self.ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 100_000)
        pub.bind(endpoints.ipc(config.runtime_dir, endpoints.HOOTENANNY_EVENTS))
        self.publisher = Publisher(pub, "hootenanny")
        self.garden = GardenLink(self.ctx, config, self.publisher, self._garden_event)
        self.devices = DeviceRegistry(self.db)
        self.devices.rescan(sound_devices.present())
        self.streams = StreamService(self.db, self.store, self.garden, config, self.publisher.publish, self.devices)
        self.artifacts = ArtifactStore(self.db, self.store, self._announce_artifact)
        self.registry = ToolRegistry()
        slicer = Slicer(self.streams, self.artifacts, self.store, config.slicing)
        add_capture_tools(self.registry, self.streams, self.artifacts, self.devices, slicer)
        add_analysis_tools(self.registry, Analyzer(slicer, self.artifacts, self.store, config.analysis))
        activity_index = ActivityStore(config.data_dir / "hootenanny" / "activity.db")
        self.indexer = ActivityIndexer(self.streams.recorders, self.store, activity_index)
        add_activity_tools(self.registry, ActivityQueries(self.streams, self.store, activity_index))
        self.sessions = SessionService(self.db, self.store, self.streams, self.artifacts)
        add_session_tools(self.registry, self.sessions, slicer)

        self.retention = Retention(self.db, self.streams)
        add_retention_tool(self.registry, self.retention)
        add_gc_tool(self.registry, self.db, self.store)
        playback = Playback(self.garden, self.artifacts)
        add_playback_tools(self.registry, playback)
        request_response = RequestResponse(self.sessions, self.streams, self.artifacts, self.store, playback)
        add_request_response_tools(self.registry, request_response)
        self.jobs = JobService(self.db, self.publisher.publish, self.artifacts, self.streams, slicer, request_response)
        add_job_tools(self.registry, self.jobs, self.artifacts)
        self.workers = WorkerHub(self.ctx, config, self.registry, self._device_notice)
        self.live = LiveResources(lambda: [s.model_dump(mode="json") for s in self.streams.status()])
        self.live_state = ServiceState(self.sessions.every)
        self.live.use_state(self.live_state)
        self.mcp = StudioMCP(config, self.token, self.registry, self.workers, self.live)
        self.workers.on_tools_changed = self.mcp.tools_changed
        self.app = self.mcp.app(routes(self.artifacts, lambda: self.token, self.health))

    def health(self) -> dict[str, Any]:
        return {"service": "hootenanny", "streams_recording": sum(r.recording for r in self.streams.recorders.values())}

    def _announce_artifact(self, artifact: ArtifactRecord) -> None:
        self.publisher.publish("artifact.created", ArtifactCreated.KIND, ArtifactCreated(
            artifact_id=artifact.id, content_hash=artifact.content_hash or "", mime=artifact.mime,
            tags=tuple(artifact.tags), parent_id=artifact.parent_id or ""))

    async def _garden_event(self, event: Broadcast) -> None:
        message = typed_value(event.body)
        if isinstance(message, TransportStateChanged):
            self.live_state.heard(message)
        elif isinstance(message, OutputStatus):
            self.live_state.heard_output(message)
        await self.streams.on_event(event)

    async def _device_notice(self, notice: DeviceNotice) -> None:
        self.devices.seen(notice)
        self.publisher.publish(f"device.{notice.action}", DEVICE_EVENT, notice)
        try:
            await self.garden.request(DeviceNotice.KIND, notice, retries=0, timeout=2)
        except RequestError as exc:
            log.info("chaosgarden did not take the device notice: %s", exc.message)

    async def _housekeeping(self) -> None:
        """Retention, then removal of what nothing references, now and then."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            if self.retention.apply():
                try:
                    refs = garbage.references_or_refuse(self.db, self.store)
                except ServiceError as exc:  # an unreadable manifest: its chunks must not look unused
                    log.error("gc: %s", exc.message)
                    continue
                report = await asyncio.to_thread(garbage.collect, self.store, refs)
                log.info("gc: removed %d files (%d bytes)", len(report.removed), report.removed_bytes)

    async def _record_sim(self) -> None:
        """Keep the simulated Eurorack recording (`studio up`), waiting for chaosgarden if need be."""
        for fields in SIM_STREAMS:
            if fields["uri"] not in self.streams.recorders:
                self.streams.create({**fields, "chunk_samples": self.config.capture.chunk_samples})
            while not self.streams.recorders[fields["uri"]].recording:
                try:
                    await self.streams.start(fields["uri"])
                except ServiceError as exc:
                    log.info("waiting for chaosgarden to record %s: %s", fields["uri"], exc.message)
                    await asyncio.sleep(1.0)

    async def run(self) -> None:
        self.store.scan_orphans(self.streams.known_staging())
        server = QuietServer(uvicorn.Config(self.app, host=self.config.mcp.bind, port=self.config.mcp.port,
                                               log_config=None, lifespan="on", access_log=False))
        serving = asyncio.create_task(server.serve())
        tasks = [
            asyncio.create_task(self.garden.run_commands()),
            asyncio.create_task(self.garden.run_events()),
            asyncio.create_task(self.workers.run()),
        ]
        await self.streams.recover()
        tasks.append(asyncio.create_task(self.streams.watch()))
        tasks.append(asyncio.create_task(self.live.watch(self.mcp.resource_updated)))
        tasks.append(asyncio.create_task(self._housekeeping()))
        tasks.append(asyncio.create_task(self.indexer.run()))
        if self.config.capture.sim_streams:
            tasks.append(asyncio.create_task(self._record_sim()))
        tasks.append(asyncio.create_task(notify.watchdog(lambda: not serving.done())))
        while not server.started and not serving.done():  # READY only once HTTP really serves
            await asyncio.sleep(0.02)
        log.info("hootenanny ready (pid %d): http://%s:%d", os.getpid(), self.config.mcp.bind, self.config.mcp.port)
        notify.ready(f"serving MCP on {self.config.mcp.bind}:{self.config.mcp.port}")
        try:
            await asyncio.gather(asyncio.shield(serving), *tasks)
        finally:
            notify.stopping()
            # Let uvicorn finish its lifespan (the MCP session manager) instead of cancelling it mid-way.
            server.should_exit = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.wait_for(asyncio.shield(serving), 10)
            self.db.close()
            self.ctx.destroy(linger=0)
