"""The cluster of one: the backend interface kept in this process, for a node started without ``--redis-url``.

Messages are delivered on the event loop like Redis would deliver them, so a node alone runs the very
code a node in a cluster runs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from openstage.cluster.backend import MessageHandler, NodeInfo, dispatch


class MemoryBackend:
    def __init__(self) -> None:
        self._nodes: dict[str, tuple[NodeInfo, float]] = {}  # id -> (info, expiry on the monotonic clock)
        self._placements: dict[str, str] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._values: dict[str, str] = {}
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._deliveries: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def heartbeat(self, node: NodeInfo, ttl: float) -> None:
        self._nodes[node.node_id] = (node, time.monotonic() + ttl)

    async def forget_node(self, node_id: str) -> None:
        self._nodes.pop(node_id, None)

    async def nodes(self) -> dict[str, NodeInfo]:
        now = time.monotonic()
        return {node_id: info for node_id, (info, expiry) in self._nodes.items() if expiry > now}

    async def placements(self) -> dict[str, str]:
        return dict(self._placements)

    async def placement(self, stage_arn: str) -> str | None:
        return self._placements.get(stage_arn)

    async def claim(self, stage_arn: str, node_id: str) -> bool:
        return self._placements.setdefault(stage_arn, node_id) == node_id

    async def unplace(self, stage_arn: str, node_id: str) -> bool:
        if self._placements.get(stage_arn) != node_id:
            return False
        del self._placements[stage_arn]
        return True

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        current = self._leases.get(name)
        now = time.monotonic()
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[name] = (holder, now + ttl)
        return True

    async def release(self, name: str, holder: str) -> None:
        if self._leases.get(name, ("", 0.0))[0] == holder:
            del self._leases[name]

    async def adopt(self, name: str, proposed: str) -> str:
        return self._values.setdefault(name, proposed)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(channel, []):
            dispatch(handler, message, self._deliveries)

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        self._handlers.setdefault(channel, []).append(handler)
