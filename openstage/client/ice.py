"""Which local addresses this process's WebRTC peers offer as ICE candidates.

aioice gathers every non-loopback address of the machine and has no per-connection setting,
so the choice is process-wide: it replaces ``aioice.ice.get_host_addresses``, as openstage's
SFU does for the server. Loopback (127.0.0.1) must be chosen explicitly to be used at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import aioice.ice


def restrict_ice(addresses: Sequence[str]) -> None:
    """Makes every peer connection in this process gather exactly ``addresses`` (IPv4 or IPv6 literals)."""
    chosen = [ipaddress.ip_address(address) for address in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [str(a) for a in chosen if (use_ipv4 if a.version == 4 else use_ipv6)]

    aioice.ice.get_host_addresses = host_addresses
