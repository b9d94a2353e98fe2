"""TagResource, UntagResource, ListTagsForResource on every taggable resource type."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import not_found
from openstage.control.registry import operation
from openstage.control.resources import get_or_404, get_tags, put_tags, remove_tags
from openstage.store.models import (
    Composition,
    EncoderConfiguration,
    IngestConfiguration,
    PublicKey,
    Stage,
    StorageConfiguration,
)

# The ARN's resource type → its table and name in messages. Any other type (a channel, a
# participant) is well-formed for the model's ResourceArn pattern but has nothing to tag here.
TAGGABLE: dict[str, tuple[type[Any], str]] = {
    "stage": (Stage, "Stage"),
    "encoder-configuration": (EncoderConfiguration, "EncoderConfiguration"),
    "storage-configuration": (StorageConfiguration, "StorageConfiguration"),
    "ingest-configuration": (IngestConfiguration, "IngestConfiguration"),
    "public-key": (PublicKey, "PublicKey"),
    "composition": (Composition, "Composition"),
}


async def _require_resource(session: AsyncSession, arn: str) -> None:
    parsed = ids.parse_arn(arn)
    found = TAGGABLE.get(parsed[2]) if parsed else None
    if found is None:
        raise not_found("Resource", arn)
    model, kind = found
    await get_or_404(session, model, arn, kind)


@operation("TagResource")
async def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["resourceArn"]
    async with ctx.db.write() as session:
        await _require_resource(session, arn)
        # Two concurrent TagResource calls must not both pass the 50-tag check on the merged set.
        await ctx.db.lock(session, f"tags:{arn}")
        await put_tags(session, arn, params["tags"])
    return {}


@operation("UntagResource")
async def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Idempotent: keys the resource does not carry are simply not there to remove."""
    arn = params["resourceArn"]
    async with ctx.db.write() as session:
        await _require_resource(session, arn)
        await remove_tags(session, arn, params["tagKeys"])
    return {}


@operation("ListTagsForResource")
async def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["resourceArn"]
    async with ctx.db.read() as session:
        await _require_resource(session, arn)
        return {"tags": await get_tags(session, arn)}
