"""Fixtures: a real ``openstage serve`` per database backend, and boto3 clients pointed at it.

Every test that takes ``server`` or ``ivs`` runs once against SQLite and once against the
local PostgreSQL (required when CI=true, used when reachable otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server import Server, create_postgres_database, drop_postgres_database, postgres_available

# tests.moto: the moto_server fixture, a real AWS-compatible endpoint (EventBridge, S3).
# tests.browser: Chromium, a server and aiortc peers in a network namespace, for browser tests.
pytest_plugins = ["tests.moto", "tests.browser"]


def _backends() -> list[str]:
    if os.environ.get("CI") == "true" or postgres_available():
        return ["sqlite", "postgresql"]
    return ["sqlite"]


BACKENDS = _backends()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def make_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Starts extra servers (own quotas, credentials, restarts); all are stopped at the end."""
    started: list[Server] = []
    databases: list[str] = []

    def make(
        backend: str = "sqlite", args: list[str] | None = None, env: dict[str, str] | None = None, start: bool = True
    ) -> Server:
        url = ""
        if backend == "postgresql":
            url = create_postgres_database()
            databases.append(url)
        server = Server(tmp_path_factory.mktemp("openstage"), url, list(args or []), dict(env or {}))
        started.append(server)
        return server.start() if start else server

    yield make
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.stop()
    for url in databases:
        drop_postgres_database(url)


@pytest.fixture(scope="session")
def server(backend: str, make_server: Callable[..., Server]) -> Server:
    return make_server(backend)


@pytest.fixture
def ivs(server: Server):
    return server.client()


@pytest.fixture
def raw_ivs(server: Server):
    """A client that skips botocore's client-side checks, so requests reach the server's validation."""
    return server.client(validate=False)


@pytest.fixture
def data_dir(server: Server) -> Path:
    return server.data_dir
