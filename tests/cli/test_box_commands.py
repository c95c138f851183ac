"""The SSH maintenance commands against a running box on the embedded default (sim streams)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import soundfile

from appliance.cas import ContentStore
from appliance.cli.box_link import BoxLink
from tests.cli.conftest import studio
from tests.support.garden import wait_until
from tests.support.stack import Stack


def test_status_sees_all_three_and_what_records(box: Stack):
    out = studio("status", "--json", env=box.env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [(s["name"], s["answering"]) for s in report["services"]] == [
        ("chaosgarden", True), ("hootenanny", True), ("vibeweaver", True)]
    streams = {s["uri"]: s for s in report["streams"]}
    assert streams["stream://sim/audio"]["state"] == "recording"
    assert {"head_sample", "xruns", "last_error"} <= set(streams["stream://sim/audio"])
    assert report["disk"]["path"] == str(box.data_dir) and report["disk"]["free_bytes"] > 0
    assert "sim" in [d["id"] for d in report["devices"]]


def test_status_for_people(box: Stack):
    out = studio("status", env=box.env)
    assert out.returncode == 0, out.stderr
    for word in ("chaosgarden", "hootenanny", "vibeweaver", "stream://sim/audio", "recording", "disk"):
        assert word in out.stdout


def test_streams_and_devices_as_json(box: Stack):
    streams = studio("streams", "--json", env=box.env)
    assert streams.returncode == 0, streams.stderr
    assert {s["uri"] for s in json.loads(streams.stdout)} == {"stream://sim/audio", "stream://sim/midi"}
    devices = studio("device", "list", "--json", env=box.env)
    assert devices.returncode == 0, devices.stderr
    assert json.loads(devices.stdout)[0]["id"] == "sim"


def test_sessions_lists_a_session(box: Stack):
    created = BoxLink(box.run_dir).call("session_create", {"streams": ["stream://sim/audio"], "name": "cli test"})
    out = studio("sessions", "--json", env=box.env)
    assert out.returncode == 0, out.stderr
    listed = {s["session"]: s for s in json.loads(out.stdout)}
    assert listed[created["session"]]["name"] == "cli test"
    table = studio("sessions", env=box.env)
    assert created["session"] in table.stdout


def test_slice_writes_the_artifact_to_a_file(box: Stack, tmp_path: Path):
    link = BoxLink(box.run_dir)
    wait_until(lambda: link.call("stream_status", {"uri": "stream://sim/audio"})["streams"][0]["head_sample"]
               > 3 * 48000, interval=0.05)
    target = tmp_path / "out.wav"
    out = studio("slice", "stream://sim/audio", "--start", '{"seconds_ago": 2}', "--end", "now", "-o", str(target),
                 "--json", env=box.env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    first, last = result["sample_range"]
    info = soundfile.info(str(target))
    assert (info.samplerate, info.channels, info.frames) == (48000, 2, last - first) == (48000, 2, 2 * 48000)
    assert target.read_bytes() == ContentStore(box.data_dir / "cas").path(result["content_hash"]).read_bytes()


def test_slice_refuses_a_bad_time_point_and_an_existing_file(box: Stack, tmp_path: Path):
    bad = studio("slice", "stream://sim/audio", "--start", "ten seconds ago", "-o", str(tmp_path / "x.wav"),
                 env=box.env)
    assert bad.returncode == 2 and "--start" in bad.stderr and "seconds_ago" in bad.stderr
    (tmp_path / "x.wav").write_bytes(b"mine")
    exists = studio("slice", "stream://sim/audio", "--start", '{"seconds_ago": 1}', "-o", str(tmp_path / "x.wav"),
                    env=box.env)
    assert exists.returncode == 2 and "--force" in exists.stderr
    assert (tmp_path / "x.wav").read_bytes() == b"mine"


def test_slice_of_an_unknown_stream_says_so(box: Stack, tmp_path: Path):
    out = studio("slice", "stream://nope/x", "--start", '{"seconds_ago": 1}', "-o", str(tmp_path / "x.wav"),
                 env=box.env)
    assert out.returncode == 1 and "stream://nope/x" in out.stderr


def test_slice_as_flac_of_one_channel(box: Stack, tmp_path: Path):
    target = tmp_path / "kick.flac"
    out = studio("slice", "stream://sim/audio", "--start", '{"seconds_ago": 1}', "-o", str(target), "--channels", "1",
                 "--format", "flac", "--sample-format", "s24", env=box.env)
    assert out.returncode == 0, out.stderr
    info = soundfile.info(str(target))
    assert (info.format, info.subtype, info.channels, info.frames) == ("FLAC", "PCM_24", 1, 48000)
    bad = studio("slice", "stream://sim/audio", "--start", '{"seconds_ago": 1}', "-o", str(tmp_path / "x.wav"),
                 "--channels", "one", env=box.env)
    assert bad.returncode == 2 and "--channels" in bad.stderr


def test_export_writes_a_session_as_named_stems(box: Stack, tmp_path: Path):
    link = BoxLink(box.run_dir)
    link.call("stream_update", {"uri": "stream://sim/audio", "channel_names": {"0": "left"}})
    session = link.call("session_create", {"streams": ["stream://sim/audio", "stream://sim/midi"]})["session"]
    link.call("session_play", {"session": session})
    wait_until(lambda: link.call("session_status", {"session": session})["segments"], interval=0.05)
    time.sleep(1.0)
    link.call("session_stop", {"session": session})
    folder = tmp_path / "take"
    out = studio("export", session, "-o", str(folder), "--stems", "--format", "flac", "--sample-format", "s16",
                 "--json", env=box.env)
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)
    assert sorted(p.name for p in folder.iterdir()) == ["sim-audio-ch1.flac", "sim-audio-left.flac", "sim-midi.mid"]
    left = next(f for f in files if f["name"] == "sim-audio-left.flac")
    assert soundfile.info(left["path"]).channels == 1 and left["channels"] == [0]
    again = studio("export", session, "-o", str(folder), "--stems", "--format", "flac", "--sample-format", "s16",
                   env=box.env)
    assert again.returncode == 2 and "--force" in again.stderr


def test_eval_prints_output_and_result(box: Stack):
    out = studio("eval", 'print("hello from the kernel"); 6 * 7', env=box.env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["hello from the kernel", "42"]


def test_eval_from_stdin_keeps_globals(box: Stack):
    assert studio("eval", "-", env=box.env, stdin="kept = 'yes'\n").returncode == 0
    out = studio("eval", "kept", "--json", env=box.env)
    assert json.loads(out.stdout)["result"] == "'yes'"


def test_eval_failure_exits_1_with_the_error(box: Stack):
    out = studio("eval", "1 / 0", env=box.env)
    assert out.returncode == 1
    assert "ZeroDivisionError" in out.stderr
