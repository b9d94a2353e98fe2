"""Ingest configurations: CreateIngestConfiguration, GetIngestConfiguration, UpdateIngestConfiguration,
DeleteIngestConfiguration, ListIngestConfigurations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import ConflictException, ValidationException
from openstage.control.handlers.tokens import check_attributes
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_quota, get_or_404, put_tags, remove_tags, tags_for
from openstage.store.models import IngestConfiguration, Stage

KIND = "IngestConfiguration"
SECRET_LENGTH = 32


def stream_key(ctx: Context, config_id: str) -> str:
    """``rt_{account}_{region}_{configId}_{secret}``, the model's StreamKey pattern (docs 0.1)."""
    return f"rt_{ctx.settings.account_id}_{ctx.settings.region}_{config_id}_{ids.random_id(SECRET_LENGTH)}"


def redundant_credentials(ctx: Context, config_id: str) -> list[dict[str, str]]:
    """The second encoder publishes as its own participant, with its own key."""
    return [{"participantId": ids.random_id(), "streamKey": stream_key(ctx, config_id)}]


async def check_stage(session: AsyncSession, stage_arn: str) -> None:
    """An empty stageArn is allowed (the key is unusable until one is set); any other must exist."""
    if stage_arn:
        await get_or_404(session, Stage, stage_arn, "Stage")


def summary(row: IngestConfiguration) -> dict[str, Any]:
    return {
        "name": row.name,
        "arn": row.arn,
        "ingestProtocol": row.ingest_protocol,
        "stageArn": row.stage_arn,
        "participantId": row.participant_id,
        "state": row.state,
        "userId": row.user_id,
        "redundantIngest": row.redundant_ingest,
    }


async def ingest_view(session: AsyncSession, row: IngestConfiguration) -> dict[str, Any]:
    view = summary(row)
    view["streamKey"] = row.stream_key
    view["tags"] = (await tags_for(session, [row.arn]))[row.arn]
    # AWS's examples omit both when unset rather than echoing empties.
    view["attributes"] = row.attributes or None
    view["redundantIngestCredentials"] = row.redundant_credentials if row.redundant_ingest else None
    return view


@operation("CreateIngestConfiguration")
async def create_ingest_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    check_attributes(params.get("attributes"))
    protocol = params["ingestProtocol"]
    insecure = bool(params.get("insecureIngest", False))
    if protocol == "RTMP" and not insecure:
        raise ValidationException(
            "ingestProtocol RTMP sends the stream unencrypted, so it requires insecureIngest: true; "
            "use RTMPS, or set insecureIngest to true."
        )
    redundant = bool(params.get("redundantIngest", False))
    config_id = ids.random_id()
    async with ctx.db.write() as session:
        await check_quota(ctx, session, IngestConfiguration, "ingest_configurations", "ingest configurations")
        await check_stage(session, params.get("stageArn", ""))
        row = IngestConfiguration(
            arn=ctx.arn("ingest-configuration", config_id),
            name=params.get("name", ""),
            stage_arn=params.get("stageArn", ""),
            participant_id=ids.random_id(),
            user_id=params.get("userId", ""),
            attributes=params.get("attributes") or {},
            ingest_protocol=protocol,
            insecure_ingest=insecure,
            redundant_ingest=redundant,
            stream_key=stream_key(ctx, config_id),
            state="INACTIVE",
            redundant_credentials=redundant_credentials(ctx, config_id) if redundant else [],
        )
        session.add(row)
        await put_tags(session, row.arn, params.get("tags"))
        await session.flush()
        view = await ingest_view(session, row)
    return {"ingestConfiguration": view}


@operation("GetIngestConfiguration")
async def get_ingest_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await get_or_404(session, IngestConfiguration, params["arn"], KIND)
        return {"ingestConfiguration": await ingest_view(session, row)}


@operation("UpdateIngestConfiguration")
async def update_ingest_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.write() as session:
        # Locked so the media plane cannot turn it ACTIVE between this check and the write.
        row = await get_or_404(session, IngestConfiguration, params["arn"], KIND, for_update=True)
        if row.state == "ACTIVE":
            raise ConflictException(
                f"{KIND} {row.arn} is ACTIVE (an encoder is publishing with it) and cannot be updated; "
                "stop the encoder first."
            )
        if "stageArn" in params:
            await check_stage(session, params["stageArn"])
            row.stage_arn = params["stageArn"]
        if "redundantIngest" in params and params["redundantIngest"] != row.redundant_ingest:
            row.redundant_ingest = params["redundantIngest"]
            config_id = ids.resource_id(row.arn)
            row.redundant_credentials = redundant_credentials(ctx, config_id) if row.redundant_ingest else []
        await session.flush()
        view = await ingest_view(session, row)
    return {"ingestConfiguration": view}


@operation("DeleteIngestConfiguration")
async def delete_ingest_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """With ``force``, an ACTIVE configuration's encoders are disconnected (docs 7.1) once it is gone."""
    async with ctx.db.write() as session:
        row = await get_or_404(session, IngestConfiguration, params["arn"], KIND, for_update=True)
        if row.state == "ACTIVE" and not params.get("force"):
            raise ConflictException(
                f"{KIND} {row.arn} is ACTIVE (an encoder is publishing with it); "
                "pass force: true to disconnect the encoder and delete it anyway."
            )
        publishing = [row.participant_id, *(entry["participantId"] for entry in row.redundant_credentials)]
        stage_arn = row.stage_arn if row.state == "ACTIVE" else ""
        await remove_tags(session, row.arn)
        await session.delete(row)
    for participant_id in publishing if stage_arn else []:
        # Through the cluster: the encoder is connected to the node hosting the stage, maybe not this one.
        await ctx.cluster.disconnect_participant(
            stage_arn, participant_id, "ingest configuration deleted", refuse=False
        )
    return {}


@operation("ListIngestConfigurations")
async def list_ingest_configurations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    filters = {k: params[k] for k in ("filterByStageArn", "filterByState") if params.get(k) is not None}
    if len(filters) > 1:
        raise ValidationException(
            "Only one filter may be used at a time: give filterByStageArn or filterByState, not both."
        )
    statement = select(IngestConfiguration)
    if "filterByStageArn" in filters:
        statement = statement.where(IngestConfiguration.stage_arn == filters["filterByStageArn"])
    if "filterByState" in filters:
        statement = statement.where(IngestConfiguration.state == filters["filterByState"])
    async with ctx.db.read() as session:
        rows, next_token = await paginate(
            session, statement, IngestConfiguration.pk, "ListIngestConfigurations", params, filters
        )
    return {"ingestConfigurations": [summary(row) for row in rows], "nextToken": next_token}
