"""What the console shows, read from the database in a few queries instead of one AWS API call per row.

Publish and subscribe status come from the participant events, not from this node's memory,
so the console tells the same story as ListParticipantEvents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.handlers.stages import active_sessions
from openstage.control.resources import get_tags, tags_for
from openstage.events.records import iso
from openstage.stage.records import PUBLISH_EVENTS, media_status
from openstage.store.db import Database
from openstage.store.models import Composition, Participant, ParticipantEvent, Stage, StageSession

MAX_SESSIONS = 50  # the newest sessions a stage page lists
MAX_EVENTS = 500  # the newest participant events a stage page shows for one session
_CLIENT_FIELDS = ("browserName", "browserVersion", "osName", "osVersion", "sdkVersion", "ispName", "protocol")


def _time(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


async def _counts(session: AsyncSession, statement: Select[str, int]) -> dict[str, int]:
    return {key: count for key, count in (await session.execute(statement)).tuples()}


async def change_stamp(db: Database) -> tuple[int | None, ...]:
    """Moves whenever a stage comes or goes, a session starts or ends, or a participant event is recorded.

    Those are what change the overview's numbers; reading this is far cheaper than the overview.
    """
    async with db.read() as session:
        stages = (await session.execute(select(func.count(Stage.pk), func.max(Stage.pk)))).one()
        sessions = (
            await session.execute(
                select(func.count(StageSession.pk), func.count(StageSession.end_time), func.max(StageSession.pk))
            )
        ).one()
        events = await session.scalar(select(func.max(ParticipantEvent.pk)))
    return (*stages, *sessions, events)


async def overview(db: Database) -> list[dict[str, Any]]:
    """Every stage with its active session, how many are connected and publishing, and how many sessions it had."""
    async with db.read() as session:
        stages = list(await session.scalars(select(Stage).order_by(Stage.pk)))
        arns = [stage.arn for stage in stages]
        active = await active_sessions(session, arns)
        live = list(active.values())
        connected = await _counts(
            session,
            select(Participant.session_id, func.count())
            .where(Participant.session_id.in_(live), Participant.state == "CONNECTED")
            .group_by(Participant.session_id),
        )
        sessions = await _counts(
            session,
            select(StageSession.stage_arn, func.count())
            .where(StageSession.stage_arn.in_(arns))
            .group_by(StageSession.stage_arn),
        )
        media = await media_status(session, live, PUBLISH_EVENTS)
        tags = await tags_for(session, arns)
    summaries = []
    for stage in stages:
        session_id = active.get(stage.arn)
        summaries.append(
            {
                "arn": stage.arn,
                "name": stage.name,
                "createdAt": _time(stage.created_at),
                "activeSessionId": session_id,
                "participants": connected.get(session_id, 0) if session_id else 0,
                "publishers": media.publishers(session_id) if session_id else 0,
                "sessions": sessions.get(stage.arn, 0),
                "tags": tags[stage.arn],
            }
        )
    return summaries


async def stage_page(db: Database, arn: str, session_id: str | None = None) -> dict[str, Any]:
    """The stage, its sessions, and one session's participants and events (the active or newest one by default).

    Raises LookupError, saying what is missing, for an unknown stage or a session of another stage.
    """
    async with db.read() as session:
        stage = await session.scalar(select(Stage).where(Stage.arn == arn))
        if stage is None:
            raise LookupError(f"Stage not found: {arn}")
        if session_id is not None:
            found = await session.scalar(
                select(StageSession.pk).where(StageSession.stage_arn == arn, StageSession.session_id == session_id)
            )
            if found is None:
                raise LookupError(f"Stage session not found: {session_id} (stage {arn})")
        history = await _sessions(session, arn)
        active = next((row["sessionId"] for row in history if row["endTime"] is None), None)
        shown = session_id or active or (history[0]["sessionId"] if history else None)
        participants: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        if shown is not None:
            participants, events = await _session_activity(session, arn, shown)
        return {
            "stage": {
                "arn": stage.arn,
                "name": stage.name,
                "createdAt": _time(stage.created_at),
                "activeSessionId": active,
                "tags": await get_tags(session, arn),
                "autoParticipantRecordingConfiguration": stage.auto_recording,
            },
            "sessionId": shown,
            "sessions": history,
            "participants": participants,
            "events": events,
            "compositions": await _compositions(session, arn),
        }


async def _sessions(session: AsyncSession, arn: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(StageSession, func.count(Participant.pk))
        .outerjoin(Participant, Participant.session_id == StageSession.session_id)
        .where(StageSession.stage_arn == arn)
        .group_by(StageSession.pk)
        .order_by(StageSession.pk.desc())
        .limit(MAX_SESSIONS)
    )
    return [
        {
            "sessionId": row.session_id,
            "startTime": _time(row.start_time),
            "endTime": _time(row.end_time),
            "participants": count,
        }
        for row, count in rows.tuples()
    ]


async def _session_activity(
    session: AsyncSession, arn: str, session_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = list(
        await session.scalars(
            select(Participant)
            .where(Participant.stage_arn == arn, Participant.session_id == session_id)
            .order_by(Participant.pk)
        )
    )
    media = await media_status(session, [session_id])
    participants = [
        {
            "participantId": row.participant_id,
            "userId": row.user_id,
            "state": row.state,
            "firstJoinTime": _time(row.first_join_time),
            "published": row.published,
            "publishing": (session_id, row.participant_id) in media.publishing,
            "subscribedTo": list(media.subscribed.get((session_id, row.participant_id), {})),
            "attributes": row.details.get("attributes", {}),
            **{name: row.details.get(name, "") for name in _CLIENT_FIELDS},
        }
        for row in rows
    ]
    users = {row.participant_id: row.user_id for row in rows}
    newest = list(
        await session.scalars(
            select(ParticipantEvent)
            .where(ParticipantEvent.stage_arn == arn, ParticipantEvent.session_id == session_id)
            .order_by(ParticipantEvent.pk.desc())
            .limit(MAX_EVENTS)
        )
    )
    events = [event_view(row, users.get(row.participant_id, "")) for row in reversed(newest)]
    return participants, events


def event_view(row: ParticipantEvent, user_id: str) -> dict[str, Any]:
    """One participant event as the console's timelines show it (the feed sends the same shape)."""
    return {
        **row.details,
        "sequence": row.pk,
        "stageArn": row.stage_arn,
        "sessionId": row.session_id,
        "participantId": row.participant_id,
        "userId": user_id,
        "name": row.name,
        "eventTime": _time(row.event_time),
    }


async def _compositions(session: AsyncSession, arn: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Composition).where(Composition.stage_arn == arn).order_by(Composition.pk.desc())
    )
    return [
        {
            "arn": row.arn,
            "state": row.state,
            "startTime": _time(row.start_time),
            "endTime": _time(row.end_time),
            "layout": row.layout,
            "destinations": [
                {
                    "id": destination.get("id", ""),
                    "state": destination.get("state", ""),
                    "kind": _destination_kind(destination.get("configuration", {})),
                }
                for destination in row.destinations
            ],
        }
        for row in rows
    ]


def _destination_kind(configuration: dict[str, Any]) -> str:
    """``channel`` (an IVS channel over RTMP) or ``s3`` (HLS recording), as the DestinationConfiguration names them."""
    return next((kind for kind in ("channel", "s3") if kind in configuration), "unknown")


async def events_after(db: Database, sequence: int, limit: int = 200) -> list[dict[str, Any]]:
    """Participant events with a sequence number above ``sequence``, oldest first, with each one's userId."""
    async with db.read() as session:
        rows = list(
            await session.scalars(
                select(ParticipantEvent)
                .where(ParticipantEvent.pk > sequence)
                .order_by(ParticipantEvent.pk)
                .limit(limit)
            )
        )
        keys = {(row.session_id, row.participant_id) for row in rows}
        users: dict[tuple[str, str], str] = {}
        if keys:
            found = await session.execute(
                select(Participant.session_id, Participant.participant_id, Participant.user_id).where(
                    Participant.session_id.in_({session_id for session_id, _ in keys})
                )
            )
            users = {(session_id, participant_id): user for session_id, participant_id, user in found.tuples()}
    return [event_view(row, users.get((row.session_id, row.participant_id), "")) for row in rows]


async def last_event(db: Database) -> int:
    """The newest participant event's sequence number, 0 when there is none."""
    async with db.read() as session:
        return await session.scalar(select(func.max(ParticipantEvent.pk))) or 0
