"""Media transport and forwarding (DESIGN.md): peer connections, encoded-frame fan-out, keyframe requests.

No HTTP, no database. Signaling uses only ``MediaEngine`` (engine.py); ``create_engine`` builds
the aiortc implementation from settings.
"""

from __future__ import annotations

import logging

from openstage.config import Settings
from openstage.sfu.aiortc_engine import AiortcEngine
from openstage.sfu.engine import (
    InvalidOffer,
    MediaEngine,
    MediaError,
    NoMatchingCodec,
    Publication,
    PublisherNotFound,
    Subscription,
)

__all__ = [
    "AiortcEngine",
    "InvalidOffer",
    "MediaEngine",
    "MediaError",
    "NoMatchingCodec",
    "Publication",
    "PublisherNotFound",
    "Subscription",
    "create_engine",
]


def create_engine(settings: Settings) -> AiortcEngine:
    if settings.udp_port_min or settings.udp_port_max:
        logging.getLogger("openstage.sfu").warning(
            "udp_port_min/udp_port_max are not honoured yet: aioice binds any free UDP port"
        )
    return AiortcEngine(settings.ice_address_list)
