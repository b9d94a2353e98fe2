"""The small interface a cluster needs from its shared store: who lives, which node hosts which stage, leases,
and messages between nodes.

Two implementations: :mod:`openstage.cluster.memory` (the cluster of one, in this process) and
:mod:`openstage.cluster.redis_backend` (several nodes). Everything above this interface is the same code
whichever is in use.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

log = logging.getLogger("openstage.cluster")

# Called with each message published on a channel the node subscribed to.
MessageHandler = Callable[[dict[str, Any]], Awaitable[None]]


class ClusterUnavailable(Exception):
    """The cluster's shared store cannot be reached, or no placement could be agreed; the message says which."""


@dataclass(frozen=True)
class NodeInfo:
    """What a node tells the cluster in each heartbeat; the placement strategy and ``cluster status`` read it."""

    node_id: str
    url: str  # the node's public URL: where participants of its stages are sent
    cpus: int
    cpu_load: float  # 1-minute load average per CPU
    participants: int  # connected participants on the stages it hosts
    stages: int
    started_at: float  # Unix time
    # Its RTMP and RTMPS ingest ports (on the host of ``url``): an encoder reaching another node is relayed here.
    rtmp_port: int = 0
    rtmps_port: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> NodeInfo:
        return cls(**json.loads(text))


class Backend(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def heartbeat(self, node: NodeInfo, ttl: float) -> None:
        """Records ``node`` as alive for ``ttl`` seconds."""

    async def forget_node(self, node_id: str) -> None:
        """The node left cleanly: dead at once, without waiting for its heartbeat to expire."""

    async def nodes(self) -> dict[str, NodeInfo]:
        """The live nodes by id."""

    async def placements(self) -> dict[str, str]:
        """Stage ARN -> id of the node hosting it (which may be dead)."""

    async def placement(self, stage_arn: str) -> str | None: ...

    async def claim(self, stage_arn: str, node_id: str) -> bool:
        """Places the stage on ``node_id`` if it is placed nowhere; False if another placement won."""

    async def unplace(self, stage_arn: str, node_id: str) -> bool:
        """Removes the placement if it still names ``node_id``."""

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        """Takes the lease ``name`` for ``ttl`` seconds, or extends it if ``holder`` has it; False if another does."""

    async def release(self, name: str, holder: str) -> None:
        """Gives the lease up if ``holder`` has it."""

    async def adopt(self, name: str, proposed: str) -> str:
        """The cluster-wide value of ``name``: ``proposed`` if nobody set it before."""

    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        """Calls ``handler`` with every message later published on ``channel``."""


def dispatch(handler: MessageHandler, message: dict[str, Any], running: set[asyncio.Task[None]]) -> None:
    """Runs ``handler`` in a task of its own, kept in ``running`` until done: a slow command holds up no other."""
    task = asyncio.create_task(_handle(handler, message))
    running.add(task)
    task.add_done_callback(running.discard)


async def _handle(handler: MessageHandler, message: dict[str, Any]) -> None:
    try:
        await handler(message)
    except Exception:
        log.exception("cluster message handler failed")
