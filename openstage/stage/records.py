"""The durable record of stages: sessions, participants and participant events (docs 3).

Every change is its own transaction, written as it happens, so a crash loses at most the
change in flight; :meth:`StageRecords.close_abandoned_sessions` settles what a crash left open.
The EventBridge events a change causes go into the outbox in the same transaction, and
``on_commit`` wakes their delivery once it is durable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.events.outbox import add_to_outbox
from openstage.events.records import iso, stage_update
from openstage.stage.client import ClientInfo
from openstage.stage.errors import JoinRefused
from openstage.store.db import Database
from openstage.store.models import (
    DisconnectedParticipant,
    Participant,
    ParticipantEvent,
    Stage,
    StageSession,
    utcnow,
)
from openstage.tokens import ParticipantClaims

# (name, optional Event members: remoteParticipantId, errorCode)
Event = tuple[str, dict[str, Any]]

# Given the stages with open sessions, returns those whose sessions no live node hosts (openstage/cluster).
AbandonedFilter = Callable[[set[str]], Awaitable[set[str]]]

PUBLISH_EVENTS = ("PUBLISH_STARTED", "PUBLISH_STOPPED")
MEDIA_EVENTS = (*PUBLISH_EVENTS, "SUBSCRIBE_STARTED", "SUBSCRIBE_STOPPED")


def event(name: str, remote_participant_id: str | None = None, error_code: str | None = None) -> Event:
    details: dict[str, Any] = {}
    if remote_participant_id is not None:
        details["remoteParticipantId"] = remote_participant_id
    if error_code is not None:
        details["errorCode"] = error_code
    return name, details


class StageRecords:
    def __init__(self, db: Database, on_commit: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self._on_commit = on_commit

    async def refusal(self, stage_arn: str, participant_id: str) -> JoinRefused | None:
        async with self.db.read() as session:
            return await _refusal(session, stage_arn, participant_id)

    async def join(self, stage_arn: str, session_id: str | None, claims: ParticipantClaims, client: ClientInfo) -> str:
        """Writes JOINED (starting a session when ``session_id`` is None) and returns the session id.

        The refusal check runs again inside the transaction: a DisconnectParticipant or
        DeleteStage may have landed since the token was authorized.
        """
        now = utcnow()
        participant_id = claims.participant_id
        async with self.db.write() as session:
            refused = await _refusal(session, stage_arn, participant_id)
            if refused is not None:
                raise refused
            if session_id is None:
                session_id = ids.session_id()
                session.add(StageSession(session_id=session_id, stage_arn=stage_arn, start_time=now))
                await session.flush()
            fields = client.participant_fields()
            details = {"attributes": claims.attributes, **client.protocol_fields(), **fields}
            row = await _participant(session, session_id, participant_id)
            if row is None:
                session.add(
                    Participant(
                        stage_arn=stage_arn,
                        session_id=session_id,
                        participant_id=participant_id,
                        user_id=claims.user_id,
                        state="CONNECTED",
                        first_join_time=now,
                        details=details,
                    )
                )
            else:  # back in the same session: firstJoinTime, published and what the client said before stay
                row.state = "CONNECTED"
                row.user_id = claims.user_id
                told = {name: value for name, value in fields.items() if value}
                row.details = {**row.details, "attributes": claims.attributes, **told}
            joined = [event("JOINED")]
            await _add_events(
                session, stage_arn, session_id, participant_id, claims.user_id, joined, now, client.replica
            )
        return session_id

    async def record(
        self,
        stage_arn: str,
        session_id: str,
        participant_id: str,
        events: Sequence[Event],
        *,
        state: str | None = None,
        published: bool = False,
        client: ClientInfo | None = None,
    ) -> None:
        """Writes ``events`` and updates the participant's row, if it has one (error events may come first).

        ``client`` fills only the client fields still empty: the WHIP request of an SDK that
        joined over the events WebSocket adds what the WebSocket could not say (sdkVersion).
        """
        async with self.db.write() as session:
            row = await _participant(session, session_id, participant_id)
            if row is not None:
                if state is not None:
                    row.state = state
                if published:
                    row.published = True
                if client is not None:
                    known = row.details
                    fresh = {k: v for k, v in client.participant_fields().items() if v and not known.get(k)}
                    if fresh:
                        row.details = {**known, **fresh}
            user_id = row.user_id if row is not None else ""
            replica = _is_replica(row)
            emitted = await _add_events(
                session, stage_arn, session_id, participant_id, user_id, events, utcnow(), replica
            )
        if emitted:
            self._on_commit()

    async def exchange_token(
        self, stage_arn: str, session_id: str, previous: ParticipantClaims, claims: ParticipantClaims
    ) -> None:
        """TOKEN_EXCHANGED with both tokens' mutable claims; the row takes the new user id and attributes."""
        async with self.db.write() as session:
            row = await _participant(session, session_id, claims.participant_id)
            if row is not None:
                row.user_id = claims.user_id
                row.details = {**row.details, "attributes": claims.attributes}
            tokens = {"previousToken": _exchanged(previous), "newToken": _exchanged(claims)}
            exchanged = [("TOKEN_EXCHANGED", tokens)]
            await _add_events(
                session,
                stage_arn,
                session_id,
                claims.participant_id,
                claims.user_id,
                exchanged,
                utcnow(),
                _is_replica(row),
            )
        self._on_commit()

    async def refuse(self, stage_arn: str, participant_id: str, reason: str) -> None:
        """Refuses ``participant_id`` on the stage for good (DisconnectParticipant)."""
        async with self.db.write() as session:
            await session.merge(
                DisconnectedParticipant(
                    stage_arn=stage_arn, participant_id=participant_id, reason=reason, disconnected_at=utcnow()
                )
            )

    async def end_session(self, session_id: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(StageSession).where(StageSession.session_id == session_id).values(end_time=utcnow())
            )

    async def close_abandoned_sessions(self, abandoned: AbandonedFilter | None = None) -> int:
        """Ends every open session, and lets whoever was still connected leave, with its open media stopped.

        Run at start-up (a crash left them open) and at shutdown (nobody is connected any more).
        In a cluster, ``abandoned`` keeps the sessions of stages another live node hosts.
        """
        now = utcnow()
        async with self.db.write() as session:
            open_rows = (
                await session.execute(
                    select(StageSession.session_id, StageSession.stage_arn).where(StageSession.end_time.is_(None))
                )
            ).all()
            closing = {arn for _, arn in open_rows}
            if abandoned is not None and closing:
                closing = await abandoned(closing)
            # Locked and checked again: two nodes closing the same sessions would write LEFT twice otherwise.
            chosen = [session_id for session_id, arn in open_rows if arn in closing]
            open_ids = list(
                await session.scalars(
                    select(StageSession.session_id)
                    .where(StageSession.session_id.in_(chosen), StageSession.end_time.is_(None))
                    .with_for_update()
                )
            )
            if not open_ids:
                return 0
            emitted = False
            media = await _open_media(session, open_ids)
            connected = await session.scalars(
                select(Participant)
                .where(Participant.session_id.in_(open_ids), Participant.state == "CONNECTED")
                .order_by(Participant.pk)
            )
            for row in connected.all():
                row.state = "DISCONNECTED"
                events = media.get((row.session_id, row.participant_id), [])
                emitted |= await _add_events(
                    session,
                    row.stage_arn,
                    row.session_id,
                    row.participant_id,
                    row.user_id,
                    [*events, event("LEFT")],
                    now,
                    _is_replica(row),
                )
            await session.execute(
                update(StageSession).where(StageSession.session_id.in_(open_ids)).values(end_time=now)
            )
        if emitted:
            self._on_commit()
        return len(open_ids)


async def _refusal(session: AsyncSession, stage_arn: str, participant_id: str) -> JoinRefused | None:
    if await session.scalar(select(Stage.pk).where(Stage.arn == stage_arn)) is None:
        return JoinRefused("STAGE_DELETED", f"stage {stage_arn} does not exist (any more)")
    kicked = await session.scalar(
        select(DisconnectedParticipant.participant_id).where(
            DisconnectedParticipant.stage_arn == stage_arn, DisconnectedParticipant.participant_id == participant_id
        )
    )
    if kicked is not None:
        return JoinRefused("PARTICIPANT_DISCONNECTED", f"participant {participant_id} was disconnected from this stage")
    return None


async def _participant(session: AsyncSession, session_id: str, participant_id: str) -> Participant | None:
    return await session.scalar(
        select(Participant).where(Participant.session_id == session_id, Participant.participant_id == participant_id)
    )


def _exchanged(claims: ParticipantClaims) -> dict[str, Any]:
    """An ExchangedParticipantToken (docs 3.4): what a token exchange may change."""
    allowed = (("PUBLISH", claims.can_publish), ("SUBSCRIBE", claims.can_subscribe))
    capabilities = [name for name, granted in allowed if granted]
    return {
        "capabilities": capabilities,
        "attributes": claims.attributes,
        "userId": claims.user_id,
        "expirationTime": iso(claims.expires_at),
    }


async def _add_events(
    session: AsyncSession,
    stage_arn: str,
    session_id: str,
    participant_id: str,
    user_id: str,
    events: Sequence[Event],
    at: datetime,
    replica: bool = False,
) -> bool:
    """Adds the events, and the EventBridge events they cause to the outbox; True if it added any of those.

    ``replica``: the participant is a replica. An event naming a remote participant says whether
    that one is (docs 3.4), so it is looked up.
    """
    emitted = False
    for name, details in events:
        remote = details.get("remoteParticipantId")
        about_replica = _is_replica(await _participant(session, session_id, remote)) if remote else replica
        if about_replica:
            details = {**details, "replica": True}
        session.add(
            ParticipantEvent(
                stage_arn=stage_arn,
                session_id=session_id,
                participant_id=participant_id,
                name=name,
                event_time=at,
                details=details,
            )
        )
        await session.flush()  # one at a time: ListParticipantEvents orders by pk
        announced = stage_update(name, stage_arn, session_id, participant_id, user_id, details, at)
        if announced is not None:
            await add_to_outbox(session, announced)
            emitted = True
    return emitted


def _is_replica(row: Participant | None) -> bool:
    return row is not None and bool(row.details.get("replica"))


class MediaStatus:
    """Who publishes and who is subscribed to whom, folded from media events in the order they happened."""

    def __init__(self) -> None:
        self.publishing: set[tuple[str, str]] = set()  # (session id, participant id)
        self.subscribed: dict[tuple[str, str], dict[str, None]] = {}  # an ordered set of publisher ids

    def fold(self, rows: Iterable[tuple[str, str, str, dict[str, Any]]]) -> MediaStatus:
        for session_id, participant_id, name, details in rows:
            key = (session_id, participant_id)
            remote = details.get("remoteParticipantId", "")
            if name == "PUBLISH_STARTED":
                self.publishing.add(key)
            elif name == "PUBLISH_STOPPED":
                self.publishing.discard(key)
            elif name == "SUBSCRIBE_STARTED":
                self.subscribed.setdefault(key, {})[remote] = None
            elif name == "SUBSCRIBE_STOPPED":
                self.subscribed.get(key, {}).pop(remote, None)
        return self

    def publishers(self, session_id: str) -> int:
        return sum(1 for session, _ in self.publishing if session == session_id)


async def media_status(
    session: AsyncSession, session_ids: list[str], names: tuple[str, ...] = MEDIA_EVENTS
) -> MediaStatus:
    """``names`` narrows the events read: who publishes needs only PUBLISH_EVENTS."""
    rows = await session.execute(
        select(
            ParticipantEvent.session_id,
            ParticipantEvent.participant_id,
            ParticipantEvent.name,
            ParticipantEvent.details,
        )
        .where(ParticipantEvent.session_id.in_(session_ids), ParticipantEvent.name.in_(names))
        .order_by(ParticipantEvent.pk)
    )
    return MediaStatus().fold(rows.tuples())


async def _open_media(session: AsyncSession, session_ids: list[str]) -> dict[tuple[str, str], list[Event]]:
    """The STOPPED events that would balance each participant's media events: what it still had open."""
    media = await media_status(session, session_ids)
    open_media: dict[tuple[str, str], list[Event]] = {}
    for key in media.publishing | set(media.subscribed):
        stops = [event("PUBLISH_STOPPED")] if key in media.publishing else []
        stops += [event("SUBSCRIBE_STOPPED", remote) for remote in media.subscribed.get(key, {})]
        open_media[key] = stops
    return open_media
