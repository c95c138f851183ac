"""chaosgarden locks what it maps: a stream that would lock more RAM than the budget is refused, with the figures."""

import os

import pytest

from appliance.config import RtConfig
from appliance.proto.channel import RequestError
from appliance.proto.stream_definition import StreamDefinition
from appliance.rt.memory_budget import MIB, budget_bytes, locked_by, refusal
from tests.support.garden import audio_definition, until


def definition(uri: str = "stream://a/b", channels: int = 2, chunk_samples: int = 131072) -> StreamDefinition:
    return StreamDefinition(uri=uri, device="sim", channels=channels, sample_format="s32",
                            chunk_samples=chunk_samples)


def test_a_stream_locks_its_chunks_and_its_ring():
    locked = locked_by(definition(channels=8), RtConfig(spare_chunks=3, ring_seconds=60))
    assert locked.chunks == 4 * 131072 * 32
    assert locked.ring == 60 * 48000 * 32
    assert locked.total == locked.chunks + locked.ring


def test_the_default_budget_is_half_the_memory():
    assert budget_bytes(RtConfig()) == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    assert budget_bytes(RtConfig(memory_budget_mb=64)) == 64 * MIB


def test_what_fits_passes_and_what_does_not_is_refused_with_the_figures():
    config = RtConfig(memory_budget_mb=64, ring_seconds=10, spare_chunks=3)
    small = definition("stream://a/small")  # 4 x 1 MiB chunks + a 3.7 MiB ring
    assert refusal(small, [], config) is None
    assert refusal(small, [definition("stream://a/other")] * 5, config) is None
    assert refusal(small, [definition("stream://a/other")] * 9, config) is not None  # the sum counts
    big = definition("stream://a/big", channels=32, chunk_samples=1 << 16)  # 4 x 8 MiB + a 58.6 MiB ring
    why = refusal(big, [], config)
    assert why.startswith("stream://a/big would lock 91 MiB of RAM (4 chunks of 8.0 MiB and a 10 s ring of 59 MiB)")
    assert "the budget is 64 MiB (rt.memory_budget_mb)" in why and "smaller chunk_samples" in why


@pytest.mark.parametrize("garden_env", [{"STUDIO_RT_MEMORY_BUDGET_MB": "64", "STUDIO_RT_RING_SECONDS": "10"}])
async def test_chaosgarden_refuses_a_stream_past_its_budget_and_records_the_rest(control, garden_env):
    big = audio_definition("stream://sim/big", "sim", "s32", channels=32, chunk=1 << 16)
    with pytest.raises(RequestError) as refused:
        await control.start(big)
    assert refused.value.code == "badRequest" and "rt.memory_budget_mb" in refused.value.message
    small = audio_definition("stream://sim/small", "sim", "s32")
    await control.start(small)
    await until(lambda: control.streams["stream://sim/small"].heads)
    states = await control.states(timeout=10, retries=0)
    assert [s.uri for s in states if s.running] == ["stream://sim/small"]
    await control.stop("stream://sim/small")
