"""The live state of stages on this node: who is connected, publishing and subscribed; sessions; capacity."""

from openstage.stage.client import ClientInfo
from openstage.stage.errors import ExchangeRefused, JoinRefused, StageAtCapacity
from openstage.stage.runtime import EVERYONE, MAX_PUBLISHERS, KickListener, PublishListener, StageRuntime
from openstage.stage.state import EventsConnection, ParticipantInfo, RosterEntry, StageState

__all__ = [
    "EVERYONE",
    "MAX_PUBLISHERS",
    "ClientInfo",
    "EventsConnection",
    "ExchangeRefused",
    "JoinRefused",
    "KickListener",
    "ParticipantInfo",
    "PublishListener",
    "RosterEntry",
    "StageAtCapacity",
    "StageRuntime",
    "StageState",
]
