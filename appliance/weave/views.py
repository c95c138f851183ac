"""Read-only live views the kernel injects as `beat`, `transport` and `timeline`.

They read KernelState when used, so a cell that awaits sees the beat move.
The kernel restores them before every cell, so assigning to the name does
not stick.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from appliance.weave.broadcast_state import KernelState


class Beat:
    """The current beat as a number: `beat`, `beat + 4`, `beat // 4`, `float(beat)`."""

    def __init__(self, state: KernelState) -> None:
        self._state = state

    def __float__(self) -> float:
        return float(self._state.beat)

    def __int__(self) -> int:
        return int(self._state.beat)

    def __round__(self, ndigits: int | None = None) -> float:
        return round(float(self), ndigits)

    def __repr__(self) -> str:
        return repr(float(self))

    def __format__(self, spec: str) -> str:
        return format(float(self), spec)

    def __hash__(self) -> int:
        return hash(float(self))

    @property
    def bar(self) -> int:
        """The bar number (4/4), counting from 0."""
        return int(float(self) // 4)


def _binary(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[[Beat, Any], Any]:
    def method(self: Beat, other: Any) -> Any:
        if isinstance(other, Beat):
            other = float(other)
        return op(other, float(self)) if reflected else op(float(self), other)
    return method


for _name, _op in {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
                   "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow}.items():
    setattr(Beat, f"__{_name}__", _binary(_op))
    setattr(Beat, f"__r{_name}__", _binary(_op, reflected=True))
for _name, _op in {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
                   "eq": operator.eq, "ne": operator.ne}.items():
    setattr(Beat, f"__{_name}__", _binary(_op))
setattr(Beat, "__neg__", lambda self: -float(self))


class Transport:
    """The beat clock as the box last reported it."""

    def __init__(self, state: KernelState) -> None:
        self._state = state

    @property
    def state(self) -> str:
        return self._state.transport

    @property
    def playing(self) -> bool:
        return self._state.transport == "playing"

    @property
    def tempo(self) -> float:
        return self._state.tempo_bpm

    @property
    def beat(self) -> float:
        return self._state.beat

    def __repr__(self) -> str:
        return f"Transport(state={self.state!r}, tempo={self.tempo:g}, beat={self.beat:g})"


class Timeline:
    """Markers of the session and what this kernel scheduled, with the current beat (regions() asks the box)."""

    def __init__(self, state: KernelState, markers: Callable[[], list[Any]], regions: Callable[[], list[Any]]) -> None:
        self._state = state
        self._markers = markers
        self._regions = regions

    @property
    def beat(self) -> float:
        return self._state.beat

    @property
    def markers(self) -> list[dict[str, Any]]:
        return [{"name": m.name, "beat": m.beat, "metadata": m.metadata} for m in self._markers()]

    @property
    def regions(self) -> list[dict[str, Any]]:
        return list(self._regions())

    def __repr__(self) -> str:
        return f"Timeline(beat={self.beat:g}, markers={len(self._markers())}, regions={len(self._regions())})"
