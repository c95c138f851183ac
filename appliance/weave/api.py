"""The names injected into the kernel: what an agent calls to make music.

Everything here runs on the kernel thread. Calls that act on the box
(`tempo`, `play`, `schedule`, `marker`, ...) wait for hootenanny's answer so
an error raises right at the cell's line; `sample()` and `latent()` are
awaitable because generation takes a while. Decorators turn functions into
rules that keep the function's source, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from appliance.picture import Picture
from appliance.weave.broadcast_state import Artifact
from appliance.weave.cells import function_source
from appliance.weave.rules import Priority, Rule, parse_trigger
from appliance.weave.views import Beat, Timeline, Transport

if TYPE_CHECKING:
    from appliance.weave.weaver import Weaver

REGIONS_KEPT = 200
# How often a thread waiting for hootenanny checks for an interrupt (the wait itself is in C).
WAIT_SLICE_SECONDS = 0.05

Content = Artifact | str


class LatentRef:
    """A sample that is not made yet: started at its deadline (minus the estimate), or when materialized."""

    def __init__(self, api: KernelApi, space: str, prompt: str, inference: dict[str, Any], tags: list[str],
                 rule_id: str | None) -> None:
        self._api = api
        self.space, self.prompt, self.inference, self.tags = space, prompt, inference, tags
        self.rule_id = rule_id
        self._result: concurrent.futures.Future[Artifact] = concurrent.futures.Future()
        self._started = False
        if rule_id is not None:
            api.weaver.actions.completions[rule_id] = self._result

    @property
    def state(self) -> str:
        if self._result.cancelled():
            return "cancelled"
        if self._result.done():
            return "failed" if self._result.exception() else "ready"
        return "running" if self._started or not self._waiting_for_deadline() else "waiting"

    def _waiting_for_deadline(self) -> bool:
        return self.rule_id is not None and self._api.weaver.scheduler.get(self.rule_id) is not None

    def cancel(self) -> bool:
        """Drop it: its deadline rule goes and a result still coming is ignored. False if already done."""
        if self.rule_id is not None:
            self._api.weaver.remove_rule(self.rule_id)
            self._api.weaver.actions.completions.pop(self.rule_id, None)
        return self._result.cancel()

    def materialize(self) -> asyncio.Future[Artifact]:
        """Start it now unless its deadline already started it; await the result for the Artifact."""
        if not self._started and not self._result.done():
            if self.rule_id is None or self._api.weaver.remove_rule(self.rule_id):
                self._started = True
                future = asyncio.run_coroutine_threadsafe(
                    self._api.weaver.sampler.sample(self.space, self.prompt, self.inference, self.tags),
                    self._api.weaver.started_loop)
                future.add_done_callback(self._settle)
        return asyncio.wrap_future(self._result)

    def _settle(self, future: concurrent.futures.Future[Artifact]) -> None:
        if self._result.done():
            return
        if future.exception() is not None:
            self._result.set_exception(future.exception())
        else:
            self._result.set_result(future.result())

    def __await__(self) -> Any:
        return self.materialize().__await__()

    def __repr__(self) -> str:
        return f"LatentRef(space={self.space!r}, prompt={self.prompt!r}, state={self.state!r})"


class KernelApi:
    """Builds the injected names around one Weaver."""

    def __init__(self, weaver: Weaver) -> None:
        self.weaver = weaver
        self.scheduled: deque[dict[str, Any]] = deque(maxlen=REGIONS_KEPT)

    def names(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "session", "tempo", "sample", "latent", "schedule", "unschedule", "regions", "audition", "marker", "play",
            "pause", "stop",
            "seek", "on_beat", "on_marker", "on_artifact", "gather", "rule", "rules", "drop_rule", "artifacts",
            "analyze", "find", "activity")} | {
            "Artifact": Artifact, "LatentRef": LatentRef}

    def views(self) -> dict[str, Any]:
        state = self.weaver.state
        return {"beat": Beat(state), "transport": Transport(state),
                "timeline": Timeline(state, lambda: self.weaver.store.markers(self.weaver.session.id),
                                     lambda: list(self.scheduled))}

    # -- talking to the I/O loop -------------------------------------------------
    def _wait(self, coro: Coroutine[Any, Any, Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.weaver.started_loop)
        while True:
            try:
                return future.result(timeout=WAIT_SLICE_SECONDS)
            except concurrent.futures.TimeoutError:
                continue

    def _task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.weaver.started_loop))

    # -- session and transport -------------------------------------------------------
    def session(self, name: str, vibe: str | None = None, load: bool = True) -> dict[str, Any]:
        """Switch to session `name`: resume it with its rules and markers (load=True), or start it fresh."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("session name must be a non-empty string")
        return self.weaver.open_session(name.strip(), vibe, load)

    def tempo(self, bpm: float) -> float:
        """Set the tempo in beats per minute (20-400)."""
        if not isinstance(bpm, int | float) or not 20 <= bpm <= 400:
            raise ValueError(f"tempo must be a number of beats per minute from 20 to 400; got {bpm!r}")
        self._wait(self.weaver.box.tempo(float(bpm)))
        self.weaver.store.update_session(self.weaver.session.id, tempo_bpm=float(bpm))
        self.weaver.scheduler.set_tempo(float(bpm))
        return float(bpm)

    def play(self) -> None:
        """Start the beat clock."""
        self._wait(self.weaver.box.play())

    def pause(self) -> None:
        self._wait(self.weaver.box.pause())

    def stop(self) -> None:
        """Stop the beat clock and return to beat 0."""
        self._wait(self.weaver.box.stop())

    def seek(self, beat: float) -> None:
        if not isinstance(beat, int | float) or beat < 0:
            raise ValueError(f"seek needs a beat >= 0; got {beat!r}")
        self._wait(self.weaver.box.seek(float(beat)))

    # -- content -------------------------------------------------------------------
    def sample(self, space: str, prompt: str = "", inference: dict[str, Any] | None = None,
               tags: list[str] | None = None) -> asyncio.Future[Artifact]:
        """Generate an artifact in `space` (capture, pattern, or a configured generator); await it."""
        self.weaver.sampler.check_space(space)
        return self._task(self.weaver.sampler.sample(space, str(prompt), inference, tags))

    def latent(self, space: str, prompt: str = "", deadline: float | None = None, priority: str = "normal",
               inference: dict[str, Any] | None = None, tags: list[str] | None = None) -> LatentRef:
        """A sample made later: started so it is ready by beat `deadline`, or when materialized."""
        self.weaver.sampler.check_space(space)
        inference, tags = dict(inference or {}), list(tags or [])
        rule_id = None
        if deadline is not None:
            rule = Rule.make(self.weaver.session.id, f"latent:{space}:{prompt}:{deadline}",
                             {"type": "deadline", "beat": deadline, "space": space},
                             {"type": "sample", "space": space, "prompt": prompt, "inference": inference,
                              "tags": tags}, priority, one_shot=True)
            rule_id = self.weaver.add_rule(rule).id
        return LatentRef(self, space, prompt, inference, tags, rule_id)

    def schedule(self, content: Content | LatentRef | Awaitable[Artifact], at: float | None = None,
                 duration: float | None = None, gain: float = 1.0) -> Any:
        """Place an artifact on the timeline at beat `at` (default: the next bar) for `duration` beats."""
        if not isinstance(gain, int | float) or not 0 <= gain <= 4:
            raise ValueError(f"gain must be from 0 to 4; got {gain!r}")
        if at is None:
            at = self.weaver.actions.at_or_next_bar(None)

        async def place(artifact_id: str) -> dict[str, Any]:
            result = await self.weaver.box.schedule(artifact_id, float(at), duration, float(gain))
            region = {"artifact_id": artifact_id, "at": float(at), "duration": duration, "gain": float(gain),
                      **result}
            self.scheduled.append(region)
            return region

        return self._with_content(content, place)

    def unschedule(self, region: dict[str, Any] | str) -> dict[str, Any]:
        """Take a region off the timeline (what schedule() returned, or its region_id); sounding, it stops at once."""
        region_id = region.get("region_id") if isinstance(region, dict) else region
        if not isinstance(region_id, str) or not region_id:
            raise TypeError("unschedule takes what schedule() returned (await it first when it was given a "
                            f"LatentRef) or a region_id string; got {region!r}")
        removed = self._wait(self.weaver.box.unschedule(region_id))
        for placed in [r for r in self.scheduled if r.get("region_id") == region_id]:
            self.scheduled.remove(placed)
        return removed

    def regions(self) -> list[dict[str, Any]]:
        """Every region on the box's timeline, in beat order: any agent's, and those placed before a restart."""
        return self._wait(self.weaver.box.timeline())["regions"]

    def audition(self, content: Content | LatentRef | Awaitable[Artifact], duration: float | None = None) -> Any:
        """Play an artifact now, outside the timeline, for `duration` seconds (default: all of it)."""
        return self._with_content(content, lambda artifact_id: self.weaver.box.audition(artifact_id, duration))

    def _with_content(self, content: Any, act: Callable[[str], Coroutine[Any, Any, Any]]) -> Any:
        """Act now on a ready artifact; on a LatentRef or awaitable, return a task that acts when it is ready."""
        if isinstance(content, Artifact | str):
            return self._wait(act(content.id if isinstance(content, Artifact) else content))
        if isinstance(content, LatentRef) or inspect.isawaitable(content):
            async def later() -> Any:
                artifact = await content
                return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(act(artifact.id),
                                                                                  self.weaver.started_loop))
            return asyncio.ensure_future(later())
        raise TypeError(f"content must be an Artifact, an artifact id, a LatentRef or an awaitable; got {content!r}")

    def marker(self, name: str, beat: float | None = None, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Mark beat `beat` (default: now) as `name`; @on_marker(name) rules fire when the clock passes it."""
        if not isinstance(name, str) or not name:
            raise ValueError("marker name must be a non-empty string")
        at = float(self.weaver.state.beat if beat is None else beat)
        self._wait(self.weaver.box.marker(name, at, dict(metadata or {})))
        row = self.weaver.store.add_marker(self.weaver.session.id, name, at, dict(metadata or {}))
        return {"name": row.name, "beat": row.beat, "metadata": row.metadata}

    def artifacts(self, tag: str | None = None) -> list[Artifact]:
        """The box's recent artifacts (at most 100, newest last), optionally only those tagged `tag`."""
        recent = self.weaver.state.view().recent_artifacts
        return [a for a in recent if tag is None or tag in a.tags]

    def analyze(self, source: str | Artifact, start: Any = None, end: Any = "now", channels: list[int] | None = None,
                picture: str | None = None, width: int = 800, height: int = 400) -> dict[str, Any]:
        """stream_analyze on the box: a stream uri with start/end time points, or an Artifact (or its id).

        With `picture` ("waveform", "spectrogram" or "piano_roll") the result's "picture" is a Picture of
        `width` x `height` px; a cell ending with it returns it as image content.
        """
        if isinstance(source, Artifact) or source.startswith("art-"):
            artifact_id = source.id if isinstance(source, Artifact) else source
            arguments: dict[str, Any] = {"artifact_id": artifact_id}
        else:
            arguments = {"uri": source, "start": start, "end": end}
        if channels is not None:
            arguments["channels"] = list(channels)
        if picture is not None:
            arguments.update(picture=picture, width=width, height=height)
        result, images = self._wait(self.weaver.box.analyze(arguments))
        if picture is not None:
            result["picture"] = Picture.from_png(images[0], picture)
        return result

    def find(self, uri: str, query: str, start: Any = None, end: Any = "now", limit: int = 10,
             **options: Any) -> dict[str, Any]:
        """stream_find on the box: moments of a stream's history (loudest, sound_starts, silence_starts, clipping,
        change, note); options are the tool's (channels, pitch, silence_dbfs, min_silence_s)."""
        arguments = {"uri": uri, "query": query, "start": start, "end": end, "limit": limit, **options}
        result: dict[str, Any] = self._wait(self.weaver.box.call("stream_find", arguments))
        return result

    def activity(self, uri: str, start: Any = None, end: Any = "now",
                 resolution: float | None = None) -> dict[str, Any]:
        """stream_activity on the box: the stream's history in buckets of `resolution` seconds."""
        arguments = {"uri": uri, "start": start, "end": end, "resolution": resolution}
        result: dict[str, Any] = self._wait(self.weaver.box.call("stream_activity", arguments))
        return result

    def gather(self, *awaitables: Any, return_exceptions: bool = False) -> asyncio.Future[list[Any]]:
        """asyncio.gather that also takes LatentRefs (materializing them)."""
        return asyncio.gather(*(a.materialize() if isinstance(a, LatentRef) else a for a in awaitables),
                              return_exceptions=return_exceptions)

    # -- rules ---------------------------------------------------------------------
    def on_beat(self, every: float = 1, offset: float = 0, priority: str = "normal",
                one_shot: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: call the function on every `every` beats (4: every bar), from the next boundary."""
        return self._decorator({"type": "beat", "every": every, "offset": offset}, priority, one_shot)

    def on_marker(self, name: str, priority: str = "normal",
                  one_shot: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: call the function when the clock reaches marker `name`."""
        return self._decorator({"type": "marker", "name": name}, priority, one_shot)

    def on_artifact(self, tag: str, priority: str = "normal",
                    one_shot: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: call the function with each new artifact tagged `tag` (event.details['artifact'])."""
        return self._decorator({"type": "artifact", "tag": tag}, priority, one_shot)

    def _decorator(self, trigger: dict[str, Any], priority: str,
                   one_shot: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        Priority.parse(priority)
        trigger = parse_trigger(trigger).model_dump()  # fail at the decorator line, and name rules uniformly

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.isfunction(function):
                raise TypeError(f"rules decorate functions; got {function!r}")
            source = function_source(function)
            rule = Rule.make(self.weaver.session.id, f"python:{function.__name__}:{_trigger_name(trigger)}",
                             trigger, {"type": "python", "function": function.__name__, "source": source},
                             priority, one_shot)
            rule = self.weaver.add_rule(rule)
            self.weaver.actions.bind(rule.id, source, function)
            function.rule_id = rule.id  # type: ignore[attr-defined]
            return function

        return decorate

    def rule(self, trigger: dict[str, Any], action: dict[str, Any], priority: str = "normal",
             one_shot: bool = False, name: str | None = None) -> dict[str, Any]:
        """A data rule, e.g. rule({"type": "marker", "name": "drop"}, {"type": "play"})."""
        trigger = parse_trigger(trigger).model_dump()
        made = Rule.make(self.weaver.session.id, name or f"{action.get('type')}:{_trigger_name(trigger)}",
                         trigger, action, priority, one_shot)
        return self.weaver.add_rule(made).summary()

    def rules(self) -> list[dict[str, Any]]:
        """Every rule of the session, enabled or not, in priority order."""
        return [rule.summary() for rule in self.weaver.store.rules(self.weaver.session.id)]

    def drop_rule(self, rule: str | Callable[..., Any]) -> bool:
        """Remove a rule by id, or the rule a decorated function made."""
        rule_id = getattr(rule, "rule_id", rule)
        return self.weaver.remove_rule(str(rule_id)) is not None


def _trigger_name(trigger: dict[str, Any]) -> str:
    """A readable, stable name part for a trigger, e.g. `beat:4:0`; re-running a cell replaces, not duplicates."""
    return ":".join([str(trigger.get("type")), *(f"{v}" for k, v in sorted(trigger.items()) if k != "type")])
