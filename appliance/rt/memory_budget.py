"""What recording streams keep locked in RAM, and the budget that bounds it.

chaosgarden locks its memory (realtime.py), so every chunk it maps for a
stream (the live one and the spares hootenanny hands it) and every RAM ring
stays resident. One stream_create with 2 GiB chunks, or a ring of a minute
of 256 channels, would otherwise lock more than a Raspberry Pi has; a start
that would pass the budget is refused with the figures instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from appliance.config import RtConfig
from appliance.proto.stream_definition import StreamDefinition, StreamKind

MIB = 1 << 20
MIDI_RING_BYTES_PER_SECOND = 64 * 1024


@dataclass(frozen=True, slots=True)
class LockedMemory:
    """Bytes one recording keeps locked."""

    chunks: int
    ring: int

    @property
    def total(self) -> int:
        return self.chunks + self.ring


def ring_bytes(definition: StreamDefinition, config: RtConfig) -> int:
    """The RAM ring that holds `config.ring_seconds` of the stream when no chunk is ready."""
    if definition.kind is StreamKind.MIDI:
        return int(config.ring_seconds * MIDI_RING_BYTES_PER_SECOND)
    return int(config.ring_seconds * definition.sample_rate) * definition.frame_bytes


def locked_by(definition: StreamDefinition, config: RtConfig) -> LockedMemory:
    """The live chunk and its spares, mapped at once, and the ring."""
    return LockedMemory(chunks=(1 + config.spare_chunks) * definition.chunk_bytes,
                        ring=ring_bytes(definition, config))


def budget_bytes(config: RtConfig) -> int:
    """rt.memory_budget_mb, or half the machine's memory."""
    if config.memory_budget_mb is not None:
        return config.memory_budget_mb * MIB
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def refusal(new: StreamDefinition, recording: list[StreamDefinition], config: RtConfig) -> str | None:
    """Why recording `new` beside `recording` would pass the budget, with the figures; None when it fits."""
    wanted = locked_by(new, config)
    held = sum(locked_by(d, config).total for d in recording)
    budget = budget_bytes(config)
    if held + wanted.total <= budget:
        return None
    return (f"{new.uri} would lock {wanted.total / MIB:.0f} MiB of RAM ({1 + config.spare_chunks} chunks of "
            f"{new.chunk_bytes / MIB:.1f} MiB and a {config.ring_seconds:g} s ring of {wanted.ring / MIB:.0f} MiB) "
            f"beside {held / MIB:.0f} MiB for the {len(recording)} streams recording; the budget is "
            f"{budget / MIB:.0f} MiB (rt.memory_budget_mb). Use a smaller chunk_samples, or fewer channels, "
            f"or stop another stream")
