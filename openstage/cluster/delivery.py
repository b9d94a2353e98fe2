"""Each sink delivered by one node at a time, cluster-wide: whoever holds the sink's lease runs its delivery.

Every node configures the same sinks; each keeps trying to take each sink's lease and renews the ones
it holds. The holder runs the events package's :class:`Dispatcher` for that sink, which resumes from
the delivery state in the shared database; a node that dies stops renewing, its leases expire and
another node takes over from the last acknowledged event (at least once, as on one node).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from openstage.cluster.node import Cluster
from openstage.events.dispatcher import Dispatcher, RetryPolicy, Sink
from openstage.store.db import Database

log = logging.getLogger("openstage.cluster")


class _Lent:
    """The sink as one lease's Dispatcher sees it: stopping that Dispatcher must not close the sink for the next."""

    def __init__(self, sink: Sink) -> None:
        self.name = sink.name
        self._sink = sink

    async def deliver(self, envelope: dict[str, Any]) -> None:
        await self._sink.deliver(envelope)

    async def close(self) -> None:
        pass


class LeasedDispatcher:
    """The Dispatcher's interface (start, stop, sink_names) over sinks that only one node delivers at a time."""

    def __init__(self, db: Database, cluster: Cluster, sinks: list[Sink], policy: RetryPolicy) -> None:
        """A lease lasts as long as a node's heartbeat: a dead node's sinks move when its stages do."""
        self._db = db
        self._wakeup = cluster.wakeup
        self._sinks = sinks
        self._policy = policy
        self._backend = cluster.backend
        self._node_id = cluster.node_id
        self._lease = cluster.node_ttl_seconds
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def sink_names(self) -> list[str]:
        return [sink.name for sink in self._sinks]

    async def start(self) -> None:
        """Takes the leases it can at once, like the Dispatcher before anything can write events: a sink new to
        the cluster starts after the current end, and none written after is missed."""
        for sink in self._sinks:
            running = await self._renew(sink, None)
            self._tasks.append(asyncio.create_task(self._hold(sink, running), name=f"lease {sink.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sink in self._sinks:
            await sink.close()

    async def _hold(self, sink: Sink, running: Dispatcher | None) -> None:
        """Delivers while this node holds the sink's lease, renewing it; tries to take it otherwise."""
        try:
            while True:
                await asyncio.sleep(self._lease / 3)
                running = await self._renew(sink, running)
        finally:
            if running is not None:
                await running.stop()
                await self._backend.release(_lease(sink), self._node_id)

    async def _renew(self, sink: Sink, running: Dispatcher | None) -> Dispatcher | None:
        """Takes or extends the lease; returns the sink's running Dispatcher if this node holds it."""
        try:
            held = await self._backend.acquire(_lease(sink), self._node_id, self._lease)
        except Exception as error:  # cannot tell: stop delivering, another node may hold it by now
            log.warning("lease of %s unknown (%s); pausing its delivery here", sink.name, error)
            held = False
        if held and running is None:
            running = Dispatcher(self._db, self._wakeup, [_Lent(sink)], self._policy)
            await running.start()
        elif not held and running is not None:
            await running.stop()
            running = None
        return running


def _lease(sink: Sink) -> str:
    return f"sink:{sink.name}"
