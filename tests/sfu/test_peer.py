"""Settings that shape peer connections: ICE addresses and the UDP port range host candidates bind."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import aioice.ice
import pytest

from openstage.config import ConfigError, Settings
from openstage.sfu.peer import configure_ports, new_peer_connection
from tests.sfu.peers import candidate_ports, free_udp_ports, run


def test_ice_addresses_are_parsed_and_checked():
    assert Settings(ice_addresses="127.0.0.1, ::1,").ice_address_list == ["127.0.0.1", "::1"]
    assert Settings().ice_address_list == []
    with pytest.raises(ConfigError, match="ice_addresses"):
        Settings(ice_addresses="127.0.0.1,example.com").validate()


def test_udp_port_range_is_both_or_neither_and_within_bounds():
    assert Settings().udp_port_range == (0, 0)
    assert Settings(udp_port_min=40000, udp_port_max=40000).udp_port_range == (40000, 40000)
    for low, high in [(40000, 0), (0, 40000), (1023, 2000), (5000, 4999), (60000, 65536), (-1, 0)]:
        with pytest.raises(ConfigError, match="udp_port_min and udp_port_max"):
            Settings(udp_port_min=low, udp_port_max=high).validate()


@pytest.fixture
def port_range() -> Iterator[int]:
    """The first of four free ports; whatever range a test configures is cleared afterwards."""
    try:
        yield free_udp_ports(4)
    finally:
        configure_ports(0, 0)


def offered_ports() -> list[int]:
    """The host-candidate ports of a fresh peer connection's offer (ICE is on 127.0.0.1, see tests.sfu.peers)."""

    async def offer() -> list[int]:
        pc = new_peer_connection()
        pc.addTransceiver("video")
        try:
            await pc.setLocalDescription(await pc.createOffer())
            return candidate_ports(pc.localDescription.sdp)
        finally:
            await pc.close()

    return asyncio.run(asyncio.wait_for(offer(), 30))


def test_host_candidates_bind_within_the_configured_range(port_range: int):
    configure_ports(port_range, port_range + 3)

    async def scenario() -> None:
        pcs = [new_peer_connection() for _ in range(3)]
        try:
            for pc in pcs:
                pc.addTransceiver("video")
                await pc.setLocalDescription(await pc.createOffer())
            ports = [port for pc in pcs for port in candidate_ports(pc.localDescription.sdp)]
            assert len(ports) == 3 and len(set(ports)) == 3, "each live peer holds its own port"
            assert all(port_range <= port <= port_range + 3 for port in ports), ports
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs))

    run(scenario())


def test_a_full_range_leaves_no_candidate_and_says_why(port_range: int, caplog: pytest.LogCaptureFixture):
    """aioice catches the bind error per address, so the offer has no candidate; the warning names the range."""
    configure_ports(port_range, port_range + 3)
    taken = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    try:
        for offset, sock in enumerate(taken):
            sock.bind(("127.0.0.1", port_range + offset))
        with caplog.at_level(logging.WARNING, logger="openstage.sfu"):
            assert offered_ports() == []
    finally:
        for sock in taken:
            sock.close()
    assert f"no free UDP port on 127.0.0.1 in {port_range}-{port_range + 3}" in caplog.text


def test_clearing_the_range_restores_any_port(port_range: int):
    configure_ports(port_range, port_range)
    assert offered_ports() == [port_range]
    configure_ports(0, 0)
    assert aioice.ice.asyncio is asyncio
    [port] = offered_ports()
    assert port != port_range
