"""Stages: CreateStage, GetStage, UpdateStage, DeleteStage, ListStages."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.composition.records import stop_compositions
from openstage.control.context import Context
from openstage.control.errors import ConflictException, not_found
from openstage.control.handlers.tokens import check_attributes, mint_token
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_quota, get_or_404, get_tags, put_tags, remove_tags, tags_for
from openstage.recording.records import IN_PROGRESS
from openstage.store.models import IngestConfiguration, Participant, Stage, StageSession, StorageConfiguration

# What GetStage echoes when recording is off (docs 2.1): every field, defaulted.
DEFAULT_RECORDING: dict[str, Any] = {
    "storageConfigurationArn": "",
    "mediaTypes": ["AUDIO_VIDEO"],
    "thumbnailConfiguration": {
        "targetIntervalSeconds": 60,
        "storage": ["SEQUENTIAL"],
        "recordingMode": "DISABLED",
    },
    "recordingReconnectWindowSeconds": 0,
    "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
    "recordParticipantReplicas": True,
}


def recording_configuration(given: dict[str, Any] | None) -> dict[str, Any]:
    """Fills defaults; an empty storageConfigurationArn turns recording off and resets the rest."""
    result = copy.deepcopy(DEFAULT_RECORDING)
    if not given or not given.get("storageConfigurationArn"):
        return result
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


async def _check_storage(session: AsyncSession, config: dict[str, Any]) -> None:
    arn = config["storageConfigurationArn"]
    if arn:
        await get_or_404(session, StorageConfiguration, arn, "StorageConfiguration")


async def _refuse_while_recording(session: AsyncSession, stage_arn: str) -> None:
    """A recording under way keeps the configuration it started with: AWS answers 409 (docs 6)."""
    recorded = await session.scalar(
        select(Participant.participant_id)
        .where(Participant.stage_arn == stage_arn, Participant.recording_state.in_(IN_PROGRESS))
        .limit(1)
    )
    if recorded is not None:
        raise ConflictException(
            f"Stage {stage_arn} is recording participant {recorded}: autoParticipantRecordingConfiguration "
            "cannot be changed while a participant recording is active."
        )


async def active_sessions(session: AsyncSession, stage_arns: list[str]) -> dict[str, str]:
    rows = await session.execute(
        select(StageSession.stage_arn, StageSession.session_id).where(
            StageSession.stage_arn.in_(stage_arns), StageSession.end_time.is_(None)
        )
    )
    return {stage_arn: session_id for stage_arn, session_id in rows}


async def _stage_or_404(session: AsyncSession, arn: str) -> tuple[Stage, str | None]:
    """The stage and its active session id in one query: GetStage is the most frequent read."""
    active = (
        select(StageSession.session_id)
        .where(StageSession.stage_arn == Stage.arn, StageSession.end_time.is_(None))
        .limit(1)
        .scalar_subquery()
    )
    row = (await session.execute(select(Stage, active).where(Stage.arn == arn))).first()
    if row is None:
        raise not_found("Stage", arn)
    return row[0], row[1]


async def stage_view(
    ctx: Context, session: AsyncSession, stage: Stage, active_session_id: str | None
) -> dict[str, Any]:
    return {
        "arn": stage.arn,
        "name": stage.name,
        "activeSessionId": active_session_id,
        "tags": await get_tags(session, stage.arn),
        "autoParticipantRecordingConfiguration": stage.auto_recording,
        "endpoints": ctx.endpoints(),
    }


@operation("CreateStage")
async def create_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    token_configs = params.get("participantTokenConfigurations") or []
    for index, config in enumerate(token_configs, start=1):
        check_attributes(config.get("attributes"), f"participantTokenConfigurations.{index}.member.attributes")
    recording = recording_configuration(params.get("autoParticipantRecordingConfiguration"))
    async with ctx.db.write() as session:
        await check_quota(ctx, session, Stage, "stages", "stages")
        await _check_storage(session, recording)
        stage = Stage(
            arn=ctx.arn("stage", ids.random_id()),
            name=params.get("name", ""),
            auto_recording=recording,
        )
        session.add(stage)
        await put_tags(session, stage.arn, params.get("tags"))
        await session.flush()
        view = await stage_view(ctx, session, stage, None)
    tokens = [mint_token(ctx, stage.arn, config) for config in token_configs]
    return {"stage": view, "participantTokens": tokens}


@operation("GetStage")
async def get_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        stage, active_session_id = await _stage_or_404(session, params["arn"])
        return {"stage": await stage_view(ctx, session, stage, active_session_id)}


@operation("UpdateStage")
async def update_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.write() as session:
        stage, active_session_id = await _stage_or_404(session, params["arn"])
        if "name" in params:
            stage.name = params["name"]
        if "autoParticipantRecordingConfiguration" in params:
            recording = recording_configuration(params["autoParticipantRecordingConfiguration"])
            await _check_storage(session, recording)
            if recording != stage.auto_recording:
                await _refuse_while_recording(session, stage.arn)
            stage.auto_recording = recording
        await session.flush()
        view = await stage_view(ctx, session, stage, active_session_id)
    return {"stage": view}


@operation("DeleteStage")
async def delete_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Deletes the stage, then disconnects everyone on it with STAGE_DELETED (model DeleteStage)."""
    async with ctx.cluster.deleting_stage(params["arn"]), ctx.db.write() as session:
        stage = await get_or_404(session, Stage, params["arn"], "Stage")
        # An encoder publishing into this stage loses its target (docs 2.1, model DeleteStage).
        await session.execute(
            update(IngestConfiguration)
            .where(IngestConfiguration.stage_arn == stage.arn, IngestConfiguration.state == "ACTIVE")
            .values(stage_arn="")
        )
        await session.execute(delete(StageSession).where(StageSession.stage_arn == stage.arn))
        await remove_tags(session, stage.arn)
        await session.delete(stage)
        await stop_compositions(session, stage.arn, "the stage was deleted")
    ctx.compositions.notify()
    return {}


@operation("ListStages")
async def list_stages(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        rows, next_token = await paginate(session, select(Stage), Stage.pk, "ListStages", params, {})
        arns = [row.arn for row in rows]
        tags = await tags_for(session, arns)
        active = await active_sessions(session, arns)
    summaries = [
        {"arn": row.arn, "name": row.name, "activeSessionId": active.get(row.arn), "tags": tags[row.arn]}
        for row in rows
    ]
    return {"stages": summaries, "nextToken": next_token}
