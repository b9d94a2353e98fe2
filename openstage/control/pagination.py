"""Keyset pagination with opaque ``nextToken``s bound to the filters they were issued for.

A token carries the last row's ``pk`` and a digest of the request's filters; presenting it
with other filters is a ValidationException, as AWS does, rather than a silently wrong page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.errors import ValidationException

# The documented defaults (docs 8.3); the model carries only the ranges.
DEFAULT_MAX_RESULTS: dict[str, int] = {
    "ListCompositions": 100,
    "ListEncoderConfigurations": 100,
    "ListStorageConfigurations": 100,
}
DEFAULT = 50
MAX_PK = 2**63 - 1  # the largest key a BIGINT (PostgreSQL) or INTEGER (SQLite) column holds

T = TypeVar("T")


def _digest(operation: str, filters: dict[str, Any]) -> str:
    canonical = json.dumps([operation, filters], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_token(operation: str, filters: dict[str, Any], after: int) -> str:
    raw = json.dumps({"a": after, "f": _digest(operation, filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(operation: str, filters: dict[str, Any], token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after, digest = int(data["a"]), str(data["f"])
        if not 0 <= after <= MAX_PK:  # the digest has no secret: anyone can forge a token, so bound what it holds
            raise ValueError(after)
    except (ValueError, KeyError, TypeError, OverflowError):
        raise ValidationException("The nextToken is invalid: it was not issued by this API.") from None
    if digest != _digest(operation, filters):
        raise ValidationException(
            "The nextToken does not match the request: it was issued for a request with other filters."
        )
    return after


async def paginate(
    session: AsyncSession,
    statement: Select[tuple[T]],
    pk: Any,
    operation: str,
    params: dict[str, Any],
    filters: dict[str, Any],
    limit: int | None = None,
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """Runs ``statement`` one page at a time, ordered by ``pk`` (newest first if ``descending``).

    Returns the rows and the next token.
    """
    size = params.get("maxResults") or DEFAULT_MAX_RESULTS.get(operation, DEFAULT)
    if limit is not None:
        size = min(size, limit)
    after = decode_token(operation, filters, params.get("nextToken"))
    if descending:
        page = statement.order_by(pk.desc())
        if after:  # pks start at 1, so 0 means "no token"
            page = page.where(pk < after)
    else:
        page = statement.where(pk > after).order_by(pk)
    rows = list((await session.scalars(page.limit(size + 1))).all())
    if len(rows) <= size:
        return rows, None
    rows = rows[:size]
    return rows, encode_token(operation, filters, rows[-1].pk)
