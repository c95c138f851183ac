"""A box recording the counter card: the starting point of every capture scenario."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.cas import ContentStore
from appliance.cli.box_link import BoxUnreachable, ToolError
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
        """Until the stream is recording and its head has moved `seconds` of audio past where it is then.

        A restart moves the head across the gap at once, so the head is read
        only once chaosgarden itself says it records the stream again.
        """
        wait_until(self._recording, timeout=timeout, interval=0.05)
        target = self.status()["head_sample"] + int(seconds * RATE)
        wait_until(lambda: self._status().get("head_sample", -1) >= target, timeout=timeout, interval=0.05)

    def _recording(self) -> bool:
        try:
            garden = {s.uri: s.running for s in self.box.link.garden_streams(timeout=2)}
        except (BoxUnreachable, ToolError):
            return False
        return garden.get(self.uri, False) and self._status().get("state") == "recording"

    def _status(self) -> dict:
        try:
            return self.status()
        except (BoxUnreachable, ToolError):  # hootenanny restarting: ask again
            return {}

    def stop_and_read(self) -> Recording:
        self.box.call("stream_stop", uri=self.uri)
        return Recording.load(self.box.data_dir, self.uri, self.channels)

    def bad_content(self) -> int:
        """Sealed files anywhere in the store whose name is not their hash."""
        report = ContentStore(self.box.data_dir / "cas").verify()
        return len(report.mismatched) + len(report.unreadable)


@contextmanager
def recording_rig(root: Path, channels: int = CHANNELS, chunk_seconds: float = 1.0,
                  extra_env: dict[str, str] | None = None, data_dir: Path | None = None,
                  create: bool = True) -> Iterator[Rig]:
    """`studio up` with the counter card recording into `stream://faults/card` (made and started when `create`)."""
    card = CounterCard(root / "in.fifo", channels=channels).start()
    box = Box(root, card.path, extra_env=extra_env or {}, data_dir=data_dir)
    try:
        box.start()
        if create:
            _create(box, channels, chunk_seconds)
        rig = Rig(box, card, channels=channels)
        rig.wait_recorded(1.0)
        yield rig
    except BaseException:
        print(f"--- the box's log (last 6000 characters) ---\n{box.log()[-6000:]}")
        raise
    finally:
        box.stop()
        card.stop()


def _create(box: Box, channels: int, chunk_seconds: float) -> None:
    box.call("stream_create", uri=URI, device=PCM_NAME, sample_format="s32", channels=channels,
             chunk_samples=int(chunk_seconds * RATE))  # period: the default 1024, as the card writes
    box.call("stream_start", uri=URI)
