"""An export cut off by kill -9 of hootenanny: it fails clearly, leaves no artifact and no half-written file,
and the same export runs whole after the restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import soundfile

from appliance.cas import ContentStore
from tests.faults.box import Box
from tests.support.garden import wait_until

pytestmark = pytest.mark.faults

EXPORT = {"format": "flac", "sample_format": "s16"}  # encoded block by block: long enough to be cut off


def partials(box: Box) -> list[Path]:
    assert box.data_dir is not None
    return list((box.data_dir / "cas" / "staging").rglob("*.partial"))


def test_an_export_cut_off_by_kill_9_leaves_nothing_half_written(short_tmp: Path, figure: Any) -> None:
    box = Box(short_tmp, short_tmp / "unused.fifo", extra_env={"STUDIO_CAPTURE_SIM_STREAMS": "true"})
    try:
        box.start()
        session = box.call("session_create", streams=["stream://sim/audio"])["session"]
        box.call("session_play", session=session)
        time.sleep(30)
        box.call("session_stop", session=session)
        before = {a["id"] for a in box.call("artifact_list")["artifacts"]}
        outcome: dict[str, Any] = {}

        def export() -> None:
            try:
                outcome["result"] = box.call("session_export", timeout=120, session=session, **EXPORT)
            except Exception as exc:  # the request dies with hootenanny: what the caller is told is the point
                outcome["error"] = exc

        exporting = threading.Thread(target=export)
        exporting.start()
        wait_until(lambda: bool(partials(box)) or not exporting.is_alive(), timeout=60, interval=0.002)
        assert exporting.is_alive(), f"the export ended before it could be cut off: {outcome}"
        box.wait_restarted("hootenanny", box.kill("hootenanny"))
        exporting.join(120)
        box.wait_ready()
        figure.scenario = "kill -9 hootenanny in the middle of an export"
        figure("the export's caller told", str(outcome.get("error", "nothing"))[:80], ok="error" in outcome)
        assert "error" in outcome and "result" not in outcome
        new = [a for a in box.call("artifact_list")["artifacts"] if a["id"] not in before]
        figure("artifacts made by the cut-off export", len(new), target="0", ok=not new)
        figure("half-written files left", len(partials(box)), target="0", ok=not partials(box))
        assert not new and not partials(box)
        again = box.call("session_export", timeout=120, session=session, **EXPORT)["files"]
        assert box.data_dir is not None
        (file,) = again
        info = soundfile.info(str(ContentStore(box.data_dir / "cas").path(file["content_hash"])))
        assert info.format == "FLAC" and info.frames == file["sample_range"][1] - file["sample_range"][0]
    finally:
        box.stop()
