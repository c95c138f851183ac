@0xa12823ea1c7fbbe6;
# chaosgarden's beat clock, transport and timeline.

enum TransportState {
  stopped @0;
  playing @1;
  paused @2;
}

struct TransportStateChanged {
  state @0 :TransportState;
  beat @1 :Float64;
  tempoBpm @2 :Float64;
  samplePosition @3 :UInt64;
  monotonicNs @4 :Int64;
  realtimeNs @5 :Int64;
  outputs @6 :List(OutputStatus);   # where timeline content goes, and why it cannot (transport status)
  link @7 :LinkStatus;
}

# Ableton Link as chaosgarden runs it (rt.link).
struct LinkStatus {
  mode @0 :Text;             # "off", "follow" (take the session's tempo) or "lead" (impose the box's)
  peers @1 :UInt32;          # other Link apps in the session
  error @2 :Text;            # why Link is off although asked for (no aalink package, ...); empty otherwise
}

# One output chaosgarden plays to. Broadcast when its error changes, and again
# now and then while it stands, so subscribers that join later see it too.
struct OutputStatus {
  kind @0 :Text;             # "audio" (rt.playback_device) or "midi" (a raw MIDI port)
  device @1 :Text;           # the ALSA PCM name or rawmidi path
  error @2 :Text;            # why it cannot be opened or written; empty: it plays
}

struct BeatTick {
  beat @0 :Float64;
  tempoBpm @1 :Float64;
  samplePosition @2 :UInt64;
  monotonicNs @3 :Int64;
  realtimeNs @4 :Int64;
}

struct MarkerReached {
  name @0 :Text;
  beat @1 :Float64;
  metadataJson @2 :Text;
}

struct TransportCommand {
  union {
    play @0 :Void;
    pause @1 :Void;
    stop @2 :Void;
    seek @3 :Float64;        # beat
    tempo @4 :Float64;       # beats per minute
    status @5 :Void;
  }
}

struct TimelineRegion {
  id @0 :Text;
  contentPath @1 :Text;      # a sealed CAS file
  mime @2 :Text;
  atBeat @3 :Float64;
  durationBeats @4 :Float64;
  gain @5 :Float32;
  artifactId @6 :Text;       # what the region plays, as hootenanny names it (for listings)
}

# Everything on the timeline, regions and markers each in beat order.
struct TimelineContents {
  regions @0 :List(TimelineRegion);
  markers @1 :List(Marker);
}

# What chaosgarden saves after every change (<data>/chaosgarden/timeline.bin)
# and resumes from when it starts again.
struct SavedTimeline {
  transport @0 :TransportStateChanged;   # as of the last transport command
  timeline @1 :TimelineContents;
}

struct Marker {
  name @0 :Text;
  beat @1 :Float64;
  metadataJson @2 :Text;
}

struct Audition {
  contentPath @0 :Text;
  mime @1 :Text;
  durationSeconds @2 :Float64;
  gain @3 :Float32;
  midiOut @4 :Text;          # raw MIDI port for MIDI content; empty: chaosgarden's configured midi_out
}

# When an audition sounds: its first sample and the time that sample is heard.
struct AuditionReply {
  durationSeconds @0 :Float64;
  startSample @1 :UInt64;
  startMonotonicNs @2 :Int64;
  startRealtimeNs @3 :Int64;
}
