"""The live state of one stage on this node, and the roster snapshots its events WebSockets receive."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from openstage import ids
from openstage.tokens import ParticipantClaims


@dataclass(frozen=True)
class RosterEntry:
    participant_id: str
    user_id: str
    attributes: dict[str, str]
    is_publishing: bool
    audio_muted: bool
    video_stopped: bool


@dataclass(frozen=True)
class ParticipantInfo:
    """A live participant as other parts of the server see it: its session and roster entry."""

    session_id: str
    entry: RosterEntry


@dataclass(frozen=True)
class StageState:
    """One STAGE_STATE: the publishing participants and those kicked since the previous state.

    Subscribe-only participants are not announced to others (docs 2.3), so the roster holds
    publishers only.
    """

    sequence_number: int
    stage_id: str
    participants: tuple[RosterEntry, ...]
    kicked: tuple[str, ...] = ()


class EventsConnection(Protocol):
    """A participant's events WebSocket as the runtime sees it.

    Neither method may block: the transport queues, so one slow client never holds up a stage.
    """

    def push_state(self, state: StageState) -> None: ...

    def disconnect(self, code: str, reason: str) -> None:
        """Sends ``aws:ivs:DISCONNECT`` with ``code`` and closes."""


@dataclass(eq=False)
class LiveParticipant:
    claims: ParticipantClaims
    connection: EventsConnection | None = None
    # Counted, not flagged: a client may open a new peer connection before closing the old one.
    publications: int = 0
    subscriptions: Counter[str] = field(default_factory=Counter)
    audio_muted: bool = False
    video_stopped: bool = False
    leave_task: asyncio.Task[None] | None = None

    @property
    def publishing(self) -> bool:
        return self.publications > 0

    @property
    def unreachable(self) -> bool:
        """No events WebSocket and no peer connection: the participant is gone unless it comes back soon."""
        return self.connection is None and not self.publications and not self.subscriptions

    def roster_entry(self) -> RosterEntry:
        return RosterEntry(
            participant_id=self.claims.participant_id,
            user_id=self.claims.user_id,
            attributes=self.claims.attributes,
            is_publishing=self.publishing,
            audio_muted=self.audio_muted,
            video_stopped=self.video_stopped,
        )


def first_sequence_number() -> int:
    """Milliseconds since the epoch, so states made after a restart (or in a later session) still number
    above every state a client saw before: the SDK drops states that do not (docs 2.3)."""
    return time.time_ns() // 1_000_000


@dataclass(eq=False)
class LiveStage:
    arn: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    sequence_number: int = field(default_factory=first_sequence_number)
    session_id: str | None = None
    participants: dict[str, LiveParticipant] = field(default_factory=dict)
    end_task: asyncio.Task[None] | None = None
    retired: bool = False  # dropped from the runtime; a caller that waited for its lock must look again

    def publishers_other_than(self, participant_id: str) -> int:
        return sum(1 for p in self.participants.values() if p.publishing and p.claims.participant_id != participant_id)

    def next_state(self, kicked: tuple[str, ...] = ()) -> StageState:
        self.sequence_number += 1
        roster = tuple(p.roster_entry() for p in self.participants.values() if p.publishing)
        return StageState(self.sequence_number, ids.resource_id(self.arn), roster, kicked)
