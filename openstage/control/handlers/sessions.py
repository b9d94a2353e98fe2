"""Stage sessions, participants and participant events: read-only views of what the media plane records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.context import Context
from openstage.control.errors import ResourceNotFoundException, ValidationException
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import get_or_404
from openstage.store.models import Participant, ParticipantEvent, Stage, StageSession

# What a participant shows for fields the media plane did not record: AWS sends "" rather
# than omitting them (docs 3.2, CLI examples), and NONE / UNKNOWN for the enums.
PARTICIPANT_DEFAULTS: dict[str, Any] = {
    "attributes": {},
    "ispName": "",
    "osName": "",
    "osVersion": "",
    "browserName": "",
    "browserVersion": "",
    "sdkVersion": "",
    "recordingS3BucketName": "",
    "recordingS3Prefix": "",
    "protocol": "UNKNOWN",
    "replicationType": "NONE",
}

# ListParticipants filters, of which the model allows only one per request (docs 3.3).
PARTICIPANT_FILTERS: dict[str, Any] = {
    "filterByUserId": Participant.user_id,
    "filterByPublished": Participant.published,
    "filterByState": Participant.state,
    "filterByRecordingState": Participant.recording_state,
}


async def _stage_session_or_404(session: AsyncSession, stage_arn: str, session_id: str) -> StageSession:
    """A session id counts only under the stage it belongs to."""
    await get_or_404(session, Stage, stage_arn, "Stage")
    row = await session.scalar(
        select(StageSession).where(StageSession.stage_arn == stage_arn, StageSession.session_id == session_id)
    )
    if row is None:
        raise ResourceNotFoundException(f"Stage session not found: {session_id} (stage {stage_arn})")
    return row


def _session_view(row: StageSession) -> dict[str, Any]:
    return {"sessionId": row.session_id, "startTime": row.start_time, "endTime": row.end_time}


def _participant_view(row: Participant) -> dict[str, Any]:
    """Serves Participant and ParticipantSummary alike: the serializer keeps only each shape's members."""
    view = {**PARTICIPANT_DEFAULTS, **row.details}
    if view["replicationType"] != "NONE":
        # A SOURCE participant shows empty source fields rather than none (CLI example).
        view.setdefault("sourceStageArn", "")
        view.setdefault("sourceSessionId", "")
    view.update(
        participantId=row.participant_id,
        userId=row.user_id,
        state=row.state,
        firstJoinTime=row.first_join_time,
        published=row.published,
        recordingState=row.recording_state,
    )
    return view


def _event_view(row: ParticipantEvent) -> dict[str, Any]:
    """Optional members (remoteParticipantId, errorCode, …) appear only when the event recorded them."""
    return {**row.details, "name": row.name, "participantId": row.participant_id, "eventTime": row.event_time}


@operation("GetStageSession")
async def get_stage_session(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await _stage_session_or_404(session, params["stageArn"], params["sessionId"])
    return {"stageSession": _session_view(row)}


@operation("ListStageSessions")
async def list_stage_sessions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    stage_arn = params["stageArn"]
    async with ctx.db.read() as session:
        await get_or_404(session, Stage, stage_arn, "Stage")
        statement = select(StageSession).where(StageSession.stage_arn == stage_arn)
        # Newest first: the session a user looks for is almost always the current or last one.
        rows, next_token = await paginate(
            session, statement, StageSession.pk, "ListStageSessions", params, {"stageArn": stage_arn}, descending=True
        )
    return {"stageSessions": [_session_view(row) for row in rows], "nextToken": next_token}


@operation("GetParticipant")
async def get_participant(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    session_id, participant_id = params["sessionId"], params["participantId"]
    async with ctx.db.read() as session:
        await _stage_session_or_404(session, params["stageArn"], session_id)
        row = await session.scalar(
            select(Participant).where(
                Participant.session_id == session_id, Participant.participant_id == participant_id
            )
        )
    if row is None:
        raise ResourceNotFoundException(f"Participant not found: {participant_id} (session {session_id})")
    return {"participant": _participant_view(row)}


@operation("ListParticipants")
async def list_participants(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    given = [name for name in PARTICIPANT_FILTERS if params.get(name) is not None]
    if len(given) > 1:
        raise ValidationException(
            "Only one of filterByUserId, filterByPublished, filterByState or filterByRecordingState "
            f"can be provided per request; this request has {' and '.join(given)}."
        )
    stage_arn, session_id = params["stageArn"], params["sessionId"]
    statement = select(Participant).where(Participant.session_id == session_id)
    filters: dict[str, Any] = {"stageArn": stage_arn, "sessionId": session_id}
    for name in given:
        statement = statement.where(PARTICIPANT_FILTERS[name] == params[name])
        filters[name] = params[name]
    async with ctx.db.read() as session:
        await _stage_session_or_404(session, stage_arn, session_id)
        rows, next_token = await paginate(session, statement, Participant.pk, "ListParticipants", params, filters)
    return {"participants": [_participant_view(row) for row in rows], "nextToken": next_token}


@operation("ListParticipantEvents")
async def list_participant_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Oldest first, in the order they were recorded; a participant that never joined (JOIN_ERROR) may have events."""
    stage_arn, session_id, participant_id = params["stageArn"], params["sessionId"], params["participantId"]
    statement = select(ParticipantEvent).where(
        ParticipantEvent.session_id == session_id, ParticipantEvent.participant_id == participant_id
    )
    filters = {"stageArn": stage_arn, "sessionId": session_id, "participantId": participant_id}
    async with ctx.db.read() as session:
        await _stage_session_or_404(session, stage_arn, session_id)
        rows, next_token = await paginate(
            session, statement, ParticipantEvent.pk, "ListParticipantEvents", params, filters
        )
    return {"events": [_event_view(row) for row in rows], "nextToken": next_token}
