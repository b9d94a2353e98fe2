"""Scale-out: several openstage nodes sharing PostgreSQL and Redis act as one service (docs/cluster.md).

A node without Redis is a cluster of one on the in-process backend, through the same code.
"""

from __future__ import annotations

import secrets
import socket

from openstage.cluster.backend import Backend, ClusterUnavailable, NodeInfo
from openstage.cluster.commands import CommandFailed
from openstage.cluster.memory import MemoryBackend
from openstage.cluster.node import Cluster
from openstage.cluster.redis_backend import RedisBackend
from openstage.config import Settings
from openstage.store.db import Database

__all__ = ["Backend", "Cluster", "ClusterUnavailable", "CommandFailed", "NodeInfo", "build_cluster"]


def build_cluster(settings: Settings, db: Database) -> Cluster:
    """This node's cluster: on Redis with ``redis_url``, else the cluster of one."""
    backend: Backend = (
        RedisBackend(settings.redis_url, settings.cluster_name) if settings.redis_url else MemoryBackend()
    )
    node_id = settings.node_id or f"{socket.gethostname()}-{secrets.token_hex(3)}"
    return Cluster(
        backend,
        db,
        node_id,
        settings.resolved_public_url,
        settings.heartbeat_seconds,
        settings.node_ttl_seconds,
        (settings.rtmp_port, settings.rtmps_port),
    )
