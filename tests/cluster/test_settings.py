"""The cluster's settings: flags and environment, and the refusals that explain themselves."""

from __future__ import annotations

import subprocess
import sys

import pytest

from openstage.cluster import build_cluster
from openstage.cluster.memory import MemoryBackend
from openstage.cluster.redis_backend import RedisBackend
from openstage.config import ConfigError, load_settings
from openstage.store.db import Database

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1/openstage"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"redis_url": "http://127.0.0.1:6379"}, "redis_url must start with redis://"),
        ({"redis_url": "redis://127.0.0.1:6379"}, "needs a shared PostgreSQL --database-url"),
        ({"node_id": "node one"}, "node_id may hold letters, digits"),
        (
            {
                "redis_url": "redis://h",
                "database_url": POSTGRES,
                "host": "0.0.0.0",
                "access_key": "A",
                "secret_key": "s",
            },
            "a cluster node listening on 0.0.0.0 needs --public-url",
        ),
        ({"heartbeat_seconds": 5, "node_ttl_seconds": 5}, "heartbeat_seconds must be > 0 and below node_ttl_seconds"),
        ({"heartbeat_seconds": 0}, "heartbeat_seconds must be > 0"),
    ],
)
def test_bad_cluster_settings_are_explained(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides)


def test_without_redis_the_node_is_a_cluster_of_one_on_the_same_interface() -> None:
    alone = build_cluster(load_settings({"node_id": "solo"}), Database("sqlite+aiosqlite://"))
    assert isinstance(alone.backend, MemoryBackend) and alone.node_id == "solo"
    settings = load_settings({"redis_url": "redis://127.0.0.1:6379", "database_url": POSTGRES, "cluster_name": "x"})
    clustered = build_cluster(settings, Database(POSTGRES))
    assert isinstance(clustered.backend, RedisBackend)
    assert clustered.node_id  # a random one per start when not given


def test_serve_refuses_a_cluster_on_sqlite(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--data-dir", str(tmp_path)]
        + ["--redis-url", "redis://127.0.0.1:6379"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "a cluster (--redis-url) needs a shared PostgreSQL --database-url" in result.stderr


def test_environment_sets_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENSTAGE_REDIS_URL", "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("OPENSTAGE_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("OPENSTAGE_NODE_ID", "node-7")
    monkeypatch.setenv("OPENSTAGE_HEARTBEAT_SECONDS", "0.5")
    settings = load_settings({})
    assert (settings.redis_url, settings.node_id, settings.heartbeat_seconds) == (
        "redis://127.0.0.1:6379/2",
        "node-7",
        0.5,
    )


def test_serve_explains_an_unreachable_redis(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--data-dir", str(tmp_path)]
        + ["--rtmp-port", "0", "--rtmps-port", "0"]
        + ["--redis-url", "redis://:hunter2@127.0.0.1:9/0", "--database-url", POSTGRES],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "openstage: cannot reach Redis at 127.0.0.1:9" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
