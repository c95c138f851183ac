"""hootenanny (`studio hootenanny`): the control plane — CAS, streams, sessions, slicing, artifacts, MCP."""
