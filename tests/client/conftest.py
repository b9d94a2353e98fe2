"""Servers and typed clients for the client tests.

The tests call coroutines with ``asyncio.run``: a client is bound to no event loop (its calls run
in its own threads), so one client per backend serves every test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from openstage.client import IvsRealTimeClient
from tests.client.clients import SECURED_KEY, typed_client
from tests.server import Server


@pytest.fixture(scope="package")
def server(backend: str, make_server: Callable[..., Server]) -> Server:
    """Own server: the default quotas (5 storage configurations, 3 public keys) are too small to share."""
    quotas = ["storage_configurations=1000", "public_keys=1000", "encoder_configurations=1000"]
    return make_server(backend, args=[arg for quota in quotas for arg in ("--quota", quota)])


@pytest.fixture(scope="package")
def secured(make_server: Callable[..., Server]) -> Server:
    """A server that checks signatures against one key pair and allows a single stage (SQLite only: no data tests)."""
    return make_server(
        args=[
            "--access-key",
            SECURED_KEY.access_key_id,
            "--secret-key",
            SECURED_KEY.secret_access_key,
            "--quota",
            "stages=1",
        ]
    )


@pytest.fixture(scope="package")
def client(server: Server) -> Iterator[IvsRealTimeClient]:
    client = typed_client(server)
    yield client
    asyncio.run(client.close())


ENV_NAMES = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_IVS_REALTIME",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No AWS settings from the machine running the tests: no variables, no ~/.aws files."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch
