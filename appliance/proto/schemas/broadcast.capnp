@0xde4850fc3b958d1b;
# Everything published on a PUB socket. The topic frame in front of the body
# (`stream.`, `job.`, `artifact.`, `transport.`, `beat.`, `marker.`,
# `device.`) lets a subscriber filter without decoding.

using Streams = import "streams.capnp";
using Garden = import "garden.capnp";
using Weave = import "vibeweaver.capnp";

struct JobEvent {
  jobId @0 :Text;
  state @1 :Weave.JobState;
  space @2 :Text;
  artifactId @3 :Text;
  error @4 :Text;
  progress @5 :Float32;      # 0..1, or -1 when unknown
}

struct ArtifactCreated {
  artifactId @0 :Text;
  contentHash @1 :Text;
  mime @2 :Text;
  tags @3 :List(Text);
  parentId @4 :Text;
}

enum DeviceAction {
  added @0;
  removed @1;
}

struct DeviceEvent {
  deviceId @0 :Text;         # stable name, e.g. "ES9" or "midi-ES9-0"
  action @1 :DeviceAction;
  kind @2 :Streams.StreamKind;
  alsaName @3 :Text;         # hw:CARD=ES9,DEV=0 or /dev/snd/midiC1D0
  devPath @4 :Text;          # udev DEVPATH
}

struct Broadcast {
  union {
    streamHeadPosition @0 :Streams.StreamHeadPosition;
    streamChunkFull @1 :Streams.StreamChunkFull;
    streamError @2 :Streams.StreamError;
    transportStateChanged @3 :Garden.TransportStateChanged;
    beatTick @4 :Garden.BeatTick;
    markerReached @5 :Garden.MarkerReached;
    jobEvent @6 :JobEvent;
    artifactCreated @7 :ArtifactCreated;
    deviceEvent @8 :DeviceEvent;
    outputStatus @9 :Garden.OutputStatus;   # topic transport.output
  }
}
