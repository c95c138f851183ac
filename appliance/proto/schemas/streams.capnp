@0xe24793a55cb489cb;
# Capture streams: their definitions, the commands hootenanny sends
# chaosgarden, and the events chaosgarden publishes about them.

enum StreamKind {
  audio @0;
  midi @1;
}

enum SampleFormat {
  s16 @0;       # 2 bytes, signed little-endian
  s24 @1;       # 3 bytes packed, signed little-endian
  s24in32 @2;   # 24 significant bits in a 4-byte little-endian container
  s32 @3;
  f32 @4;
}

struct StreamDefinition {
  uri @0 :Text;             # stream://<name>/<part>
  device @1 :Text;          # device id, "sim", an ALSA PCM name, or a rawmidi path
  kind @2 :StreamKind;
  sampleRate @3 :UInt32;
  channels @4 :UInt16;
  sampleFormat @5 :SampleFormat;
  chunkSamples @6 :UInt64;  # frames per chunk (audio) or bytes per chunk (MIDI)
  periodFrames @7 :UInt32;  # 0 lets the device choose
}

enum ClockReason {
  start @0;
  stop @1;
  chunkBoundary @2;
  deviceLost @3;
  deviceBack @4;
  segmentStart @5;
  segmentEnd @6;
  xrun @7;
  periodic @8;
  restart @9;
}

# One reading of every clock at one sample position; samples are the authority.
struct ClockSnapshot {
  samplePosition @0 :UInt64;
  monotonicNs @1 :Int64;     # CLOCK_MONOTONIC
  realtimeNs @2 :Int64;      # CLOCK_REALTIME
  midiTicks @3 :Int64;       # -1 where no MIDI clock is running
  reason @4 :ClockReason;
}

struct StreamStart {
  uri @0 :Text;
  definition @1 :StreamDefinition;
  chunkPath @2 :Text;
  sparePaths @3 :List(Text);
  startSample @4 :UInt64;    # where this stream's samples continue
  startRealtimeNs @5 :Int64; # CLOCK_REALTIME at startSample after a gap (0: none); the first
                             # period is laid where its own timestamp says, silence before it
}

struct StreamSwitchChunk {
  uri @0 :Text;
  newChunkPath @1 :Text;     # one more spare
}

struct StreamStop {
  uri @0 :Text;
}

# hootenanny has sealed a chunk chaosgarden reported full; chaosgarden forgets it.
struct StreamChunkSealed {
  uri @0 :Text;
  path @1 :Text;
}

struct StreamHeadPosition {
  streamUri @0 :Text;
  samplePosition @1 :UInt64; # frames below this are safe to read
  bytePosition @2 :UInt64;   # bytes of the current chunk below the head
  monotonicNs @3 :Int64;
  realtimeNs @4 :Int64;
  chunkPath @5 :Text;
  chunkFirstSample @6 :UInt64;
}

# For MIDI streams the chunk fields count bytes (bytesWritten = samplesWritten);
# each record inside carries its own stream sample (appliance/proto/midi_record.py).
struct StreamChunkFull {
  streamUri @0 :Text;
  path @1 :Text;
  bytesWritten @2 :UInt64;
  samplesWritten @3 :UInt64;
  firstSample @4 :UInt64;
  clock @5 :ClockSnapshot;   # at the chunk's end
  final @6 :Bool;            # the stream stopped; this is its last chunk
}

enum StreamErrorKind {
  deviceLost @0;
  deviceBack @1;
  xrun @2;
  ringOverflow @3;
  formatMismatch @4;
  io @5;
  noSpace @6;
  other @7;
}

struct StreamError {
  streamUri @0 :Text;
  error @1 :Text;
  recoverable @2 :Bool;
  kind @3 :StreamErrorKind;
  clock @4 :ClockSnapshot;
  lostSamples @5 :UInt64;    # filled with silence or dropped, as `error` says
  xruns @6 :UInt64;
}

# What chaosgarden knows of one stream, for a control plane that (re)joins.
struct StreamState {
  uri @0 :Text;
  running @1 :Bool;
  head @2 :StreamHeadPosition;
  unacknowledged @3 :List(StreamChunkFull);
  sparesLeft @4 :UInt32;
  ringFrames @5 :UInt64;
  droppedFrames @6 :UInt64;
  xruns @7 :UInt64;
  deviceConnected @8 :Bool;
  lastError @9 :Text;
  clocks @10 :List(ClockSnapshot);
  sparePaths @11 :List(Text);          # prepared, not yet written
}
