"""Helpers every resource family shares: lookups that 404, quotas that 402, and tags."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.context import Context
from openstage.control.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from openstage.store.models import ResourceReference, Tag

M = TypeVar("M")

MAX_TAGS = 50


async def get_or_404(session: AsyncSession, model: type[M], arn: str, kind: str, for_update: bool = False) -> M:
    """``for_update`` row-locks (PostgreSQL) before a delete or update, so a concurrent reader waits or fails."""
    statement = select(model).where(model.arn == arn)  # type: ignore[attr-defined]
    if for_update:
        statement = statement.with_for_update()
    row = await session.scalar(statement)
    if row is None:
        raise ResourceNotFoundException(f"{kind} not found: {arn}")
    return row


async def refuse_if_used(session: AsyncSession, arn: str, kind: str) -> None:
    """AWS answers 409 rather than leave a composition pointing at a deleted configuration (docs 5.1)."""
    user = await session.scalar(select(ResourceReference.user_arn).where(ResourceReference.used_arn == arn).limit(1))
    if user is not None:
        raise ConflictException(f"{kind} {arn} is in use by {user}; stop the composition using it before deleting it.")


async def check_quota(ctx: Context, session: AsyncSession, model: type[Any], quota: str, what: str) -> None:
    """Raises 402 when one more ``model`` row would exceed the account quota ``quota``."""
    await ctx.db.lock(session, f"quota:{quota}")
    limit = ctx.settings.quotas[quota]
    count = await session.scalar(select(func.count()).select_from(model))
    if (count or 0) >= limit:
        raise ServiceQuotaExceededException(
            f"Quota exceeded: this account may have at most {limit} {what} (openstage setting quotas.{quota})."
        )


def check_tags(tags: dict[str, str]) -> None:
    """The rules the model cannot express: the aws: prefix is reserved, 50 tags at most."""
    reserved = [k for k in tags if k.lower().startswith("aws:")]
    if reserved:
        raise ValidationException(f"Tag keys may not start with 'aws:' (reserved by AWS): {', '.join(reserved)}")
    if len(tags) > MAX_TAGS:
        raise ValidationException(
            f"A resource may have at most {MAX_TAGS} tags; the request would give it {len(tags)}."
        )


async def put_tags(session: AsyncSession, arn: str, tags: dict[str, str] | None) -> None:
    """Adds or replaces ``tags`` on ``arn``, enforcing the limit on the merged set."""
    if not tags:
        return
    existing = await get_tags(session, arn)
    check_tags({**existing, **tags})
    for key, value in tags.items():
        await session.merge(Tag(resource_arn=arn, key=key, value=value))


async def get_tags(session: AsyncSession, arn: str) -> dict[str, str]:
    rows = await session.execute(select(Tag.key, Tag.value).where(Tag.resource_arn == arn).order_by(Tag.key))
    return {key: value for key, value in rows}


async def tags_for(session: AsyncSession, arns: list[str]) -> dict[str, dict[str, str]]:
    """Tags of many resources in one query (list operations)."""
    found: dict[str, dict[str, str]] = {arn: {} for arn in arns}
    if arns:
        rows = await session.execute(select(Tag).where(Tag.resource_arn.in_(arns)).order_by(Tag.key))
        for tag in rows.scalars():
            found[tag.resource_arn][tag.key] = tag.value
    return found


async def remove_tags(session: AsyncSession, arn: str, keys: list[str] | None = None) -> None:
    statement = delete(Tag).where(Tag.resource_arn == arn)
    if keys is not None:
        statement = statement.where(Tag.key.in_(keys))
    await session.execute(statement)
