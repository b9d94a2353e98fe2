"""``GET /api/events``: recent events and how far each sink got, for ``openstage events list`` and the console.

A sink's lag is counted in events (the outbox's newest sequence minus the sink's last
acknowledged one) and in time (how long the oldest event it has not acknowledged has waited),
so an operator sees both "how much" and "how stale".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.events.records import iso
from openstage.events.stream import Authorize
from openstage.store.db import Database
from openstage.store.models import DeadLetter, OutboxEvent, SinkDelivery, utcnow

PATH = "/api/events"
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000


class EventInspection:
    def __init__(self, db: Database, authorize: Authorize, sinks: list[str]) -> None:
        """``sinks`` are the names of the sinks configured now; others in the database are shown as removed."""
        self._db = db
        self._authorize = authorize
        self._sinks = sinks

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["GET"])]

    async def endpoint(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            return JSONResponse({"message": f"limit must be a whole number from 1 to {MAX_LIMIT}"}, 400)
        stage = request.query_params.get("stage")
        detail_type = request.query_params.get("detail-type")
        return JSONResponse(await self.snapshot(int(limit), stage, detail_type))

    async def snapshot(self, limit: int, stage: str | None, detail_type: str | None) -> dict[str, Any]:
        async with self._db.read() as session:
            query = select(OutboxEvent).order_by(OutboxEvent.pk.desc()).limit(limit)
            if stage:
                query = query.where(OutboxEvent.stage_arn == stage)
            if detail_type:
                query = query.where(OutboxEvent.detail_type == detail_type)
            events = list(await session.scalars(query))
            newest = await session.scalar(select(func.max(OutboxEvent.pk))) or 0
            states = {state.sink: state for state in await session.scalars(select(SinkDelivery))}
            dead = dict((await session.execute(select(DeadLetter.sink, func.count()).group_by(DeadLetter.sink))).all())
            sinks = []
            for name in [*self._sinks, *sorted(set(states) - set(self._sinks))]:
                state = states.get(name)
                delivered = state.delivered_pk if state else newest
                pending = select(func.min(OutboxEvent.created_at)).where(OutboxEvent.pk > delivered)
                oldest = await session.scalar(pending)
                sinks.append(_sink(name, name in self._sinks, state, newest, oldest, dead.get(name, 0)))
        return {"latestSequence": newest, "events": [_event(row) for row in events], "sinks": sinks}


def _event(row: OutboxEvent) -> dict[str, Any]:
    envelope = row.envelope
    return {
        "sequence": row.pk,
        "id": row.event_id,
        "time": envelope["time"],
        "detailType": row.detail_type,
        "eventName": envelope["detail"].get("event_name", ""),
        "resource": envelope["resources"][0],
        "event": envelope,
    }


def _sink(
    name: str, configured: bool, state: SinkDelivery | None, newest: int, oldest: datetime | None, dead: int
) -> dict[str, Any]:
    delivered = state.delivered_pk if state else newest
    return {
        "name": name,
        "configured": configured,
        "deliveredSequence": delivered,
        "lagEvents": newest - delivered,
        "lagSeconds": round((utcnow() - oldest).total_seconds(), 1) if oldest else 0.0,
        "failedAttempts": state.attempts if state else 0,
        "failingSince": iso(state.first_failure_at) if state and state.first_failure_at else None,
        "lastError": state.last_error if state else "",
        "deadLetters": dead,
    }
