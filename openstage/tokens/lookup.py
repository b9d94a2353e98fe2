"""Where the token verifier finds imported public keys: the database the control plane writes.

Reading the table on every self-signed join (rather than caching) makes DeletePublicKey take
effect at once, on every node sharing the database, as docs 1.3 require.
"""

from __future__ import annotations

from sqlalchemy import select

from openstage.store.db import Database
from openstage.store.models import PublicKey
from openstage.tokens.participant import PublicKeyLookup


def database_lookup(db: Database) -> PublicKeyLookup:
    """A :data:`PublicKeyLookup` for :class:`TokenVerifier`: key ARN -> PEM, or None if unknown."""

    async def lookup(arn: str) -> str | None:
        async with db.read() as session:
            return await session.scalar(select(PublicKey.material).where(PublicKey.arn == arn))

    return lookup
