"""The durable outbox: events in commit order, read by every sink and the live stream from where they stopped."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.db import Database
from openstage.store.models import OutboxEvent

OUTBOX_LOCK = 0x6F75_7462  # "outb": the advisory lock key serializing outbox writers on PostgreSQL


async def add_to_outbox(session: AsyncSession, envelope: dict[str, Any]) -> None:
    """Adds ``envelope`` inside the caller's transaction, so it exists exactly if the change that caused it does.

    On PostgreSQL, writers (several nodes, or one node's pool) could commit sequence numbers out of order and
    a reader would skip the late one for good; a transaction-scoped lock makes commit order sequence order.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK})
    session.add(
        OutboxEvent(
            event_id=envelope["id"],
            # The stage the event is about: composition events name it in the detail, the others first in resources.
            stage_arn=envelope["detail"].get("stage_arn") or envelope["resources"][0],
            detail_type=envelope["detail-type"],
            envelope=envelope,
        )
    )
    await session.flush()  # pk order is delivery order: one row at a time


async def events_after(db: Database, pk: int, limit: int = 100) -> list[OutboxEvent]:
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.pk > pk).order_by(OutboxEvent.pk).limit(limit)
        )
        return list(rows)


async def last_pk(db: Database) -> int:
    """The newest event's sequence number, 0 when there is none."""
    async with db.read() as session:
        return await session.scalar(select(OutboxEvent.pk).order_by(OutboxEvent.pk.desc()).limit(1)) or 0


class Wakeup:
    """Wakes every listener when new events commit; listeners also poll, so a missed wake only delays.

    A listener clears its flag before it reads the outbox, so a commit during the read is not lost.
    """

    def __init__(self) -> None:
        self._listeners: set[asyncio.Event] = set()

    def notify(self) -> None:
        for flag in self._listeners:
            flag.set()

    def listen(self) -> asyncio.Event:
        flag = asyncio.Event()
        self._listeners.add(flag)
        return flag

    def forget(self, flag: asyncio.Event) -> None:
        self._listeners.discard(flag)


async def wait(flag: asyncio.Event, timeout: float) -> None:
    """Until ``flag`` is set or ``timeout`` passes, whichever comes first."""
    try:
        await asyncio.wait_for(flag.wait(), timeout)
    except TimeoutError:
        pass
