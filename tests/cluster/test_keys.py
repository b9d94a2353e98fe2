"""One token-signing key per cluster: the first node's, adopted and kept on disk by the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from openstage.cluster.keys import cluster_signing_key
from openstage.cluster.node import Cluster
from openstage.store.db import Database
from openstage.tokens.keys import load_or_create_server_key
from tests.cluster.conftest import Backends


def public(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_later_nodes_adopt_the_first_node_s_key_and_keep_it(tmp_path: Path, backend_kind: str) -> None:
    async def main() -> None:
        backends = Backends(backend_kind)
        async with backends as first:
            db = Database("sqlite+aiosqlite://")
            one = Cluster(first, db, "one", "http://127.0.0.1:1", 1, 5)
            two = Cluster(await backends.another(), db, "two", "http://127.0.0.1:2", 1, 5)
            own_two = load_or_create_server_key(tmp_path / "two")
            key_one = await cluster_signing_key(one, tmp_path / "one")
            key_two = await cluster_signing_key(two, tmp_path / "two")
            assert public(key_two) == public(key_one) != public(own_two)
            assert public(load_or_create_server_key(tmp_path / "two")) == public(key_one)  # kept for restarts
            assert not list((tmp_path / "two" / "keys").glob("*.adopting"))

    asyncio.run(main())
