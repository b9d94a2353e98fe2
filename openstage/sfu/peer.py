"""Peer connections as openstage needs them: which addresses ICE uses, no STUN, a bounded life.

aioice never gathers 127.0.0.1 and has no setting for the host addresses it binds
(media-stack.md gotcha 1), so ``configure_ice`` replaces its lookup process-wide; every peer
connection in the process, test peers included, then binds only those addresses. aioice 0.13
binds port 0 and has no port-range option, so ``udp_port_min``/``udp_port_max`` are not honoured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

log = logging.getLogger("openstage.sfu")

_default_host_addresses = aioice.ice.get_host_addresses


def configure_ice(addresses: Sequence[str]) -> None:
    """Makes ICE gather exactly ``addresses`` (empty: aioice's default, every non-loopback address)."""
    if not addresses:
        aioice.ice.get_host_addresses = _default_host_addresses
        return
    chosen = [ipaddress.ip_address(a) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in chosen if (use_ipv4 if a.version == 4 else use_ipv6)]

    aioice.ice.get_host_addresses = host_addresses


def new_peer_connection() -> RTCPeerConnection:
    """No ICE servers: aiortc's default would query a public STUN server; host candidates suffice."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class PeerSession:
    """One peer connection with an end: ``ended`` is set once, whatever closed it.

    A peer that never connects (a client that vanished after its POST) is closed after
    ``connect_timeout`` seconds; aiortc's consent checks end a connected peer that goes silent.
    """

    _background: set[asyncio.Task[None]] = set()

    def __init__(self, pc: RTCPeerConnection, stage_id: str, participant_id: str, connect_timeout: float) -> None:
        self.pc = pc
        self.stage_id = stage_id
        self.participant_id = participant_id
        self.resource_id = secrets.token_urlsafe(18)
        self.answer_sdp = ""
        self.codecs: Mapping[str, str] = {}
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._closing = False
        self._end_callbacks: list[Callable[[PeerSession], None]] = []
        self._timeout = asyncio.get_running_loop().call_later(connect_timeout, self.close_soon, "connect-timeout")
        pc.on("connectionstatechange", self._state_changed)

    def on_end(self, callback: Callable[[PeerSession], None]) -> None:
        self._end_callbacks.append(callback)

    async def close(self, reason: str = "closed") -> None:
        if self._closing:
            await self.ended.wait()
            return
        self._closing = True
        self.end_reason = reason
        self._timeout.cancel()
        try:
            await self.pc.close()
        finally:
            self._release()
            self.ended.set()
            for callback in self._end_callbacks:
                callback(self)
            log.debug("%s %s/%s ended: %s", type(self).__name__, self.stage_id, self.participant_id, reason)

    def _release(self) -> None:
        """Detaches forwarding state; subclasses override."""

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self._timeout.cancel()
        elif state in ("failed", "closed"):
            self.close_soon(state)

    def close_soon(self, reason: str) -> None:
        """Closes without waiting: for callbacks that cannot await."""
        if not self._closing:
            task = asyncio.ensure_future(self.close(reason))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
