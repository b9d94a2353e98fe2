"""The console's live feed: server-sent events with the stage overview whenever it changes, and every participant event.

``event: overview`` carries the whole stage list (it replaces the page's copy);
``event: participant`` carries one participant event, ``id`` being its sequence number, so a
reconnecting EventSource resumes after the last one it saw. The feed looks at the database
when an EventBridge event commits and otherwise once a second (joins, leaves, new stages and
ended sessions put nothing in the outbox), which keeps the page itself free of polling. Each
look reads a few counters; the overview is rebuilt only when they moved, or every ten seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from openstage.console.console_views import change_stamp, events_after, last_event, overview
from openstage.events.outbox import Wakeup, wait
from openstage.events.stream import Authorize
from openstage.store.db import Database

PATH = "/api/console/feed"
CHECK_SECONDS = 1.0
FULL_CHECK_SECONDS = 10.0  # renames and tag changes move no counter: the overview is rebuilt this often anyway
KEEPALIVE_SECONDS = 15.0
BATCH = 200  # participant events read per query
RETRY_MILLISECONDS = 2000  # how long a disconnected EventSource waits before it reconnects


class ConsoleFeed:
    def __init__(self, db: Database, wakeup: Wakeup, authorize: Authorize) -> None:
        self._db = db
        self._wakeup = wakeup
        self._authorize = authorize
        self._closing = False

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["GET"])]

    def close(self) -> None:
        """Ends every open feed, so a shutdown does not wait for console tabs that stay open."""
        self._closing = True
        self._wakeup.notify()

    async def endpoint(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        start = request.headers.get("last-event-id")
        after = int(start) if start is not None and start.isdigit() else await last_event(self._db)
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(self._feed(after), media_type="text/event-stream", headers=headers)

    async def _feed(self, after: int) -> AsyncIterator[str]:
        flag = self._wakeup.listen()
        shown: list[dict[str, Any]] | None = None
        seen: tuple[int | None, ...] = ()
        next_full = 0.0
        quiet = 0.0
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n: openstage console\n\n"
            while not self._closing:
                flag.clear()
                while batch := await events_after(self._db, after, BATCH):
                    for event in batch:
                        after = event["sequence"]
                        yield _message("participant", event, after)
                    if len(batch) < BATCH:
                        break
                stamp = await change_stamp(self._db)
                if stamp != seen or time.monotonic() >= next_full:
                    seen, next_full = stamp, time.monotonic() + FULL_CHECK_SECONDS
                    stages = await overview(self._db)
                    if stages != shown:
                        shown = stages
                        yield _message("overview", {"stages": stages})
                await wait(flag, CHECK_SECONDS)
                quiet += CHECK_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
        finally:
            self._wakeup.forget(flag)


def _message(kind: str, data: dict[str, Any], sequence: int | None = None) -> str:
    head = f"id: {sequence}\n" if sequence is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
