"""Any decoded body as its type, whichever message module defines it.

The codec decodes a body into plain values; each message module
(`stream_messages`, `transport_messages`, `timeline_messages`,
`audition_messages`, `job_messages`, `artifact_messages`, `tool_messages`)
knows how to turn its own members back into types. A process that hears members of several (chaosgarden's command socket,
hootenanny's line to chaosgarden, vibeweaver's broadcasts) types them here.
Member names are unique across the Envelope and Broadcast unions, so one
table serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.proto import audition_messages, stream_messages, timeline_messages, tool_messages, transport_messages
from appliance.proto.artifact_messages import ArtifactCreated
from appliance.proto.codec import Body
from appliance.proto.job_messages import JobEvent

_FROM_WIRE: dict[str, Callable[[Any], Any]] = {
    **stream_messages.FROM_WIRE,
    **transport_messages.FROM_WIRE,
    **timeline_messages.FROM_WIRE,
    **audition_messages.FROM_WIRE,
    **tool_messages.FROM_WIRE,
    JobEvent.KIND: JobEvent.from_wire,
    ArtifactCreated.KIND: ArtifactCreated.from_wire,
}


def typed_value(body: Body) -> Any:
    """`body`'s value as its type when a message module defines one; any other member's value as decoded.

    Raises DefinitionError for a `streamStart` whose definition breaks a rule.
    """
    convert = _FROM_WIRE.get(body.kind)
    return body.value if convert is None else convert(body.value)
