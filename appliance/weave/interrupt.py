"""Stopping Python code that runs too long on the kernel thread, without killing the kernel.

Cancelling an asyncio task only helps while the task is awaiting; a CPU-bound
`while True: pass` never gives the loop a chance. So every step of guarded
work runs inside `StepGuard.run_step`, and another thread may raise
`Interrupted` inside the kernel thread (PyThreadState_SetAsyncExc), but only
while that very step is running. The exception then surfaces from the
guarded coroutine, never inside the event loop's own code.
"""

from __future__ import annotations

import ctypes
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


class Interrupted(BaseException):
    """Raised inside guarded work that ran over its time limit.

    A BaseException, so `except Exception:` in a user's loop does not swallow it.
    """


def _checkpoint() -> None:
    """A Python call: the interpreter delivers a pending asynchronous exception on entry."""


class StepGuard:
    """Knows which piece of guarded work is executing on the kernel thread right now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: object | None = None
        self._thread_id: int | None = None

    def run_step(self, token: object, step: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self._running = token
            self._thread_id = threading.get_ident()
        try:
            return step(*args)
        finally:
            with self._lock:
                self._running = None
            # An interrupt aimed at this step that was not delivered yet lands here,
            # still inside the guarded coroutine, rather than in the event loop.
            _checkpoint()

    def interrupt(self, token: object) -> bool:
        """Raise Interrupted in the step of `token` if it is running now; True when sent."""
        with self._lock:
            if self._running is not token or self._thread_id is None:
                return False
            # The C API raises a class, not an instance; the caller knows the reason.
            return _set_async_exc(self._thread_id, Interrupted) == 1


@types.coroutine
def guarded(work: Coroutine[Any, Any, Any], guard: StepGuard, token: object) -> Generator[Any, Any, Any]:
    """Drive `work` one step at a time through `guard`, so `guard.interrupt(token)` can stop it."""
    send_value: Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                yielded = guard.run_step(token, work.send, send_value)
            else:
                yielded = guard.run_step(token, work.throw, error)
        except StopIteration as stop:
            return stop.value
        try:
            send_value, error = (yield yielded), None
        except GeneratorExit:
            work.close()
            raise
        except BaseException as exc:  # cancellation and anything else thrown in goes on to the work
            send_value, error = None, exc
