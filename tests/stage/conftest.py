"""A database per backend for the in-process runtime tests: a SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import create_postgres_database, drop_postgres_database


@pytest.fixture(scope="module")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("stage") / "openstage.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)
