"""The base of every typed result a control-plane service returns.

A domain service (capture, slicing, sessions, store, jobs) answers with one of
these models; the agent layer declares the same model as the tool's
outputSchema and sends its JSON as the structured content, so what a tool
promises and what it returns cannot drift apart. Living here, beside
`service_error`, it lets the domain define results without importing the
agent layer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ResultModel(BaseModel):
    """A result has exactly the keys its model names, and is not changed once made."""

    model_config = ConfigDict(extra="forbid", frozen=True)
