"""What the stream service answers about a stream: its definition once stored, and its recording's status."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.proto.stream_definition import StreamDefinition
from appliance.services.results import ResultModel

StreamState = Literal["defined", "recording", "stopped", "broken"]


class StreamCreated(ResultModel):
    uri: str
    definition: StreamDefinition = Field(description="the definition as stored, with every default filled in")
    definition_hash: str = Field(description="the definition's content hash in CAS")
    channel_names: dict[int, str] = Field(default_factory=dict, description="names of its channels, by index")


class StreamChannels(ResultModel):
    uri: str
    channels: int
    channel_names: dict[int, str] = Field(description="names of its channels, by index: stems are named after them")


class StreamStatus(ResultModel):
    uri: str
    state: StreamState = Field(description="broken: the stream's manifest cannot be read (last_error says why)")
    head_sample: int = Field(description="samples readable so far on the stream's sample axis")
    chunks_sealed: int
    bytes: int = Field(description="bytes in sealed chunks")
    xruns: int
    device: str
    device_connected: bool
    last_error: str = Field(description="empty when there is none")
