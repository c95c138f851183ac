@0xbdce5af9b48beef4;
# The body of every REQUEST and REPLY between the processes.

using Streams = import "streams.capnp";
using Garden = import "garden.capnp";
using Broadcast = import "broadcast.capnp";

enum ErrorCode {
  badRequest @0;
  notFound @1;
  unavailable @2;
  timeout @3;
  internal @4;
  conflict @5;
}

struct ErrorReply {
  code @0 :ErrorCode;
  message @1 :Text;
}

struct ToolDefinition {
  name @0 :Text;
  description @1 :Text;
  inputSchemaJson @2 :Text;
  annotationsJson @3 :Text;
  outputSchemaJson @4 :Text;   # JSON Schema of the tool's structured result; empty: none declared (older peers)
}

# A worker's registration: who it is and which MCP tools it serves.
struct Ready {
  service @0 :Text;
  tools @1 :List(ToolDefinition);
  pid @2 :UInt32;
}

struct ToolCall {
  name @0 :Text;
  argumentsJson @1 :Text;
}

struct ToolResult {
  structuredJson @0 :Text;
  text @1 :Text;
  isError @2 :Bool;
  # PNG pictures for the agent to look at (MCP image content), e.g. a kernel cell's figure.
  images @3 :List(Data);
}

struct Envelope {
  union {
    ack @0 :Void;
    error @1 :ErrorReply;
    ready @2 :Ready;
    toolCall @3 :ToolCall;
    toolResult @4 :ToolResult;
    streamStart @5 :Streams.StreamStart;
    streamSwitchChunk @6 :Streams.StreamSwitchChunk;
    streamStop @7 :Streams.StreamStop;
    streamStatusRequest @8 :Void;
    streamStatusReply @9 :List(Streams.StreamState);
    transportCommand @10 :Garden.TransportCommand;
    transportReply @11 :Garden.TransportStateChanged;
    timelineSchedule @12 :Garden.TimelineRegion;
    audition @13 :Garden.Audition;
    marker @14 :Garden.Marker;
    deviceNotice @15 :Broadcast.DeviceEvent;
    streamChunkSealed @16 :Streams.StreamChunkSealed;
    auditionReply @17 :Garden.AuditionReply;
    timelineList @18 :Void;
    timelineContents @19 :Garden.TimelineContents;
    timelineRemove @20 :Text;                # a region id
    timelineRemoved @21 :Garden.TimelineRegion;
  }
}
