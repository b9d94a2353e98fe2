"""Compositions: StartComposition, StopComposition, GetComposition, ListCompositions (docs 5.1, 5.2).

The handlers only write rows: a new composition is STARTING, a stop request makes it
STOPPING, and the composition supervisor (openstage/composition/supervisor.py) of the node
hosting the stage, woken through the cluster, runs and ends the pipelines. A composition that ended longer ago than
``composition_retention_seconds`` is gone from Get and List, as in IVS.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.cluster import CommandFailed
from openstage.composition import channels
from openstage.composition.layout import with_defaults
from openstage.composition.records import RUNNING, request_stop, visible_since
from openstage.control.context import Context
from openstage.control.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_tags, get_or_404, put_tags, tags_for
from openstage.store.models import (
    Composition,
    EncoderConfiguration,
    ResourceReference,
    Stage,
    StorageConfiguration,
    utcnow,
)

log = logging.getLogger("openstage.composition")

DEFAULT_SEGMENT_SECONDS = 2  # CompositionRecordingHlsConfiguration.targetSegmentDurationSeconds
DEFAULT_THUMBNAIL = {"targetIntervalSeconds": 60, "storage": ["SEQUENTIAL"]}


def _view(row: Composition, tags: dict[str, str]) -> dict[str, Any]:
    """Serves Composition and CompositionSummary alike: the serializer keeps only each shape's members,
    so a summary's destinations shrink to {id, state, startTime, endTime}."""
    return {
        "arn": row.arn,
        "stageArn": row.stage_arn,
        "state": row.state,
        "layout": row.layout,
        "destinations": row.destinations,
        "tags": tags,
        "startTime": row.start_time,
        "endTime": row.end_time,
    }


def _visible(ctx: Context) -> Any:
    return or_(
        Composition.end_time.is_(None),
        Composition.end_time >= visible_since(ctx.settings.composition_retention_seconds),
    )


@operation("StartComposition")
async def start_composition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    layout = _layout(params.get("layout"))
    check_tags(params.get("tags") or {})
    token = params.get("idempotencyToken", "")
    digest = _digest(params)
    composition_id = ids.random_id()
    stage_id = ids.resource_id(params["stageArn"])
    async with ctx.db.write() as session:
        await ctx.db.lock(session, "quota:compositions")  # one start at a time: quotas, channels, tokens
        if token:
            earlier = await session.scalar(select(Composition).where(Composition.idempotency_token == token))
            if earlier is not None:
                if earlier.request_digest != digest:
                    raise ConflictException(
                        f"idempotencyToken {token!r} was already used by a StartComposition with other parameters "
                        f"({earlier.arn}); use a new token for a different request."
                    )
                tags = await tags_for(session, [earlier.arn])
                return {"composition": _view(earlier, tags[earlier.arn])}
        await get_or_404(session, Stage, params["stageArn"], "Stage")
        destinations, used = await _destinations(ctx, session, params["destinations"], stage_id, composition_id)
        await _check_quotas(ctx, session, params["stageArn"])
        row = Composition(
            arn=ctx.arn("composition", composition_id),
            stage_arn=params["stageArn"],
            state="STARTING",
            layout=layout,
            destinations=destinations,
            start_time=utcnow(),
            idempotency_token=token,
            request_digest=digest,
        )
        session.add(row)
        for used_arn in used:
            session.add(ResourceReference(user_arn=row.arn, used_arn=used_arn))
        await put_tags(session, row.arn, params.get("tags"))
        await session.flush()
        view = _view(row, params.get("tags") or {})
    await _wake_host(ctx, row.stage_arn)
    return {"composition": view}


@operation("StopComposition")
async def stop_composition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.write() as session:
        row = await session.scalar(
            select(Composition).where(Composition.arn == params["arn"], _visible(ctx)).with_for_update()
        )
        if row is None:
            raise ResourceNotFoundException(f"Composition not found: {params['arn']}")
        request_stop(row, "")  # a composition already stopping or ended stays as it is
    await _wake_host(ctx, row.stage_arn)
    return {}


@operation("GetComposition")
async def get_composition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await session.scalar(select(Composition).where(Composition.arn == params["arn"], _visible(ctx)))
        if row is None:
            raise ResourceNotFoundException(f"Composition not found: {params['arn']}")
        tags = await tags_for(session, [row.arn])
    return {"composition": _view(row, tags[row.arn])}


@operation("ListCompositions")
async def list_compositions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    statement = select(Composition).where(_visible(ctx))
    filters: dict[str, Any] = {}
    if "filterByStageArn" in params:
        filters["filterByStageArn"] = params["filterByStageArn"]
        statement = statement.where(Composition.stage_arn == params["filterByStageArn"])
    if "filterByEncoderConfigurationArn" in params:
        filters["filterByEncoderConfigurationArn"] = params["filterByEncoderConfigurationArn"]
        users = select(ResourceReference.user_arn).where(
            ResourceReference.used_arn == params["filterByEncoderConfigurationArn"]
        )
        statement = statement.where(Composition.arn.in_(users))
    async with ctx.db.read() as session:
        # Newest first, as AWS's list-compositions example shows.
        rows, next_token = await paginate(
            session, statement, Composition.pk, "ListCompositions", params, filters, descending=True
        )
        tags = await tags_for(session, [row.arn for row in rows])
    return {"compositions": [_view(row, tags[row.arn]) for row in rows], "nextToken": next_token}


async def _wake_host(ctx: Context, stage_arn: str) -> None:
    """Wakes the supervisor of the node hosting the stage (this one if none does yet), wherever the request came."""
    try:
        await ctx.cluster.call_host(stage_arn, "composition.wake", {})
    except CommandFailed as failure:  # every supervisor also looks every second: the change is only later
        log.warning("%s; the composition supervisors will see the change on their next look", failure)


def _layout(given: dict[str, Any] | None) -> dict[str, Any]:
    if given and given.get("grid") is not None and given.get("pip") is not None:
        raise ValidationException("layout may hold grid or pip, not both.")
    return with_defaults(given)


def _digest(params: dict[str, Any]) -> str:
    """What makes two StartComposition requests "the same" for their idempotency token."""
    request = {k: v for k, v in params.items() if k != "idempotencyToken"}
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


async def _destinations(
    ctx: Context, session: AsyncSession, given: list[dict[str, Any]], stage_id: str, composition_id: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """Destinations in the API's shape with defaults filled, and the configuration ARNs they use."""
    kinds = []
    for index, destination in enumerate(given):
        present = [kind for kind in ("channel", "s3") if destination.get(kind) is not None]
        if len(present) != 1:
            raise ValidationException(f"destinations[{index}] must have exactly one of channel or s3.")
        kinds.append(present[0])
    for kind in ("channel", "s3"):
        if kinds.count(kind) > 1:
            raise ValidationException(
                "destinations may be one destination (channel or s3) or two (one channel and one s3); "
                f"got {kinds.count(kind)} {kind} destinations."
            )
    destinations: list[dict[str, Any]] = []
    used: list[str] = []
    for destination, kind in zip(given, kinds, strict=True):
        destination_id = ids.random_id()
        entry: dict[str, Any] = {"id": destination_id, "state": "STARTING"}
        if kind == "channel":
            channel = dict(destination["channel"])
            await _check_channel(ctx, session, channel["channelArn"])
            if channel.get("encoderConfigurationArn"):
                used.append(await _encoder(session, channel["encoderConfigurationArn"]))
            entry["configuration"] = {"name": destination.get("name", ""), "channel": channel}
        else:
            s3 = destination["s3"]
            storage = await get_or_404(
                session, StorageConfiguration, s3["storageConfigurationArn"], "StorageConfiguration"
            )
            encoders = [await _encoder(session, arn) for arn in s3["encoderConfigurationArns"]]
            used += [storage.arn, *encoders]
            hls = (s3.get("recordingConfiguration") or {}).get("hlsConfiguration") or {}
            configuration: dict[str, Any] = {
                "storageConfigurationArn": storage.arn,
                "encoderConfigurationArns": encoders,
                "recordingConfiguration": {
                    "format": "HLS",
                    "hlsConfiguration": {
                        "targetSegmentDurationSeconds": hls.get("targetSegmentDurationSeconds", DEFAULT_SEGMENT_SECONDS)
                    },
                },
            }
            if s3.get("thumbnailConfigurations"):
                configuration["thumbnailConfigurations"] = [
                    {**DEFAULT_THUMBNAIL, **{k: v for k, v in t.items() if v is not None}}
                    for t in s3["thumbnailConfigurations"]
                ]
            entry["configuration"] = {"name": destination.get("name", ""), "s3": configuration}
            entry["detail"] = {"s3": {"recordingPrefix": f"{stage_id}/{composition_id}/{destination_id}/composite"}}
        destinations.append(entry)
    return destinations, list(dict.fromkeys(used))


async def _encoder(session: AsyncSession, arn: str) -> str:
    return (await get_or_404(session, EncoderConfiguration, arn, "EncoderConfiguration")).arn


async def _check_channel(ctx: Context, session: AsyncSession, channel_arn: str) -> None:
    """Known to the channel registry, in this account and region, and not already live (docs 5.1)."""
    parsed = ids.parse_arn(channel_arn)
    if parsed is None or parsed[:2] != (ctx.settings.region, ctx.settings.account_id):
        raise ValidationException(
            f"channelArn {channel_arn} must be a channel in this account ({ctx.settings.account_id}) "
            f"and region ({ctx.settings.region})."
        )
    try:
        url = channels.ingest_url(ctx.settings.data_dir, channel_arn)
    except channels.ChannelError as error:
        raise ValidationException(str(error)) from None
    if url is None:
        raise ResourceNotFoundException(
            f"Channel not found: {channel_arn} (register it with: openstage channels add {channel_arn} rtmp://…)"
        )
    running = await session.scalars(select(Composition).where(Composition.state.in_(RUNNING)))
    for other in running:
        if any(d["configuration"].get("channel", {}).get("channelArn") == channel_arn for d in other.destinations):
            raise ConflictException(f"Channel {channel_arn} is already live: {other.arn} broadcasts to it.")


async def _check_quotas(ctx: Context, session: AsyncSession, stage_arn: str) -> None:
    running = select(func.count()).select_from(Composition).where(Composition.state.in_(RUNNING))
    account_limit = ctx.settings.quotas["compositions"]
    if (await session.scalar(running) or 0) >= account_limit:
        raise ServiceQuotaExceededException(
            f"Quota exceeded: this account may run at most {account_limit} compositions at once "
            "(openstage setting quotas.compositions)."
        )
    stage_limit = ctx.settings.quotas["compositions_per_stage"]
    if (await session.scalar(running.where(Composition.stage_arn == stage_arn)) or 0) >= stage_limit:
        raise ServiceQuotaExceededException(
            f"Quota exceeded: stage {stage_arn} may have at most {stage_limit} compositions at once "
            "(openstage setting quotas.compositions_per_stage)."
        )
