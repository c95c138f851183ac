"""Live state as MCP resources: `studio://streams`, `studio://sessions`, `studio://transport`.

Each resource is a JSON document read on demand. A watcher polls them and
announces a resource as updated only when something an agent would act on
changed (a stream's state, sealed chunks, errors; not its moving head), so
subscribed agents need not poll.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from appliance.proto.transport_messages import OutputStatus, TransportStateChanged
from appliance.services.sessions.sessions import SessionList, SessionStatus

log = logging.getLogger(__name__)

STREAMS = "studio://streams"
SESSIONS = "studio://sessions"
TRANSPORT = "studio://transport"
POLL_SECONDS = 0.5
# Keys that move continuously while recording or playing: a change in them alone is not news.
MOVING_KEYS = frozenset({"head_sample", "bytes", "beat"})

DESCRIPTIONS = {
    STREAMS: "Every stream: state, head sample, chunks sealed, bytes, xruns, device, last error.",
    SESSIONS: "Capture sessions: status, segments and streams.",
    TRANSPORT: "The beat clock: state (playing/paused/stopped), beat and tempo; the outputs it plays to, each "
               "with why it cannot play (error, empty when it plays).",
}

Announce = Callable[[str], Awaitable[None]]


class LiveState(Protocol):
    """Where the sessions and transport documents come from (the session and transport services)."""

    def sessions(self) -> dict[str, Any]: ...

    def transport(self) -> dict[str, Any]: ...


class IdleState:
    """The stand-in until the session and transport services are wired in: no sessions, a stopped clock."""

    def sessions(self) -> dict[str, Any]:
        return {"sessions": []}

    def transport(self) -> dict[str, Any]:
        return {"state": "stopped", "beat": 0, "tempo_bpm": 120, "outputs": []}


class ServiceState:
    """Sessions from the session service; transport and its outputs as chaosgarden last announced them."""

    def __init__(self, sessions: Callable[[], list[SessionStatus]]) -> None:
        self._sessions = sessions
        self._transport: dict[str, Any] = IdleState().transport()
        self._outputs: dict[tuple[str, str], OutputStatus] = {}

    def heard(self, changed: TransportStateChanged) -> None:
        """A TransportStateChanged broadcast from chaosgarden (it lists every output)."""
        self._transport = {"state": changed.state, "beat": changed.beat, "tempo_bpm": changed.tempo_bpm}
        self._outputs = {(o.kind, o.device): o for o in changed.outputs}

    def heard_output(self, status: OutputStatus) -> None:
        """An OutputStatus broadcast: one output failed, or plays again."""
        self._outputs[(status.kind, status.device)] = status

    def sessions(self) -> dict[str, Any]:
        return SessionList(sessions=self._sessions()).model_dump(mode="json")

    def transport(self) -> dict[str, Any]:
        outputs = [{"kind": o.kind, "device": o.device, "error": o.error} for o in self._outputs.values()]
        return {**self._transport, "outputs": outputs}


class LiveResources:
    """Reads the live documents and tells `announce` which ones changed."""

    def __init__(self, stream_status: Callable[[], list[dict[str, Any]]], state: LiveState | None = None) -> None:
        self._stream_status = stream_status
        self._state: LiveState = state or IdleState()

    def use_state(self, state: LiveState) -> None:
        """Serve sessions and transport from `state` from now on."""
        self._state = state

    def read(self, uri: str) -> dict[str, Any]:
        if uri == STREAMS:
            return {"streams": self._stream_status()}
        if uri == SESSIONS:
            return self._state.sessions()
        if uri == TRANSPORT:
            return self._state.transport()
        raise KeyError(f"uri: {uri!r} is not a live resource; resources: {', '.join(DESCRIPTIONS)}")

    def read_json(self, uri: str) -> str:
        return json.dumps(self.read(uri))

    async def watch(self, announce: Announce, interval: float = POLL_SECONDS) -> None:
        """Poll every `interval` seconds and announce each resource whose meaningful content changed."""
        seen = {uri: self._fingerprint(uri) for uri in DESCRIPTIONS}
        while True:
            await asyncio.sleep(interval)
            for uri in DESCRIPTIONS:
                now = self._fingerprint(uri)
                if now != seen[uri]:
                    seen[uri] = now
                    await announce(uri)

    def _fingerprint(self, uri: str) -> str:
        try:
            return json.dumps(_settled(self.read(uri)), sort_keys=True, default=str)
        except Exception as exc:  # a provider's fault must not stop the watcher of the other resources
            log.warning("reading %s for change notification failed: %s", uri, exc)
            return "unreadable"


def _settled(value: Any) -> Any:
    """`value` without the continuously moving keys, at any depth."""
    if isinstance(value, dict):
        return {k: _settled(v) for k, v in value.items() if k not in MOVING_KEYS}
    if isinstance(value, list):
        return [_settled(v) for v in value]
    return value
