"""The live state of stages on this node: who is connected, publishing and subscribed; sessions; capacity."""

from openstage.stage.client import ClientInfo
from openstage.stage.errors import JoinRefused, StageAtCapacity
from openstage.stage.runtime import EVERYONE, MAX_PUBLISHERS, KickListener, StageRuntime
from openstage.stage.state import EventsConnection, RosterEntry, StageState

__all__ = [
    "EVERYONE",
    "MAX_PUBLISHERS",
    "ClientInfo",
    "EventsConnection",
    "JoinRefused",
    "KickListener",
    "RosterEntry",
    "StageAtCapacity",
    "StageRuntime",
    "StageState",
]
