"""Ableton Link tempo (rt.link): the box follows the Link session's tempo, or leads it with its own.

Either way a tempo set on the box goes to the session. "follow" then takes
every tempo another peer sets; "lead" puts the box's tempo back. Only the
tempo is shared: beats stay the box's own, so the timeline never jumps. Link
is optional (the `link` extra installs aalink); asked for and unavailable,
it is off and says so loudly: logged as an error and shown in every
TransportStateChanged. aalink calls back on the control loop, never on a
realtime thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from appliance.proto.transport_messages import LinkStatus

log = logging.getLogger(__name__)

TEMPO_EPSILON = 0.01  # Link reports back a tempo it was given with rounding noise: not a change


class LinkSync:
    def __init__(self, mode: str, tempo: Callable[[], float], adopt: Callable[[float], None]) -> None:
        """`tempo` reads the box's tempo; `adopt` sets it (a tempo command of the box's own)."""
        self.mode, self.tempo, self.adopt = mode, tempo, adopt
        self.link: Any = None
        self.peers = 0
        self.error = ""

    def start(self) -> None:
        if self.mode == "off":
            return
        try:
            import aalink
        except ImportError as exc:
            self.error = (f"rt.link is {self.mode!r} but the aalink package cannot be imported ({exc}); install the "
                          "'link' extra (pip install 'studio-appliance[link]') or set rt.link to 'off'. Link is off")
            log.error("%s", self.error)
            return
        try:
            self.link = _open(aalink.Link, self.tempo())
            self.link.set_tempo_callback(self._heard)
            self.link.set_num_peers_callback(self._peers)
            self.link.enabled = True
        except Exception as exc:  # aalink's native errors have no common base
            self.link, self.error = None, f"rt.link is {self.mode!r} but Link did not start: {exc}. Link is off"
            log.error("%s", self.error)
            return
        log.info("Ableton Link on: %s the session's tempo", "following" if self.mode == "follow" else "leading")

    def stop(self) -> None:
        if self.link is not None:
            self.link.enabled = False

    def status(self) -> LinkStatus:
        return LinkStatus(mode=self.mode, peers=self.peers, error=self.error)

    def told(self, bpm: float) -> None:
        """The box's tempo was set here: the session takes it too."""
        if self.link is not None:
            self.link.tempo = bpm

    def _heard(self, bpm: float) -> None:
        ours = self.tempo()
        if abs(bpm - ours) <= TEMPO_EPSILON:
            return
        if self.mode == "follow":
            log.info("Link session tempo %.2f bpm: following", bpm)
            self.adopt(bpm)
        else:
            self.link.tempo = ours

    def _peers(self, peers: int) -> None:
        log.info("Link session: %d other peers", peers)
        self.peers = peers


def _open(link_class: Any, bpm: float) -> Any:
    """aalink before 0.2.3 needs the event loop; later versions take the running one and warn when given it."""
    try:
        return link_class(bpm)
    except TypeError:
        return link_class(bpm, asyncio.get_running_loop())
