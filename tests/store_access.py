"""Direct writes into a running server's database, for states the API cannot produce yet.

An ACTIVE ingest configuration needs an encoder publishing; a configuration in use needs a
running composition. Tests seed such rows with the real store classes instead of faking
the server's answers, then check what the API does with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.db import Database
from tests.server import Server

T = TypeVar("T")


def database_url(server: Server) -> str:
    """The URL the server itself uses: its PostgreSQL database, or the SQLite file in its data dir."""
    return server.database_url or f"sqlite+aiosqlite:///{server.data_dir}/openstage.db"


def run_in_db(server: Server, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs ``fn`` in one committed write transaction on ``server``'s database and returns its result."""

    async def main() -> T:
        db = Database(database_url(server))
        try:
            async with db.write() as session:
                return await fn(session)
        finally:
            await db.close()

    return asyncio.run(main())
