"""The durable side of a composition's lifecycle (docs 5.2): its row's states and the events they cause.

Every transition is one transaction that also adds its ``IVS Composition State Change`` events
to the outbox, so an event exists exactly when the state it announces does; ``on_commit`` then
wakes event delivery. The composition row stores destinations in the API's shape (state,
startTime, endTime as ISO strings), so Get/List read it as is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.events.outbox import add_to_outbox
from openstage.events.records import composition_state_change
from openstage.store.db import Database
from openstage.store.models import Composition, ResourceReference, Tag, utcnow

RUNNING = ("STARTING", "ACTIVE", "STOPPING")
ENDED = ("STOPPED", "FAILED")


def visible_since(retention_seconds: float) -> datetime:
    """Compositions that ended before this moment are gone from Get and List (docs 5.2: five minutes)."""
    return utcnow() - timedelta(seconds=retention_seconds)


def request_stop(row: Composition, reason: str) -> bool:
    """Marks a running composition STOPPING (its supervisor finishes the job); False if it was not running."""
    if row.state not in ("STARTING", "ACTIVE"):
        return False
    row.state = "STOPPING"
    row.reason = reason
    row.destinations = [
        {**d, "state": "STOPPING"} if d["state"] not in ("FAILED", "STOPPED") else d for d in row.destinations
    ]
    return True


class CompositionRecords:
    def __init__(self, db: Database, on_commit: Callable[[], None]) -> None:
        self.db = db
        self._on_commit = on_commit

    async def running(self) -> list[Composition]:
        async with self.db.read() as session:
            rows = await session.scalars(select(Composition).where(Composition.state.in_(RUNNING)))
            return list(rows)

    async def activate(self, arn: str, troubled: set[str] | frozenset[str] = frozenset()) -> None:
        """The pipeline composes and writes: ACTIVE, Session Start, then Destination Start for each destination
        but the ``troubled`` ones (their outputs failed at once: they start if they recover)."""

        async def change(session: AsyncSession, row: Composition) -> None:
            if row.state != "STARTING":
                return
            now = utcnow()
            row.state = "ACTIVE"
            await self._emit(session, row, "Session Start", now)
            destinations = []
            for d in row.destinations:
                if d["state"] == "STARTING" and d["id"] not in troubled:
                    d = {**d, "state": "ACTIVE", "startTime": now.isoformat()}
                    await self._emit(session, row, "Destination Start", now, d["id"])
                destinations.append(d)
            row.destinations = destinations

        await self._change(arn, change)

    async def destination(self, arn: str, destination_id: str, state: str, reason: str = "") -> None:
        """One destination's own change: ACTIVE again, RECONNECTING or FAILED (docs 5.2)."""

        async def change(session: AsyncSession, row: Composition) -> None:
            if row.state in ENDED:
                return
            now = utcnow()
            destinations = []
            for d in row.destinations:
                if d["id"] == destination_id and d["state"] not in ENDED and d["state"] != state:
                    d = {**d, "state": state}
                    if state == "FAILED":
                        d["endTime"] = now.isoformat()
                    if state == "ACTIVE" and "startTime" not in d:
                        d["startTime"] = now.isoformat()
                    name = {"ACTIVE": "Destination Start", "RECONNECTING": "Destination Reconnecting"}.get(
                        state, "Destination Failure"
                    )
                    await self._emit(session, row, name, now, destination_id, reason if state != "ACTIVE" else None)
                destinations.append(d)
            row.destinations = destinations

        await self._change(arn, change)

    async def request_stop(self, arn: str, reason: str) -> None:
        async def change(session: AsyncSession, row: Composition) -> None:
            request_stop(row, reason)

        await self._change(arn, change)

    async def finish(self, arn: str, failed: bool = False, reason: str = "") -> None:
        """STOPPED (Destination End for each destination still going, then Session End), or FAILED with
        Destination Failure and Session Failure when ``failed``."""

        async def change(session: AsyncSession, row: Composition) -> None:
            if row.state in ENDED:
                return
            now = utcnow()
            why = reason or row.reason
            destinations = []
            for d in row.destinations:
                if d["state"] not in ENDED:
                    d = {**d, "state": "FAILED" if failed else "STOPPED", "endTime": now.isoformat()}
                    name = "Destination Failure" if failed else "Destination End"
                    await self._emit(session, row, name, now, d["id"], why if failed else None)
                destinations.append(d)
            row.destinations = destinations
            row.state, row.end_time, row.reason = ("FAILED" if failed else "STOPPED"), now, why
            await self._emit(session, row, "Session Failure" if failed else "Session End", now, None, why or None)

        await self._change(arn, change)

    async def purge(self, retention_seconds: float) -> int:
        """Deletes compositions that ended longer ago than the retention, with their tags and references."""
        async with self.db.write() as session:
            arns = list(
                await session.scalars(
                    select(Composition.arn).where(
                        Composition.state.in_(ENDED), Composition.end_time < visible_since(retention_seconds)
                    )
                )
            )
            if arns:
                await session.execute(delete(ResourceReference).where(ResourceReference.user_arn.in_(arns)))
                await session.execute(delete(Tag).where(Tag.resource_arn.in_(arns)))
                await session.execute(delete(Composition).where(Composition.arn.in_(arns)))
        return len(arns)

    async def _change(self, arn: str, change: Callable[[AsyncSession, Composition], Any]) -> None:
        async with self.db.write() as session:
            row = await session.scalar(select(Composition).where(Composition.arn == arn).with_for_update())
            if row is None:
                return
            await change(session, row)
        self._on_commit()  # a wake without new events only costs the sinks a look

    async def _emit(
        self,
        session: AsyncSession,
        row: Composition,
        name: str,
        at: datetime,
        destination_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        await add_to_outbox(session, composition_state_change(name, row.arn, row.stage_arn, at, destination_id, reason))


async def stop_compositions(session: AsyncSession, stage_arn: str, reason: str) -> None:
    """Asks every running composition of the stage to stop, inside the caller's transaction (DeleteStage)."""
    rows = await session.scalars(
        select(Composition).where(Composition.stage_arn == stage_arn, Composition.state.in_(RUNNING)).with_for_update()
    )
    for row in rows:
        request_stop(row, reason)
