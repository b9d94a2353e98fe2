"""Fixtures of the ingest tests: one media server (SQLite: the media path does not depend on the backend)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.server import Server


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite", args=["--ice-addresses", "127.0.0.1", "--session-grace-seconds", "1"])


@pytest.fixture
def ivs(media_server: Server) -> Any:
    return media_server.client()


@pytest.fixture
def stage(ivs: Any) -> dict[str, Any]:
    return ivs.create_stage(name="ingest")["stage"]  # type: ignore[no-any-return]
