"""Delivers the outbox to every sink after commit, at least once, each sink strictly in outbox order.

Each sink has one task and one row of delivery state: the last event it acknowledged and the
failed attempts at the next. Event N+1 waits for N; a failing event is retried with
exponential backoff until the retry budget (counted from its first failure, across restarts)
runs out, then it becomes a dead letter and the sink moves on. A crash redelivers whatever
was not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from openstage.events.outbox import Wakeup, events_after, last_pk, wait
from openstage.store.db import Database
from openstage.store.models import DeadLetter, OutboxEvent, SinkDelivery, utcnow

log = logging.getLogger("openstage.events")

POLL_SECONDS = 5.0  # a missed wake-up (or another node's commit) is picked up this late at most
MAX_BACKOFF_SECONDS = 600.0


class Sink(Protocol):
    name: str

    async def deliver(self, envelope: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    budget_seconds: float = 6 * 3600.0  # IVS retries for hours

    def delay(self, attempts: int) -> float:
        return float(min(self.base_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))


class Dispatcher:
    def __init__(self, db: Database, wakeup: Wakeup, sinks: list[Sink], policy: RetryPolicy) -> None:
        self._db = db
        self._wakeup = wakeup
        self._sinks = sinks
        self._policy = policy
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sink_names(self) -> list[str]:
        return [sink.name for sink in self._sinks]

    async def start(self) -> None:
        """Starts delivery; call before anything can write events, so a new sink misses none written after."""
        for sink in self._sinks:
            delivered = await self._prepare(sink.name)
            self._tasks.append(asyncio.create_task(self._run(sink, delivered), name=sink.name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sink in self._sinks:
            await sink.close()

    async def _prepare(self, name: str) -> int:
        """The sink's last acknowledged event; a sink seen for the first time starts after the current end."""
        async with self._db.write() as session:
            state = await session.get(SinkDelivery, name)
            if state is None:
                state = SinkDelivery(sink=name, delivered_pk=await last_pk(self._db), attempts=0, last_error="")
                session.add(state)
            return state.delivered_pk

    async def _run(self, sink: Sink, delivered: int) -> None:
        flag = self._wakeup.listen()
        try:
            while True:
                flag.clear()
                rows = await events_after(self._db, delivered)
                if not rows:
                    await wait(flag, POLL_SECONDS)
                for row in rows:
                    await self._deliver(sink, row)
                    delivered = row.pk
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event delivery to %s stopped", sink.name)
        finally:
            self._wakeup.forget(flag)

    async def _deliver(self, sink: Sink, row: OutboxEvent) -> None:
        """Returns once the event is acknowledged or dead-lettered, with that recorded."""
        while True:
            try:
                await sink.deliver(row.envelope)
            except Exception as error:
                delay = await self._failed(sink.name, row, str(error) or type(error).__name__)
                if delay is None:
                    return
                await asyncio.sleep(delay)
            else:
                await self._advance(sink.name, row.pk)
                return

    async def _advance(self, name: str, pk: int) -> None:
        async with self._db.write() as session:
            state = await session.get(SinkDelivery, name)
            assert state is not None
            state.delivered_pk, state.attempts, state.first_failure_at, state.last_error = pk, 0, None, ""

    async def _failed(self, name: str, row: OutboxEvent, error: str) -> float | None:
        """Counts the failure; returns how long to wait before the next attempt, or None once dead-lettered."""
        now = utcnow()
        async with self._db.write() as session:
            state = await session.get(SinkDelivery, name)
            assert state is not None
            state.attempts += 1
            state.last_error = error
            if state.first_failure_at is None:
                state.first_failure_at = now
            remaining = self._policy.budget_seconds - (now - state.first_failure_at).total_seconds()
            if remaining > 0:
                log.warning("event %s to %s failed (attempt %d): %s", row.event_id, name, state.attempts, error)
                return min(self._policy.delay(state.attempts), remaining)
            log.error("event %s to %s dead after %d attempts: %s", row.event_id, name, state.attempts, error)
            session.add(
                DeadLetter(sink=name, event_pk=row.pk, event_id=row.event_id, attempts=state.attempts, last_error=error)
            )
            state.delivered_pk, state.attempts, state.first_failure_at, state.last_error = row.pk, 0, None, ""
            return None
