"""Fixtures: clusters of real ``openstage serve`` nodes on 127.0.0.1 sharing one fresh PostgreSQL database and
the local Redis, under a cluster name of their own so tests never see each other's keys.

PostgreSQL and Redis must be reachable; without them the tests skip, except in CI (``CI=true``) where they fail.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from openstage.cluster.backend import Backend
from openstage.cluster.memory import MemoryBackend
from openstage.cluster.redis_backend import RedisBackend
from tests.events.receiver import Receiver
from tests.server import Server, create_postgres_database, drop_postgres_database, postgres_available

REDIS_URL = os.environ.get("OPENSTAGE_TEST_REDIS", "redis://127.0.0.1:6379/0")
WEBHOOK_SECRET = "cluster-test-secret"
HEARTBEAT_SECONDS = 0.5
NODE_TTL_SECONDS = 2.0


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture(scope="session")
def cluster_services() -> None:
    missing = [name for name, up in (("PostgreSQL", postgres_available()), ("Redis", redis_available())) if not up]
    if missing:
        reason = f"{' and '.join(missing)} not reachable on 127.0.0.1: cluster tests need both"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Nodes:
    """The nodes of one cluster by letter (node ids a-NAME, b-NAME, …), and the webhook receiver they deliver to."""

    name: str
    database_url: str
    receiver: Receiver
    data_dirs: Callable[[str], Path]
    servers: dict[str, Server] = field(default_factory=dict)

    def start(self, letter: str) -> Server:
        args = [
            "--redis-url", REDIS_URL,
            "--cluster-name", self.name,
            "--node-id", self.node_id(letter),
            "--heartbeat-seconds", str(HEARTBEAT_SECONDS),
            "--node-ttl-seconds", str(NODE_TTL_SECONDS),
            "--ice-addresses", "127.0.0.1",
            "--webhook", self.receiver.url,
            "--webhook-secret", WEBHOOK_SECRET,
            "--webhook-retry-base-seconds", "0.2",
        ]  # fmt: skip
        self.servers[letter] = Server(self.data_dirs(f"node-{letter}"), self.database_url, args).start()
        return self.servers[letter]

    def node_id(self, letter: str) -> str:
        return f"{letter}-{self.name}"

    def __getitem__(self, letter: str) -> Server:
        return self.servers[letter]

    def letter_of(self, node_id: str) -> str:
        return node_id.split("-", 1)[0]

    def status(self, via: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.servers[via].url + "/api/cluster", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def host_of(self, stage_arn: str, via: str) -> str:
        """The letter of the node hosting ``stage_arn``, once it is placed."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for node in self.status(via)["nodes"]:
                if stage_arn in node["stageArns"]:
                    return self.letter_of(node["node_id"])
            time.sleep(0.05)
        raise AssertionError(f"stage {stage_arn} was never placed")

    def kill(self, letter: str) -> None:
        self.servers[letter].stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def make_cluster(cluster_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Nodes]]:
    """Starts clusters of nodes a, b, c (or the letters given); everything is stopped and removed at the end."""
    made: list[Nodes] = []

    def make(letters: str = "abc") -> Nodes:
        nodes = Nodes("t" + secrets.token_hex(4), create_postgres_database(), Receiver(), tmp_path_factory.mktemp)
        made.append(nodes)
        for letter in letters:
            nodes.start(letter)
        return nodes

    yield make
    client = redis.Redis.from_url(REDIS_URL)
    for nodes in made:  # every node first: a database that cannot be dropped must leave no node running
        for server in nodes.servers.values():
            if server.process is not None and server.process.poll() is None:
                server.stop()
    for nodes in made:
        nodes.receiver.close()
        drop_postgres_database(nodes.database_url)
        keys = list(client.scan_iter(f"openstage:{nodes.name}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Runs the test on the in-process backend and on Redis (which skips, or fails in CI, if unreachable)."""
    if request.param == "redis" and not redis_available():
        request.getfixturevalue("cluster_services")
    return str(request.param)


class Backends:
    """A fresh backend of ``kind``; the Redis one under a cluster name of its own, its keys removed afterwards.

    ``another()`` is a second node's connection to the same backend.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = "u" + secrets.token_hex(4)
        self.opened: list[Backend] = []

    async def another(self) -> Backend:
        if self.kind == "memory" and self.opened:
            return self.opened[0]
        opened: Backend = RedisBackend(REDIS_URL, self.name) if self.kind == "redis" else MemoryBackend()
        await opened.connect()
        self.opened.append(opened)
        return opened

    async def __aenter__(self) -> Backend:
        return await self.another()

    async def __aexit__(self, *_: object) -> None:
        for opened in self.opened:
            await opened.close()
        if self.kind == "redis":
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(f"openstage:{self.name}:*"))
            if keys:
                client.delete(*keys)
