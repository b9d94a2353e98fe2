"""The outbox wake-up across the cluster: a commit on any node wakes the sinks and live streams of every node.

Each node still polls the shared outbox (a lost message only delays), but without this another node's
events would reach this node's live streams only at the next poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from openstage.cluster.backend import Backend
from openstage.events.outbox import Wakeup

log = logging.getLogger("openstage.cluster")

CHANNEL = "outbox"


class ClusterWakeup(Wakeup):
    def __init__(self, backend: Backend, node_id: str) -> None:
        super().__init__()
        self._backend = backend
        self._node_id = node_id
        self._pending = False  # a publish is scheduled: commits until it runs need no second message
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._backend.subscribe(CHANNEL, self._on_message)

    def notify(self) -> None:
        """Events committed on this node: wake the listeners here, and tell the other nodes."""
        super().notify()
        if self._pending:
            return
        self._pending = True
        task = asyncio.get_running_loop().create_task(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        self._pending = False
        try:
            await self._backend.publish(CHANNEL, {"from": self._node_id})
        except Exception as error:  # the other nodes poll: a lost wake-up costs them one poll interval
            log.debug("outbox wake-up not sent to the cluster: %s", error)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("from") != self._node_id:
            super().notify()
