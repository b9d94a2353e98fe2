"""Encoder configurations: CreateEncoderConfiguration, GetEncoderConfiguration, DeleteEncoderConfiguration,
ListEncoderConfigurations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import ValidationException
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_quota, get_or_404, put_tags, refuse_if_used, remove_tags, tags_for
from openstage.store.models import EncoderConfiguration

# The documented defaults (docs 5.1); each missing member is filled on its own.
DEFAULT_VIDEO: dict[str, Any] = {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2_500_000}
# 1920x1080 or 1080x1920: the model's 2..1920 ranges alone would allow 1920x1920.
MAX_PIXELS = 2_073_600


def video_settings(given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults plus the rules the model states only in prose: even sides and a pixel cap."""
    video = {**DEFAULT_VIDEO, **{k: v for k, v in (given or {}).items() if v is not None}}
    for side in ("width", "height"):
        if video[side] % 2:
            raise ValidationException(f"video.{side} must be an even number; got {video[side]}.")
    pixels = video["width"] * video["height"]
    if pixels > MAX_PIXELS:
        raise ValidationException(
            f"video.width x video.height may be at most {MAX_PIXELS} pixels (1920x1080 or 1080x1920); "
            f"got {video['width']}x{video['height']} = {pixels}."
        )
    video["framerate"] = float(video["framerate"])
    return video


async def encoder_view(session: AsyncSession, row: EncoderConfiguration) -> dict[str, Any]:
    return {
        "arn": row.arn,
        "name": row.name,
        "video": row.video,
        "tags": (await tags_for(session, [row.arn]))[row.arn],
    }


@operation("CreateEncoderConfiguration")
async def create_encoder_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    video = video_settings(params.get("video"))
    async with ctx.db.write() as session:
        await check_quota(ctx, session, EncoderConfiguration, "encoder_configurations", "encoder configurations")
        row = EncoderConfiguration(
            arn=ctx.arn("encoder-configuration", ids.random_id()), name=params.get("name", ""), video=video
        )
        session.add(row)
        await put_tags(session, row.arn, params.get("tags"))
        await session.flush()
        view = await encoder_view(session, row)
    return {"encoderConfiguration": view}


@operation("GetEncoderConfiguration")
async def get_encoder_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await get_or_404(session, EncoderConfiguration, params["arn"], "EncoderConfiguration")
        return {"encoderConfiguration": await encoder_view(session, row)}


@operation("DeleteEncoderConfiguration")
async def delete_encoder_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.write() as session:
        row = await get_or_404(session, EncoderConfiguration, params["arn"], "EncoderConfiguration", for_update=True)
        await refuse_if_used(session, row.arn, "EncoderConfiguration")
        await remove_tags(session, row.arn)
        await session.delete(row)
    return {}


@operation("ListEncoderConfigurations")
async def list_encoder_configurations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        rows, next_token = await paginate(
            session, select(EncoderConfiguration), EncoderConfiguration.pk, "ListEncoderConfigurations", params, {}
        )
        tags = await tags_for(session, [row.arn for row in rows])
    summaries = [{"arn": row.arn, "name": row.name, "tags": tags[row.arn]} for row in rows]
    return {"encoderConfigurations": summaries, "nextToken": next_token}
