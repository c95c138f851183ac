"""Time points (`start`, `end` of a slice) as agents write them, resolved to samples of one stream.

Samples are the authority: wall-clock forms are mapped through the stream's
CLOCK_REALTIME snapshots, and session edges through the sessions module.

"now" is the moment the request arrived (`now_realtime_ns`), mapped like any
wall-clock time; the caller waits for the recording to pass that moment
before it resolves (StreamService.wait_for_moment). A window whose two ends
are both wall-clock forms ("now", seconds_ago, wall_time) has exactly the
asked length in samples at the stream's rate: the end is mapped through the
clocks when it is "now" (else the start is), and the other end is that many
samples away. Clock drift within the window is the only error left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from appliance.proto.stream_definition import StreamKind
from appliance.services.capture.manifest import ClockSnapshot, Manifest

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ALLOWED_FORMS = ('"now" (the moment the request arrived), {"seconds_ago": 30}, '
                 '{"wall_time": "2026-11-21T10:00:00Z"}, {"sample": 123456}, {"session_start": {"session": id, "segment": n}}, {"session_end": {"session": id, "segment": n}} '
                 "(segment optional)")

Edge = Literal["start", "end"]
SessionEdge = Callable[[str, Union[int, None], Edge, str], int]
"""(session id, segment or None for the whole session, edge, stream uri) -> frame on that stream; its errors pass."""


class TimePointError(ValueError):
    """A time point that is malformed or does not fall on the stream's recording; names the field."""


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Now(_Form):
    """The moment the request arrived (on a stream that is not recording: the end of its recording)."""


class SecondsAgo(_Form):
    seconds_ago: float = Field(ge=0, strict=True, allow_inf_nan=False)


class WallTime(_Form):
    wall_time: datetime

    @field_validator("wall_time", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> datetime:
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError("must be an ISO 8601 time with a timezone, e.g. 2026-11-21T10:00:00Z")
        return moment


class SampleAt(_Form):
    sample: int = Field(ge=0, strict=True)


class SessionRef(_Form):
    session: str = Field(min_length=1)
    segment: int | None = Field(None, ge=0, strict=True)


class SessionStart(_Form):
    session_start: SessionRef


class SessionEnd(_Form):
    session_end: SessionRef


TimePoint = Union[Now, SecondsAgo, WallTime, SampleAt, SessionStart, SessionEnd]
_FORMS: dict[str, type[_Form]] = {"seconds_ago": SecondsAgo, "wall_time": WallTime, "sample": SampleAt,
                                  "session_start": SessionStart, "session_end": SessionEnd}


def parse_time_point(value: Any, field: str) -> TimePoint:
    """Validate one time point as JSON gives it; `field` ("start"/"end") prefixes every error."""
    if value == "now":
        return Now()
    form = _FORMS.get(next(iter(value)), None) if isinstance(value, dict) and len(value) == 1 else None
    if form is None:
        raise TimePointError(f"{field}: unknown time point {value!r}; allowed: {ALLOWED_FORMS}")
    try:
        return cast(TimePoint, form.model_validate(value))
    except ValidationError as exc:
        raise TimePointError(f"{field}: {_explain(exc)}; allowed: {ALLOWED_FORMS}") from None


_RULES = {
    "missing": "is required",
    "extra_forbidden": "is not an allowed field",
    "finite_number": "must be a finite number",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
}


def _explain(exc: ValidationError) -> str:
    """Pydantic's errors as `where rule (got value)`, joined."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        got = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {err['input']!r})"
        parts.append(f"{where} {_rule(err)}{got}")
    return "; ".join(parts)


def _rule(err: ErrorDetails) -> str:
    ctx = err.get("ctx", {})
    if err["type"] == "greater_than_equal":
        return f"must be >= {ctx['ge']:g}"
    if err["type"] == "value_error":
        return str(ctx["error"])
    return _RULES.get(err["type"], err["msg"])


def resolve_window(start: Any, end: Any, manifest: Manifest, *, now_realtime_ns: int | None = None,
                   session_edge: SessionEdge | None = None, span: tuple[int, int] | None = None) -> tuple[int, int]:
    """Parse and resolve `start` and `end` to the frame window [start, end) on the manifest's stream.

    The window must lie on `span` (default: the samples the manifest can read); the activity index, which
    outlives the audio, gives its own.
    """
    now = time.time_ns() if now_realtime_ns is None else now_realtime_ns
    span = available_range(manifest) if span is None else span
    start_point, end_point = parse_time_point(start, "start"), parse_time_point(end, "end")
    first = _on_recording(_frame_of(start_point, manifest, "start", now, session_edge), start_point, manifest,
                          "start", span)
    last = _on_recording(_frame_of(end_point, manifest, "end", now, session_edge), end_point, manifest, "end", span)
    since, until = moment_of(start_point, now), moment_of(end_point, now)
    if since is not None and until is not None and until > since and _mapped(last, end_point, manifest, now):
        length = _div_round((until - since) * manifest.definition.sample_rate, NS)
        if isinstance(end_point, Now):
            first = _on_recording(last - length, start_point, manifest, "start", span)
        else:
            last = _on_recording(first + length, end_point, manifest, "end", span)
    if last <= first:
        raise TimePointError(f"end: sample {last} is not after start (sample {first}); end must be later than start")
    return first, last


def moment_of(point: TimePoint, now_realtime_ns: int) -> int | None:
    """CLOCK_REALTIME a wall-clock form names ("now" is the request's arrival); None for sample and session forms."""
    if isinstance(point, Now):
        return now_realtime_ns
    if isinstance(point, SecondsAgo):
        return now_realtime_ns - round(point.seconds_ago * NS)
    if isinstance(point, WallTime):
        return _ns(point.wall_time)
    return None


def _mapped(frame: int, point: TimePoint, manifest: Manifest, now_realtime_ns: int) -> bool:
    """False when "now" stood for the end of a recording that had stopped before the request."""
    return not isinstance(point, Now) or not manifest.clocks or frame == _now_frame(manifest, now_realtime_ns)


def _on_recording(frame: int, point: TimePoint, manifest: Manifest, field: str,
                  span: tuple[int, int] | None = None) -> int:
    lo, hi = available_range(manifest) if span is None else span
    if not lo <= frame <= hi:
        available = f"samples {lo} to {hi}" if hi > lo else "nothing yet"
        raise TimePointError(f"{field}: {_describe(point)} is sample {frame}, outside the recording of "
                             f"{manifest.stream} (available: {available})")
    return frame


def resolve(point: TimePoint, manifest: Manifest, field: str, now_realtime_ns: int | None = None,
            session_edge: SessionEdge | None = None) -> int:
    """The frame `point` names on the manifest's stream, checked to lie on what was recorded."""
    return _on_recording(_frame_of(point, manifest, field, now_realtime_ns, session_edge), point, manifest, field)


def _frame_of(point: TimePoint, manifest: Manifest, field: str, now_realtime_ns: int | None,
              session_edge: SessionEdge | None) -> int:
    now = time.time_ns() if now_realtime_ns is None else now_realtime_ns
    if isinstance(point, Now):
        return _now_frame(manifest, now) if manifest.clocks else available_range(manifest)[1]
    if isinstance(point, SampleAt):
        return point.sample
    if isinstance(point, SessionStart | SessionEnd):
        return _session_frame(point, manifest, field, session_edge)
    moment = moment_of(point, now)
    assert moment is not None  # the wall-clock forms are left: seconds_ago and wall_time
    return sample_at_realtime(manifest, moment, field)


def _now_frame(manifest: Manifest, now_realtime_ns: int) -> int:
    """The frame of the request's arrival; the readable head when the recording ended before it."""
    return min(sample_at_realtime(manifest, now_realtime_ns, "now"), available_range(manifest)[1])


def _session_frame(point: SessionStart | SessionEnd, manifest: Manifest, field: str,
                   session_edge: SessionEdge | None) -> int:
    if session_edge is None:
        raise TimePointError(f"{field}: session time points are not available here (no session lookup)")
    if isinstance(point, SessionStart):
        return session_edge(point.session_start.session, point.session_start.segment, "start", manifest.stream)
    return session_edge(point.session_end.session, point.session_end.segment, "end", manifest.stream)


def available_range(manifest: Manifest) -> tuple[int, int]:
    """[first, head] samples a time point may name: from the oldest recorded sample to the readable head."""
    starts = [c.first_sample for c in manifest.chunks] + [g.start_sample for g in manifest.gaps]
    if manifest.live is not None:
        starts.append(manifest.live.first_sample)
    head = manifest.head_sample
    if manifest.definition.kind is StreamKind.MIDI:
        # MIDI chunks span only their events; the stream runs from the start to the stop snapshot.
        starts += [c.sample for c in manifest.clocks]
        head = max([head] + [c.sample for c in manifest.clocks])
    return min(starts, default=head), head


def realtime_at_sample(manifest: Manifest, sample: int) -> int | None:
    """CLOCK_REALTIME of frame `sample`, from the nearest snapshot at or before it (else the first); None
    without snapshots."""
    clocks = sorted(manifest.clocks, key=lambda c: c.sample)
    if not clocks:
        return None
    pins = [c for c in clocks if c.sample <= sample]
    pin = pins[-1] if pins else clocks[0]
    return pin.realtime_ns + _div_round((sample - pin.sample) * NS, manifest.definition.sample_rate)


def sample_at_realtime(manifest: Manifest, realtime_ns: int, field: str = "time") -> int:
    """The frame recorded at CLOCK_REALTIME `realtime_ns`, from the snapshots around it."""
    clocks = sorted(manifest.clocks, key=lambda c: c.sample)
    if not clocks:
        raise TimePointError(f"{field}: {manifest.stream} has no clock snapshots yet; use {{\"sample\": n}}")
    before = _nearest_before(clocks, realtime_ns)
    if before is None:
        return _extrapolate(clocks[0], realtime_ns, manifest)
    after = clocks[before + 1] if before + 1 < len(clocks) else None
    pin = clocks[before]
    if after is None or not pin.realtime_ns < realtime_ns <= after.realtime_ns or after.sample <= pin.sample:
        return _extrapolate(pin, realtime_ns, manifest)
    if _gap_between(manifest, pin.sample, after.sample):
        # The samples did not follow the sample clock across a gap: trust the pin, never pass the next one.
        return min(_extrapolate(pin, realtime_ns, manifest), after.sample)
    return pin.sample + _div_round((realtime_ns - pin.realtime_ns) * (after.sample - pin.sample),
                                   after.realtime_ns - pin.realtime_ns)


def _nearest_before(clocks: list[ClockSnapshot], realtime_ns: int) -> int | None:
    """Index of the latest snapshot taken at or before `realtime_ns`."""
    candidates = [i for i, c in enumerate(clocks) if c.realtime_ns <= realtime_ns]
    return max(candidates, key=lambda i: (clocks[i].realtime_ns, i), default=None)


def _extrapolate(pin: ClockSnapshot, realtime_ns: int, manifest: Manifest) -> int:
    return pin.sample + _div_round((realtime_ns - pin.realtime_ns) * manifest.definition.sample_rate, NS)


def _gap_between(manifest: Manifest, lo: int, hi: int) -> bool:
    return any(g.start_sample < hi and g.start_sample + g.samples > lo for g in manifest.gaps if g.samples)


def _div_round(num: int, den: int) -> int:
    """num / den rounded to the nearest integer (halves up), exact for any size of int."""
    return (2 * num + den) // (2 * den)


def _ns(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


def _describe(point: TimePoint) -> str:
    return '"now"' if isinstance(point, Now) else point.model_dump_json(exclude_none=True)
