"""The device registry: sound cards and raw MIDI ports the box has seen, connected or not.

Fed by udev through `studio device added|removed` (a `deviceNotice` request),
and always listing the simulated Eurorack (`sim`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from appliance.services.catalog import now_ns

SIM = {"id": "sim", "kind": "audio+midi", "alsa_name": "sim", "dev_path": "", "connected": True}


class DeviceRegistry:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def seen(self, device_id: str, kind: str, alsa_name: str, dev_path: str, connected: bool) -> None:
        self.db.execute(
            "INSERT INTO devices (id, kind, alsa_name, dev_path, connected, last_seen_ns) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, alsa_name=excluded.alsa_name,"
            " dev_path=excluded.dev_path, connected=excluded.connected, last_seen_ns=excluded.last_seen_ns",
            (device_id, kind, alsa_name, dev_path, int(connected), now_ns()))

    def list(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, kind, alsa_name, dev_path, connected FROM devices ORDER BY id")
        return [dict(SIM)] + [{**dict(r), "connected": bool(r["connected"])} for r in rows]
