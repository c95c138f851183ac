"""The messages beyond the capture streams (beat clock, timeline, auditions, devices, jobs, artifacts): typed
values that round-trip through the codec under the schema's names, typed back by typed_bodies."""

import pytest

from appliance.proto import codec
from appliance.proto.artifact_messages import ArtifactCreated
from appliance.proto.audition_messages import Audition, AuditionReply
from appliance.proto.codec import Body
from appliance.proto.job_messages import JobEvent
from appliance.proto.stream_messages import DEVICE_EVENT, DeviceNotice
from appliance.proto.stream_definition import StreamKind
from appliance.proto.timeline_messages import (
    TIMELINE_LIST, TIMELINE_REMOVE, TIMELINE_REMOVED, TimelineContents, TimelineRegion, TimelineSnapshot,
)
from appliance.proto.transport_messages import (
    MARKER_REACHED, TRANSPORT_REPLY, BeatTick, LinkStatus, Marker, OutputStatus, TransportCommand,
    TransportStateChanged,
)
from appliance.proto.typed_bodies import typed_value

OUTPUT = OutputStatus(kind="midi", device="/dev/snd/midiC1D0", error="gone")
STATE = TransportStateChanged(state="playing", beat=4.5, tempo_bpm=133.0, sample=96000, monotonic_ns=1,
                              realtime_ns=2, outputs=(OUTPUT,), link=LinkStatus(mode="follow", peers=2, error=""))
MARKER = Marker(name="drop", beat=32.0, metadata_json='{"section": "B"}')
REGION = TimelineRegion(region_id="reg-1", content_path="/data/cas/x", mime="audio/wav", at_beat=4.0,
                        duration_beats=2.0, gain=0.5, artifact_id="art-1")
CONTENTS = TimelineContents(regions=(REGION,), markers=(MARKER,))
NOTICE = DeviceNotice(device_id="ES9", action="added", kind=StreamKind.AUDIO, alsa_name="hw:CARD=ES9,DEV=0",
                      dev_path="/devices/x")

REQUESTS = [
    (TransportCommand.KIND, TransportCommand(verb="seek", argument=12.0)),
    (TransportCommand.KIND, TransportCommand(verb="play")),
    (TRANSPORT_REPLY, STATE),
    (Marker.KIND, MARKER),
    (TimelineRegion.KIND, REGION),
    (TIMELINE_REMOVED, REGION),
    (TimelineContents.KIND, CONTENTS),
    (Audition.KIND, Audition(content_path="/data/cas/y", mime="audio/midi", duration_seconds=1.5, gain=0.25,
                             midi_out="/dev/snd/midiC1D0")),
    (AuditionReply.KIND, AuditionReply(duration_seconds=1.5, start_sample=480, start_monotonic_ns=3,
                                       start_realtime_ns=4)),
]
BROADCASTS = [
    (TransportStateChanged.KIND, STATE),
    (BeatTick.KIND, BeatTick(beat=1.25, tempo_bpm=120.0, sample=30000, monotonic_ns=5, realtime_ns=6)),
    (MARKER_REACHED, MARKER),
    (OutputStatus.KIND, OUTPUT),
    (DEVICE_EVENT, NOTICE),
    (JobEvent.KIND, JobEvent(job_id="job-1", state="complete", space="pattern", artifact_id="art-2", progress=0.5)),
    (ArtifactCreated.KIND, ArtifactCreated(artifact_id="art-2", content_hash="ab" * 32, mime="audio/wav",
                                           tags=("kick", "loud"), parent_id="art-1")),
]


@pytest.mark.parametrize(("kind", "message"), REQUESTS, ids=lambda v: v if isinstance(v, str) else "")
def test_requests_and_replies_round_trip(kind, message):
    assert typed_value(codec.unpack_envelope(codec.pack_envelope(kind, message))) == message


@pytest.mark.parametrize(("kind", "message"), BROADCASTS, ids=lambda v: v if isinstance(v, str) else "")
def test_broadcasts_round_trip(kind, message):
    assert typed_value(codec.unpack_broadcast(codec.pack_broadcast(kind, message))) == message


def test_a_transport_command_is_the_union_member_its_verb_names():
    command = TransportCommand(verb="tempo", argument=90.0)
    assert codec.unpack_envelope(codec.pack_envelope(command.KIND, command)) == Body("transportCommand",
                                                                                      {"tempo": 90.0})


def test_a_state_without_outputs_or_link_decodes_with_the_defaults():
    bare = TransportStateChanged(state="stopped", beat=0.0, tempo_bpm=120.0, sample=0, monotonic_ns=0, realtime_ns=0)
    assert typed_value(codec.unpack_envelope(codec.pack_envelope(TRANSPORT_REPLY, bare))) == bare


def test_the_saved_timeline_round_trips():
    snapshot = TimelineSnapshot(transport=STATE, timeline=CONTENTS)
    data = codec.pack(codec.garden.SavedTimeline, snapshot.to_wire())
    assert TimelineSnapshot.from_wire(codec.unpack(codec.garden.SavedTimeline, data)) == snapshot


def test_members_without_a_type_keep_their_decoded_value():
    assert typed_value(codec.unpack_envelope(codec.pack_envelope(TIMELINE_REMOVE, "reg-1"))) == "reg-1"
    assert typed_value(codec.unpack_envelope(codec.pack_envelope(TIMELINE_LIST))) is None
