@0xdbb20763933410dd;
# vibeweaver's KernelState: kept current from broadcasts, snapshotted for fast restart.

using Garden = import "garden.capnp";

enum JobState {
  pending @0;
  running @1;
  complete @2;
  failed @3;
  cancelled @4;
}

struct JobInfo {
  id @0 :Text;
  state @1 :JobState;
  space @2 :Text;
  artifactId @3 :Text;
  error @4 :Text;
}

struct ArtifactRef {
  id @0 :Text;
  contentHash @1 :Text;
  mime @2 :Text;
  tags @3 :List(Text);
}

struct KernelState {
  sessionId @0 :Text;
  sessionName @1 :Text;
  vibe @2 :Text;
  transport @3 :Garden.TransportState;
  tempoBpm @4 :Float64;
  beat @5 :Float64;
  jobs @6 :List(JobInfo);
  recentArtifacts @7 :List(ArtifactRef);   # newest last, at most 100
  updatedNs @8 :Int64;
}
