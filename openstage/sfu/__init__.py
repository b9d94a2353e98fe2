"""Media transport and forwarding (DESIGN.md): peer connections, encoded-frame fan-out, keyframe requests.

No HTTP, no database. Signaling uses only ``MediaEngine`` (engine.py); ``create_engine`` builds
the aiortc implementation from settings.
"""

from __future__ import annotations

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
    return AiortcEngine(settings.ice_address_list, udp_ports=settings.udp_port_range)
