import pytest

from appliance.cas import ContentStore
from appliance.services.capture.manifest import ClockSnapshot
from appliance.services.slicing.timepoints import (
    ALLOWED_FORMS,
    Now,
    SampleAt,
    SecondsAgo,
    SessionEnd,
    SessionStart,
    TimePointError,
    WallTime,
    parse_time_point,
    resolve_window,
    sample_at_realtime,
)
from tests.services.slice_fixtures import NS, T0_NS, StreamBuilder, definition

RATE = 48000
T0_ISO = "2026-11-18T11:06:40Z"  # T0_NS


@pytest.fixture
def store(tmp_path) -> ContentStore:
    return ContentStore(tmp_path / "cas")


def stream(store, seconds=4, clocks=None):
    """`seconds` of silence-free s16 mono in 1 s chunks; clocks as (sample, realtime seconds after T0)."""
    build = StreamBuilder(store, definition("s16", channels=1, rate=RATE, chunk=RATE))
    build.chunks(b"\x01\x00" * RATE * seconds, RATE)
    if clocks is not None:
        build.manifest.clocks = [snap(s, t) for s, t in clocks]
    return build.manifest


def snap(sample, seconds, reason="chunk"):
    return ClockSnapshot(sample=sample, monotonic_ns=sample, realtime_ns=T0_NS + round(seconds * NS), reason=reason)


# -- parsing -----------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("now", Now()),
    ({"seconds_ago": 30}, SecondsAgo(seconds_ago=30)),
    ({"seconds_ago": 0.25}, SecondsAgo(seconds_ago=0.25)),
    ({"sample": 123456}, SampleAt(sample=123456)),
    ({"session_start": {"session": "s1", "segment": 2}}, SessionStart(session_start={"session": "s1", "segment": 2})),
    ({"session_end": {"session": "s1"}}, SessionEnd(session_end={"session": "s1"})),
])
def test_every_form_parses(value, expected):
    assert parse_time_point(value, "start") == expected


def test_wall_time_parses_with_any_timezone():
    utc = parse_time_point({"wall_time": "2026-11-21T10:00:00Z"}, "start")
    shifted = parse_time_point({"wall_time": "2026-11-21T11:00:00+01:00"}, "start")
    assert isinstance(utc, WallTime) and utc.wall_time == shifted.wall_time


@pytest.mark.parametrize(("value", "message"), [
    ({"seconds_ago": -3}, "start: seconds_ago must be >= 0 (got -3)"),
    ({"seconds_ago": "30"}, "start: seconds_ago must be a number (got '30')"),
    ({"seconds_ago": float("inf")}, "start: seconds_ago must be a finite number"),
    ({"wall_time": "yesterday"}, "start: wall_time must be an ISO 8601 time with a timezone"),
    ({"wall_time": "2026-11-21T10:00:00"}, "start: wall_time must be an ISO 8601 time with a timezone"),
    ({"wall_time": 1700000000}, "start: wall_time must be an ISO 8601 time with a timezone"),
    ({"sample": -1}, "start: sample must be >= 0 (got -1)"),
    ({"sample": 1.5}, "start: sample must be an integer (got 1.5)"),
    ({"sample": True}, "start: sample must be an integer (got True)"),
    ({"session_start": {"segment": 1}}, "start: session_start.session is required"),
    ({"session_start": {"session": ""}}, "start: session_start.session must not be empty"),
    ({"session_end": {"session": "s", "segment": -1}}, "start: session_end.segment must be >= 0 (got -1)"),
    ({"session_end": {"session": "s", "take": 1}}, "start: session_end.take is not an allowed field"),
    ({"minutes_ago": 3}, "start: unknown time point {'minutes_ago': 3}"),
    ({"sample": 1, "seconds_ago": 2}, "start: unknown time point"),
    ("later", "start: unknown time point 'later'"),
    (None, "start: unknown time point None"),
    (42, "start: unknown time point 42"),
])
def test_bad_time_points_name_the_field_and_list_the_forms(value, message):
    with pytest.raises(TimePointError) as err:
        parse_time_point(value, "start")
    assert message in str(err.value)
    assert str(err.value).endswith(f"allowed: {ALLOWED_FORMS}")


# -- resolving ---------------------------------------------------------------

def test_sample_and_now(store):
    manifest = stream(store)
    assert resolve_window({"sample": 1000}, "now", manifest) == (1000, 4 * RATE)


def test_seconds_ago_follows_the_nominal_rate_past_the_last_snapshot(store):
    manifest = stream(store, clocks=[(0, 0.0)])
    now = T0_NS + 4 * NS
    assert resolve_window({"seconds_ago": 3}, {"seconds_ago": 0.5}, manifest, now_realtime_ns=now) == (RATE, 3.5 * RATE)


def test_wall_time_on_a_snapshot_is_its_sample(store):
    manifest = stream(store)  # snapshots at every chunk boundary, nominal rate
    start, end = resolve_window({"wall_time": T0_ISO}, {"wall_time": "2026-11-18T11:06:42Z"}, manifest)
    assert (start, end) == (0, 2 * RATE)


def test_interpolates_between_snapshots_around_the_instant(store):
    # CLOCK_REALTIME ran 0.05 % fast against the sample clock between these two snapshots.
    manifest = stream(store, clocks=[(0, 0.0), (2 * RATE, 2.001)])
    assert sample_at_realtime(manifest, T0_NS + NS) == round(RATE * 2 / 2.001)
    assert sample_at_realtime(manifest, T0_NS + 2_001_000_000) == 2 * RATE


def test_nearest_snapshot_at_or_before_is_the_pin(store):
    manifest = stream(store, clocks=[(0, 0.0), (RATE, 1.0), (2 * RATE, 2.5)])
    assert sample_at_realtime(manifest, T0_NS + NS // 2) == RATE // 2
    assert sample_at_realtime(manifest, T0_NS + 2 * NS) == RATE + RATE * 2 // 3


def test_before_the_first_snapshot_extrapolates_from_it(store):
    manifest = stream(store, clocks=[(RATE, 1.0)])
    assert sample_at_realtime(manifest, T0_NS + NS // 4) == RATE // 4


def test_a_gap_is_not_interpolated_across(store):
    build = StreamBuilder(store, definition("s16", channels=1, rate=RATE, chunk=RATE))
    build.chunk(b"\x01\x00" * RATE)
    build.gap(RATE, realtime_ns=T0_NS + 3 * NS)  # away 2 s, but the gap covers only 1 s of frames
    build.chunk(b"\x01\x00" * RATE)
    manifest = build.manifest
    assert sample_at_realtime(manifest, T0_NS + 3 * NS // 2) == RATE + RATE // 2  # from the pin before the gap
    assert sample_at_realtime(manifest, T0_NS + 5 * NS // 2) == 2 * RATE  # never past the next pin
    assert sample_at_realtime(manifest, T0_NS + 7 * NS // 2) == 2 * RATE + RATE // 2


def test_no_snapshots_means_no_wall_clock(store):
    manifest = stream(store, clocks=[])
    with pytest.raises(TimePointError, match=r'start: stream://test/main has no clock snapshots yet; use \{"sample": n\}'):
        resolve_window({"seconds_ago": 1}, "now", manifest)


@pytest.mark.parametrize(("start", "end", "message"), [
    ({"sample": 4 * RATE + 1}, "now", r'start: \{"sample":192001\} is sample 192001, outside the recording of '
                                      r"stream://test/main \(available: samples 0 to 192000\)"),
    ({"seconds_ago": 10}, "now", r'start: \{"seconds_ago":10.0\} is sample -288000, outside'),
    ({"sample": 0}, {"wall_time": "2026-11-18T11:07:00Z"}, r"end: .* is sample 960000, outside"),
    ({"sample": 500}, {"sample": 500}, r"end: sample 500 is not after start \(sample 500\)"),
    ("now", {"sample": 10}, r"end: sample 10 is not after start \(sample 192000\)"),
])
def test_out_of_range_and_backwards_windows(store, start, end, message):
    manifest = stream(store)
    with pytest.raises(TimePointError, match=message):
        resolve_window(start, end, manifest, now_realtime_ns=T0_NS + 4 * NS)


def test_range_starts_at_the_oldest_chunk_kept(store):
    manifest = stream(store)
    del manifest.chunks[0]
    with pytest.raises(TimePointError, match=r"available: samples 48000 to 192000"):
        resolve_window({"sample": 0}, "now", manifest)


def test_empty_stream_has_nothing_to_slice(store):
    build = StreamBuilder(store, definition("s16"))
    with pytest.raises(TimePointError, match=r"available: nothing yet"):
        resolve_window({"sample": 0}, {"sample": 1}, build.manifest)


def test_midi_timeline_runs_from_start_to_stop_snapshots(store):
    build = StreamBuilder(store, definition(kind="midi"))
    build.midi_chunk([(5000, b"\x90\x3c\x64"), (9000, b"\x80\x3c\x00")])
    build.position = 20000
    build.clock("stop")
    assert resolve_window({"sample": 0}, "now", build.manifest) == (0, 20000)


def test_session_edges_go_through_the_sessions_lookup(store):
    manifest = stream(store)
    calls = []

    def edge(session, segment, which, uri):
        calls.append((session, segment, which, uri))
        return {"start": 1000, "end": 9000}[which]

    window = resolve_window({"session_start": {"session": "s1", "segment": 0}}, {"session_end": {"session": "s1"}},
                            manifest, session_edge=edge)
    assert window == (1000, 9000)
    assert calls == [("s1", 0, "start", "stream://test/main"), ("s1", None, "end", "stream://test/main")]


def test_session_edges_without_a_lookup_are_an_error(store):
    with pytest.raises(TimePointError, match="start: session time points are not available here"):
        resolve_window({"session_start": {"session": "s1"}}, "now", stream(store))


# -- "now" and windows on the wall clock ---------------------------------------

def test_now_is_the_request_and_a_wall_clock_window_has_its_length_to_the_sample(store):
    # The clocks disagree with the nominal rate by a few samples (jitter and drift): interpolation alone would
    # make "the last 1.5 s" 72 003 samples long.
    manifest = stream(store, clocks=[(0, 0.0), (RATE, 1.00004), (2 * RATE, 2.0), (3 * RATE + 5, 3.0)])
    arrived = T0_NS + round(3.5 * NS)  # the request; the head (4 s recorded) is past it
    first, last = resolve_window({"seconds_ago": 1.5}, "now", manifest, now_realtime_ns=arrived)
    assert last == 3 * RATE + 5 + RATE // 2  # "now": the moment of the request, through the newest clock
    assert last - first == round(1.5 * RATE)
    start, end = resolve_window({"wall_time": "2026-11-18T11:06:40.5Z"}, {"wall_time": "2026-11-18T11:06:41.75Z"},
                                manifest, now_realtime_ns=arrived)
    assert end - start == round(1.25 * RATE)


def test_now_on_a_stopped_stream_is_where_it_stopped(store):
    manifest = stream(store, clocks=[(0, 0.0), (4 * RATE, 4.0)])
    hour_later = T0_NS + 3600 * NS
    assert resolve_window({"sample": RATE}, "now", manifest, now_realtime_ns=hour_later) == (RATE, 4 * RATE)
    with pytest.raises(TimePointError, match=r"start: \{\"seconds_ago\":3.0\} is sample .* outside the recording"):
        resolve_window({"seconds_ago": 3}, "now", manifest, now_realtime_ns=hour_later)
