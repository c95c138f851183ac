"""A box recording the counter card: the starting point of every capture scenario."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.cas import ContentStore
from tests.faults.box import Box
from tests.faults.counter_card import CHANNELS, RATE, CounterCard
from tests.faults.recording import Recording
from tests.support.alsa import PCM_NAME
from tests.support.garden import wait_until

URI = "stream://faults/card"


@dataclass
class Rig:
    box: Box
    card: CounterCard
    uri: str = URI
    channels: int = CHANNELS

    def status(self) -> dict:
        return self.box.call("stream_status", uri=self.uri)["streams"][0]

    def wait_recorded(self, seconds: float, timeout: float = 120.0) -> None:
        """Until the stream's sealed head has moved `seconds` past where it is now."""
        target = self.status()["head_sample"] + int(seconds * RATE)
        wait_until(lambda: self._head() >= target, timeout=timeout, interval=0.1)

    def _head(self) -> int:
        try:
            return self.status()["head_sample"]
        except Exception:  # hootenanny restarting: ask again
            return -1

    def stop_and_read(self) -> Recording:
        self.box.call("stream_stop", uri=self.uri)
        return Recording.load(self.box.data_dir, self.uri, self.channels)

    def bad_content(self) -> int:
        """Sealed files anywhere in the store whose name is not their hash."""
        report = ContentStore(self.box.data_dir / "cas").verify()
        return len(report.mismatched) + len(report.unreadable)


@contextmanager
def recording_rig(root: Path, channels: int = CHANNELS, chunk_seconds: float = 1.0,
                  extra_env: dict[str, str] | None = None, data_dir: Path | None = None) -> Iterator[Rig]:
    """`studio up` with the counter card recording into `stream://faults/card`."""
    card = CounterCard(root / "in.fifo", channels=channels).start()
    box = Box(root, card.path, extra_env=extra_env or {}, data_dir=data_dir)
    try:
        box.start()
        box.call("stream_create", uri=URI, device=PCM_NAME, sample_format="s32", channels=channels,
                 chunk_samples=int(chunk_seconds * RATE))  # period: the default 1024, as the card writes
        box.call("stream_start", uri=URI)
        rig = Rig(box, card, channels=channels)
        rig.wait_recorded(1.0)
        yield rig
    finally:
        box.stop()
        card.stop()
