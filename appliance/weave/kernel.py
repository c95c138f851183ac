"""The kernel: one asyncio loop on its own thread, one persistent namespace, cells and rule code run on it.

Callers on the I/O loop (tool calls, the scheduler) hand work to the kernel
and wait with a time limit. Work over its limit is cancelled if it is
awaiting, or interrupted inside its running step if it is busy computing
(see `interrupt`), so the kernel thread, its loop and its globals survive.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import inspect
import logging
import os
import selectors
import sys
import threading
import time
import types
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from appliance.picture import Picture
from appliance.weave.cell_pictures import PictureRefused, cell_picture
from appliance.weave.cells import CompiledCell, cell_traceback, compile_cell
from appliance.weave.interrupt import Interrupted, StepGuard, guarded
from appliance.weave.output_capture import Sink, capture_into

log = logging.getLogger(__name__)

MODULE_NAME = "__weave__"
# After the time limit: how long to wait after each attempt to stop the work (doubling up to the
# maximum), and how many attempts before giving up on it.
INTERRUPT_FIRST_WAIT_SECONDS = 0.01
INTERRUPT_MAX_WAIT_SECONDS = 0.2
INTERRUPT_ATTEMPTS = 30


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one piece of kernel work did: its value or error, and what it printed."""

    value: Any
    stdout: str
    stderr: str
    error: str | None

    @property
    def success(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Shown:
    """What a cell's last expression shows: its repr, and the picture it is (or why that picture is not shown)."""

    repr: str
    picture: Picture | None = None
    picture_refused: str | None = None


@dataclass(frozen=True, slots=True)
class CellResult:
    """The `weave_eval` answer for one cell."""

    result: str | None
    stdout: str
    stderr: str
    success: bool
    error: str | None
    execution_count: int
    picture: Picture | None = None
    picture_refused: str | None = None


class _PoliteSelector(selectors.DefaultSelector):
    """Skips most zero-timeout polls of a busy loop.

    A loop that polls with timeout 0 thousands of times a second releases and
    retakes the GIL each time, and CPython hands it straight back to the same
    thread: the I/O thread (heartbeats, tool calls, the watchdog) would starve
    behind a cell that awaits in a tight loop. Polling at most once per GIL
    switch interval lets the interpreter's forced switching work instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last_poll = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        now = time.monotonic()
        if timeout is not None and timeout <= 0 and now - self._last_poll < sys.getswitchinterval():
            return []
        self._last_poll = now
        return super().select(timeout)


class _Run:
    """One submission to the kernel loop: its task (for cancelling) and its outcome (for waiting)."""

    def __init__(self) -> None:
        self.token = object()
        self.task: asyncio.Task[None] | None = None
        self.done: concurrent.futures.Future[tuple[Any, BaseException | None]] = concurrent.futures.Future()
        self.sink = Sink()


class Kernel:
    """The persistent Python namespace and the thread whose loop runs cells, rules and API tasks."""

    def __init__(self, cell_timeout: float) -> None:
        self.cell_timeout = cell_timeout
        self.execution_count = 0
        self.module = types.ModuleType(MODULE_NAME, "The vibeweaver kernel's globals.")
        self.namespace: dict[str, Any] = self.module.__dict__
        self.guard = StepGuard()
        self.loop = asyncio.SelectorEventLoop(_PoliteSelector())
        self._api: dict[str, Any] = {}
        self._views: dict[str, Any] = {}
        self._cell_lock: asyncio.Lock | None = None
        self._thread = threading.Thread(target=self._serve, name="weave-kernel", daemon=True)
        self._clear()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        # pyplot in a cell must never open a window: the kernel is a headless service running cells on a worker
        # thread, and a cell's figure comes back as PNG. Read when a cell first imports matplotlib.
        os.environ.setdefault("MPLBACKEND", "agg")
        sys.modules[MODULE_NAME] = self.module
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
        if sys.modules.get(MODULE_NAME) is self.module:
            del sys.modules[MODULE_NAME]

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))

    # -- namespace -----------------------------------------------------------
    def inject(self, api: Mapping[str, Any], views: Mapping[str, Any]) -> None:
        """Names every cell sees: `api` survives reset; `views` are also restored before every cell."""
        self._api = dict(api)
        self._views = dict(views)
        self.namespace.update(self._api)
        self.namespace.update(self._views)

    def _clear(self) -> None:
        self.namespace.clear()
        self.namespace.update(__name__=MODULE_NAME, __builtins__=builtins, **self._api, **self._views)

    async def reset(self) -> None:
        """Forget every global the user made; keep builtins and the injected API."""
        async with self._lock():
            await self.call(self._clear)

    # -- running work ----------------------------------------------------------
    async def execute(self, source: str) -> CellResult:
        """Run one cell (one at a time) and report it like Jupyter would."""
        async with self._lock():
            self.execution_count += 1
            count = self.execution_count
            try:
                cell = compile_cell(source, f"<cell {count}>")
            except SyntaxError as exc:
                return CellResult(None, "", "", False, cell_traceback(exc), count)
            outcome = await self.run(lambda: self._run_cell(cell), self.cell_timeout, f"cell {count}")
            shown: Shown | None = outcome.value
            if shown is None:
                return CellResult(None, outcome.stdout, outcome.stderr, outcome.success, outcome.error, count)
            return CellResult(shown.repr, outcome.stdout, outcome.stderr, outcome.success, outcome.error, count,
                              shown.picture, shown.picture_refused)

    async def _run_cell(self, cell: CompiledCell) -> Shown | None:
        self.namespace.update(self._views)
        for code in (cell.body, cell.last_expression):
            if code is None:
                continue
            value = eval(code, self.namespace)  # noqa: S307 - running the agent's code is the point
            if code.co_flags & inspect.CO_COROUTINE:
                value = await value
        if cell.last_expression is None or value is None:
            return None
        self.namespace["_"] = value
        # Drawn here, on the kernel thread inside the cell's time limit: the figure is the cell's object (a rule
        # may be changing it), and drawing a big one takes a while.
        try:
            return Shown(repr(value), cell_picture(value))
        except PictureRefused as exc:
            return Shown(repr(value), picture_refused=str(exc))

    async def run(self, work: Callable[[], Coroutine[Any, Any, Any]], timeout: float, label: str) -> Outcome:
        """Run `work()` on the kernel loop with captured output; stop it after `timeout` seconds."""
        run = _Run()
        self.loop.call_soon_threadsafe(self._start, run, work)
        waiting = asyncio.wrap_future(run.done)
        done, _ = await asyncio.wait({waiting}, timeout=timeout)
        attempts, wait = 0, INTERRUPT_FIRST_WAIT_SECONDS
        while not done and attempts < INTERRUPT_ATTEMPTS:
            attempts += 1
            if not self.guard.interrupt(run.token) and run.task is not None:
                self.loop.call_soon_threadsafe(run.task.cancel)
            done, _ = await asyncio.wait({waiting}, timeout=wait)
            wait = min(wait * 2, INTERRUPT_MAX_WAIT_SECONDS)
        stdout, stderr = run.sink.stdout.getvalue(), run.sink.stderr.getvalue()
        if not done:
            log.error("%s is stuck in a call that cannot be interrupted", label)
            return Outcome(None, stdout, stderr, f"{label} ran over {timeout:g} s and is stuck in a call "
                           "that cannot be interrupted (e.g. time.sleep); it keeps the kernel busy")
        value, exc = waiting.result()
        run.sink.closed = True
        if exc is None:
            return Outcome(value, stdout, stderr, None)
        if attempts and isinstance(exc, Interrupted | asyncio.CancelledError):
            return Outcome(None, stdout, stderr, f"Interrupted: {label} ran longer than {timeout:g} s "
                           "(weave.cell_timeout_seconds); globals are kept")
        return Outcome(None, stdout, stderr, cell_traceback(exc))

    def _start(self, run: _Run, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        async def runner() -> None:
            capture_into(run.sink)
            try:
                value = await guarded(work(), self.guard, run.token)
            except BaseException as exc:  # the kernel reports what user code raised; it never dies of it
                run.done.set_result((None, exc))
            else:
                run.done.set_result((value, None))

        run.task = self.loop.create_task(runner())

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run a plain function on the kernel thread (between steps of user code) and return its result."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                future.set_result(fn())
            except Exception as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return await asyncio.wrap_future(future)

    def _lock(self) -> asyncio.Lock:
        if self._cell_lock is None:
            self._cell_lock = asyncio.Lock()
        return self._cell_lock
