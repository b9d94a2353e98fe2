"""Storage configurations: CreateStorageConfiguration, GetStorageConfiguration, DeleteStorageConfiguration,
ListStorageConfigurations."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import AccessDeniedException, ConflictException, ValidationException
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_quota, get_or_404, put_tags, refuse_if_used, remove_tags, tags_for
from openstage.storage.base import BucketError, BucketMissing
from openstage.store.models import Stage, StorageConfiguration

# S3's naming rules beyond the model's [a-z0-9-.]+: letters or digits at both ends, no "..".
# They also keep the local backend's bucket folder an ordinary name ("...", "-x").
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.))*[a-z0-9]")

LIST_PAGE_CAP = 100


def check_bucket_name(name: str) -> None:
    if _BUCKET_RE.fullmatch(name) is None:
        raise ValidationException(
            f"s3.bucketName {name!r} is not a valid S3 bucket name: it must begin and end with a lowercase "
            "letter or digit and may not contain two adjacent periods."
        )


async def on_bucket(step: Callable[[str], None], bucket: str) -> None:
    """Runs a storage backend's bucket step off the loop. A missing bucket is a bad request; one we may not
    write to is refused as AWS refuses access."""
    try:
        await asyncio.to_thread(step, bucket)
    except BucketMissing as error:
        raise ValidationException(error.message) from None
    except BucketError as error:
        raise AccessDeniedException(error.message) from None


async def refuse_if_recording(session: AsyncSession, arn: str) -> None:
    """A stage recording into it would lose its destination, so AWS refuses with 409 (docs 6)."""
    stage = await session.scalar(
        select(Stage.arn).where(Stage.auto_recording["storageConfigurationArn"].as_string() == arn).limit(1)
    )
    if stage is not None:
        raise ConflictException(
            f"StorageConfiguration {arn} is in use by {stage} (autoParticipantRecordingConfiguration); "
            "turn that stage's recording off or point it elsewhere before deleting it."
        )


async def storage_view(session: AsyncSession, row: StorageConfiguration) -> dict[str, Any]:
    return {
        "arn": row.arn,
        "name": row.name,
        "s3": row.s3,
        "tags": (await tags_for(session, [row.arn]))[row.arn],
    }


@operation("CreateStorageConfiguration")
async def create_storage_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    s3 = params["s3"]
    check_bucket_name(s3["bucketName"])
    # Before the transaction: an S3 endpoint's answer may take seconds, and no write should wait on it.
    await on_bucket(ctx.storage.check_bucket, s3["bucketName"])
    async with ctx.db.write() as session:
        await check_quota(ctx, session, StorageConfiguration, "storage_configurations", "storage configurations")
        row = StorageConfiguration(
            arn=ctx.arn("storage-configuration", ids.random_id()),
            name=params.get("name", ""),
            s3={"bucketName": s3["bucketName"]},
        )
        session.add(row)
        await put_tags(session, row.arn, params.get("tags"))
        await session.flush()
        view = await storage_view(session, row)
        # Where AWS grants itself access to the bucket, the local backend makes its folder: last, so a
        # request refused above leaves no folder behind.
        await on_bucket(ctx.storage.prepare_bucket, s3["bucketName"])
    return {"storageConfiguration": view}


@operation("GetStorageConfiguration")
async def get_storage_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await get_or_404(session, StorageConfiguration, params["arn"], "StorageConfiguration")
        return {"storageConfiguration": await storage_view(session, row)}


@operation("DeleteStorageConfiguration")
async def delete_storage_configuration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.write() as session:
        row = await get_or_404(session, StorageConfiguration, params["arn"], "StorageConfiguration", for_update=True)
        await refuse_if_used(session, row.arn, "StorageConfiguration")
        await refuse_if_recording(session, row.arn)
        await remove_tags(session, row.arn)
        await session.delete(row)
    return {}


@operation("ListStorageConfigurations")
async def list_storage_configurations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    # The model's documented default page: "your service quota or 100, whichever is smaller".
    default_size = max(1, min(ctx.settings.quotas["storage_configurations"], LIST_PAGE_CAP))
    page = {**params, "maxResults": params.get("maxResults") or default_size}
    async with ctx.db.read() as session:
        rows, next_token = await paginate(
            session, select(StorageConfiguration), StorageConfiguration.pk, "ListStorageConfigurations", page, {}
        )
        tags = await tags_for(session, [row.arn for row in rows])
    summaries = [{"arn": row.arn, "name": row.name, "s3": row.s3, "tags": tags[row.arn]} for row in rows]
    return {"storageConfigurations": summaries, "nextToken": next_token}
