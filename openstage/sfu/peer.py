"""Peer connections as openstage needs them: which addresses ICE uses, no STUN, a bounded life.

aioice never gathers 127.0.0.1 and has no setting for the host addresses it binds
(media-stack.md gotcha 1), so ``configure_ice`` replaces its lookup process-wide; every peer
connection in the process, test peers included, then binds only those addresses. aioice 0.13
also binds every host candidate to port 0 and has no port-range option, so ``configure_ports``
gives its module a stand-in ``asyncio`` whose loop binds those sockets inside the range instead.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

log = logging.getLogger("openstage.sfu")

_Protocol = TypeVar("_Protocol", bound=asyncio.BaseProtocol)

_default_host_addresses = aioice.ice.get_host_addresses
_real_asyncio = aioice.ice.asyncio


def configure_ice(addresses: Sequence[str]) -> None:
    """Makes ICE gather exactly ``addresses`` (empty: aioice's default, every non-loopback address)."""
    if not addresses:
        aioice.ice.get_host_addresses = _default_host_addresses
        return
    chosen = [ipaddress.ip_address(a) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in chosen if (use_ipv4 if a.version == 4 else use_ipv6)]

    aioice.ice.get_host_addresses = host_addresses


def configure_ports(port_min: int, port_max: int) -> None:
    """Makes ICE host candidates bind a free UDP port in [port_min, port_max] (0, 0: any port, aioice's default).

    A range with every port taken leaves that address without a candidate: aioice catches the
    bind error, so the failure is logged here as a warning rather than raised to the caller.
    """
    if (port_min, port_max) == (0, 0):
        aioice.ice.asyncio = _real_asyncio
        return
    if not 1 <= port_min <= port_max <= 65535:
        raise ValueError(f"invalid UDP port range {port_min}-{port_max}")
    aioice.ice.asyncio = _AsyncioInPortRange(port_min, port_max)  # type: ignore[assignment]


class _AsyncioInPortRange:
    """The ``asyncio`` module as aioice.ice sees it: the real one, but its running loop binds within a range."""

    def __init__(self, port_min: int, port_max: int) -> None:
        self.port_min = port_min
        self.port_max = port_max

    def get_running_loop(self) -> _LoopInPortRange:
        return _LoopInPortRange(_real_asyncio.get_running_loop(), self.port_min, self.port_max)

    def __getattr__(self, name: str) -> Any:
        return getattr(_real_asyncio, name)


class _LoopInPortRange:
    """A running loop whose ``create_datagram_endpoint`` turns a port-0 bind into one within the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port_min: int, port_max: int) -> None:
        self._loop = loop
        self._port_min = port_min
        self._port_max = port_max

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(
        self, protocol_factory: Callable[[], _Protocol], local_addr: tuple[str, int] | None = None, **kwargs: Any
    ) -> tuple[asyncio.DatagramTransport, _Protocol]:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=local_addr, **kwargs)
        host = local_addr[0]
        count = self._port_max - self._port_min + 1
        start = random.randrange(count)  # spreads concurrent peers over the range instead of racing for its start
        for step in range(count):
            port = self._port_min + (start + step) % count
            try:
                return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=(host, port), **kwargs)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        message = f"no free UDP port on {host} in {self._port_min}-{self._port_max} (udp_port_min/udp_port_max)"
        log.warning("ICE gathers no host candidate: %s", message)
        raise OSError(errno.EADDRINUSE, message)


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
