"""Broadcast-to-KernelState latency, against a bare pyzmq PUB->SUB hop measured in the same run.

Ours: a beat tick published as hootenanny does (HOOT01 frames, Cap'n Proto
body) through a SUB socket into vibeweaver's Subscriber and Weaver, until
KernelState holds the new beat (1 000 rules indexed, none due, so matching
runs too). Peer: the same ipc hop with raw bytes and nothing decoded. One
message in flight at a time, so each sample is a latency. Target p99 < 5 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import zmq
import zmq.asyncio

from appliance.config import load_config
from appliance.proto.endpoints import ipc
from appliance.proto.pubsub import Publisher, Subscriber
from appliance.proto.transport_messages import BeatTick
from appliance.weave.rules import Rule
from appliance.weave.weaver import Weaver
from bench.report import figure

SAMPLES = 3_000
WARMUP = 200
TARGET_P99_MS = 5.0
RULES = 1_000
FIRST_BEAT = 1_000_000.5


async def connected(ctx: zmq.asyncio.Context, endpoint: str) -> tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]:
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    pub.bind(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    while True:  # slow joiner: wait until the subscription reached the publisher
        await pub.send_multipart([b"beat.probe", b""])
        if await sub.poll(10):
            await sub.recv_multipart()
            return pub, sub


async def ours(ctx: zmq.asyncio.Context, run: Path, weaver: Weaver) -> list[float]:
    pub, sub = await connected(ctx, ipc(run, "ours.sock"))
    publisher = Publisher(pub, "hootenanny")
    subscriber = Subscriber(sub, ("beat.",))
    samples = []
    for i in range(WARMUP + SAMPLES):
        beat = FIRST_BEAT + i * 0.001  # stays short of the next bar line: matching runs, nothing fires
        start = time.perf_counter()
        publisher.publish("beat.tick", BeatTick.KIND, BeatTick(beat=beat, tempo_bpm=120.0, sample=i, monotonic_ns=0,
                                                               realtime_ns=0))
        broadcast, _ = await subscriber.receive()
        weaver.on_broadcast(broadcast)
        if weaver.state.beat != beat:
            raise SystemExit("weave_broadcast: KernelState did not take the tick")
        samples.append(time.perf_counter() - start)
    return samples[WARMUP:]


async def peer(ctx: zmq.asyncio.Context, run: Path) -> list[float]:
    pub, sub = await connected(ctx, ipc(run, "peer.sock"))
    samples = []
    payload = bytes(96)
    for _ in range(WARMUP + SAMPLES):
        start = time.perf_counter()
        await pub.send_multipart([b"beat.tick", payload])
        await sub.recv_multipart()
        samples.append(time.perf_counter() - start)
    return samples[WARMUP:]


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] * 1e3


async def measure(root: Path) -> tuple[list[float], list[float]]:
    config = load_config(files=(), environ={"STUDIO_DATA_DIR": str(root / "data")})
    weaver = Weaver(config, request=None)  # type: ignore[arg-type]
    weaver.scheduler.load(Rule.make("bench", f"r{i}", {"type": "beat", "every": 4 * (i % 8 + 1)},
                                    {"type": "notify", "message": "x"}) for i in range(RULES))
    weaver.scheduler.match_beat(FIRST_BEAT - 0.1)
    ctx = zmq.asyncio.Context()
    try:
        run = root / "run"
        run.mkdir()
        return await ours(ctx, run, weaver), await peer(ctx, run)
    finally:
        weaver.store.close()
        ctx.destroy(linger=0)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-weave-", dir="/tmp") as tmp:
        ours_s, peer_s = asyncio.run(measure(Path(tmp)))
    figure("weave broadcast->KernelState p50", statistics.median(ours_s) * 1e3, statistics.median(peer_s) * 1e3,
           "bare pyzmq PUB->SUB", "ms", higher_is_better=False)
    figure("weave broadcast->KernelState p99", p99(ours_s), p99(peer_s), "bare pyzmq PUB->SUB", "ms",
           higher_is_better=False)
    verdict = "ok" if p99(ours_s) < TARGET_P99_MS else "ABOVE target"
    print(f"weave broadcast->KernelState p99 {p99(ours_s):.3f} ms vs target {TARGET_P99_MS:g} ms: {verdict}",
          flush=True)


if __name__ == "__main__":
    main()
