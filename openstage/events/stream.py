"""The live stream: server-sent events from the outbox, resumable with ``Last-Event-ID``.

Each event is ``id: <outbox sequence>`` and ``data: <envelope JSON>``; ``?stage=ARN`` and
``?detail-type=T`` filter. Without ``Last-Event-ID`` (or ``?after=N``) the stream starts
with the next event. Authentication is the caller's ``authorize``, so this module stays
below the control plane.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from openstage.events.outbox import Wakeup, events_after, last_pk, wait
from openstage.store.db import Database
from openstage.store.models import OutboxEvent

PATH = "/api/events/stream"
KEEPALIVE_SECONDS = 15.0  # a comment line this often, so proxies keep the connection and dead ones surface

# Returns the response refusing the request, or None to let it through.
Authorize = Callable[[Request], Response | None]


class EventStream:
    def __init__(self, db: Database, wakeup: Wakeup, authorize: Authorize) -> None:
        self._db = db
        self._wakeup = wakeup
        self.authorize = authorize  # shared with the other /api/events routes
        self._closing = False

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["GET"])]

    def close(self) -> None:
        """Ends every open stream, so a shutdown does not wait for clients that never hang up."""
        self._closing = True
        self._wakeup.notify()

    async def endpoint(self, request: Request) -> Response:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        start = request.headers.get("last-event-id") or request.query_params.get("after")
        if start is not None and not start.isdigit():
            return JSONResponse({"message": "Last-Event-ID (or after) must be an event sequence number"}, 400)
        after = int(start) if start is not None else await last_pk(self._db)
        stage = request.query_params.get("stage")
        detail_type = request.query_params.get("detail-type")
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        events = self._events(after, stage, detail_type)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    async def _events(self, after: int, stage: str | None, detail_type: str | None) -> AsyncIterator[str]:
        flag = self._wakeup.listen()
        try:
            yield ": openstage events\n\n"
            while not self._closing:
                flag.clear()
                rows = await events_after(self._db, after)
                for row in rows:
                    after = row.pk
                    if _matches(row, stage, detail_type):
                        yield f"id: {row.pk}\ndata: {json.dumps(row.envelope, separators=(',', ':'))}\n\n"
                if not rows:
                    await wait(flag, KEEPALIVE_SECONDS)
                    if not flag.is_set():
                        yield ": keep-alive\n\n"
        finally:
            self._wakeup.forget(flag)


def _matches(row: OutboxEvent, stage: str | None, detail_type: str | None) -> bool:
    return (stage is None or row.stage_arn == stage) and (detail_type is None or row.detail_type == detail_type)
