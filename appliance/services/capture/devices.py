"""The device registry: sound cards and raw MIDI ports the box has seen, connected or not.

Fed by udev through `studio device added|removed` (a `deviceNotice` request)
and by a scan of the kernel's sound nodes when hootenanny starts, so a
device plugged in before the box started, or while hootenanny was down, is
listed, and one that left meanwhile is not shown as connected. Always lists
the simulated Eurorack (`sim`). An id from here is what an agent gives
`stream_create` as `device`; `resolve` turns it into what chaosgarden opens.
`list` answers `device_list`.
"""

from __future__ import annotations

import logging
import sqlite3

from pydantic import Field

from appliance.proto.stream_messages import DeviceNotice
from appliance.services.results import ResultModel
from appliance.services.store.catalog import now_ns

log = logging.getLogger(__name__)


class DeviceInfo(ResultModel):
    id: str = Field(description="what stream_create takes as device")
    kind: str = Field(description="audio, midi, or audio+midi (the simulated Eurorack)")
    alsa_name: str
    dev_path: str
    connected: bool


class DeviceList(ResultModel):
    devices: list[DeviceInfo]


SIM = DeviceInfo(id="sim", kind="audio+midi", alsa_name="sim", dev_path="", connected=True)


class DeviceRegistry:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def seen(self, notice: DeviceNotice) -> None:
        """udev's news of one device; an `added` one is connected, a `removed` one is not."""
        self._keep(notice.device_id, notice.kind.value, notice.alsa_name, notice.dev_path, notice.action == "added")

    def _keep(self, device_id: str, kind: str, alsa_name: str, dev_path: str, connected: bool) -> None:
        self.db.execute(
            "INSERT INTO devices (id, kind, alsa_name, dev_path, connected, last_seen_ns) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, alsa_name=excluded.alsa_name,"
            " dev_path=excluded.dev_path, connected=excluded.connected, last_seen_ns=excluded.last_seen_ns",
            (device_id, kind, alsa_name, dev_path, int(connected), now_ns()))

    def rescan(self, present: list[DeviceNotice]) -> None:
        """Take the nodes present now (sound_devices.present) as the truth: they are connected, the rest are not."""
        for notice in present:
            self._keep(notice.device_id, notice.kind.value, notice.alsa_name, notice.dev_path, True)
        here = {notice.device_id for notice in present}
        for row in self.db.execute("SELECT id FROM devices WHERE connected=1").fetchall():
            if row["id"] not in here:
                self.db.execute("UPDATE devices SET connected=0 WHERE id=?", (row["id"],))
        log.info("devices present: %s", ", ".join(sorted(here)) or "none (only the simulated Eurorack)")

    def list(self) -> list[DeviceInfo]:
        rows = self.db.execute("SELECT id, kind, alsa_name, dev_path, connected FROM devices ORDER BY id")
        return [SIM] + [DeviceInfo(id=r["id"], kind=r["kind"], alsa_name=r["alsa_name"], dev_path=r["dev_path"],
                                   connected=bool(r["connected"])) for r in rows]

    def resolve(self, device: str) -> str:
        """What chaosgarden opens for `device`: a registry id's ALSA name (or MIDI node); anything else as given."""
        row = self.db.execute("SELECT alsa_name FROM devices WHERE id=?", (device,)).fetchone()
        return row["alsa_name"] if row is not None else device

    def connected(self, device: str) -> bool | None:
        """Whether the registry knows `device` (by id or ALSA name) to be connected; None when it does not know it."""
        if device == "sim":
            return True
        row = self.db.execute("SELECT connected FROM devices WHERE id=? OR alsa_name=? ORDER BY connected DESC",
                              (device, device)).fetchone()
        return None if row is None else bool(row["connected"])
