"""Generator services on the LAN (GPU models elsewhere), each a `sample()` space named in the config.

A space is `name=url` in `weave.generators`. vibeweaver POSTs JSON
`{space, prompt, inference, tags}` to the URL; the service answers with the
generated file as the body and its MIME type as Content-Type (e.g.
`audio/wav`, `audio/midi`). Any other status is an error whose body says why.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from appliance.config import ConfigError

_SPACE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)=(?P<url>https?://\S+)$")
BUILT_IN_SPACES = ("capture", "pattern")
MAX_RESPONSE_BYTES = 512 * 1024 * 1024


class GeneratorError(Exception):
    """The generator service failed or could not be reached."""


@dataclass(frozen=True, slots=True)
class Generated:
    content: bytes
    mime: str


@dataclass(frozen=True, slots=True)
class HttpSpace:
    name: str
    url: str
    timeout: float

    async def generate(self, prompt: str, inference: dict[str, Any], tags: list[str]) -> Generated:
        """POST the request and return the generated file; raise GeneratorError."""
        body = json.dumps({"space": self.name, "prompt": prompt, "inference": inference, "tags": tags}).encode()
        return await asyncio.to_thread(self._post, body)

    def _post(self, body: bytes) -> Generated:
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
                content = response.read(MAX_RESPONSE_BYTES + 1)
                mime = response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode(errors="replace").strip()
            raise GeneratorError(f"space {self.name}: {self.url} answered {exc.code}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GeneratorError(f"space {self.name}: cannot reach {self.url}: {reason}") from None
        if len(content) > MAX_RESPONSE_BYTES:
            raise GeneratorError(f"space {self.name}: response larger than {MAX_RESPONSE_BYTES} bytes")
        if not content:
            raise GeneratorError(f"space {self.name}: {self.url} answered with an empty body")
        return Generated(content, mime)


def parse_spaces(entries: list[str], timeout: float) -> dict[str, HttpSpace]:
    """The configured spaces by name; raise ConfigError for an entry that is not `name=http(s)://...`."""
    spaces: dict[str, HttpSpace] = {}
    for entry in entries:
        match = _SPACE.match(entry.strip())
        if match is None:
            raise ConfigError(f"weave.generators: {entry!r} is not name=http://host:port/path "
                              "(name: lowercase letters, digits, - and _)")
        name = match["name"]
        if name in BUILT_IN_SPACES or name in spaces:
            raise ConfigError(f"weave.generators: space {name!r} is already defined")
        spaces[name] = HttpSpace(name, match["url"], timeout)
    return spaces
