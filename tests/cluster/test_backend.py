"""The backend contract, against both implementations: the in-process one and a real Redis (own key prefix)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from openstage.cluster.backend import Backend, NodeInfo
from tests.cluster.conftest import Backends


def run(test: Callable[[Backend], Coroutine[Any, Any, None]], kind: str) -> None:
    async def main() -> None:
        async with Backends(kind) as opened:
            await asyncio.wait_for(test(opened), 20)

    asyncio.run(main())


def info(node_id: str) -> NodeInfo:
    return NodeInfo(node_id, f"http://127.0.0.1/{node_id}", 2, 0.5, 3, 1, 1700000000.0)


def test_a_node_lives_while_its_heartbeat_lasts(backend_kind: str) -> None:
    async def test(b: Backend) -> None:
        await b.heartbeat(info("n1"), 0.3)
        await b.heartbeat(info("n2"), 30)
        assert await b.nodes() == {"n1": info("n1"), "n2": info("n2")}
        await asyncio.sleep(0.5)
        assert list(await b.nodes()) == ["n2"]
        await b.forget_node("n2")
        assert await b.nodes() == {}

    run(test, backend_kind)


def test_placement_is_first_come_and_only_its_node_removes_it(backend_kind: str) -> None:
    async def test(b: Backend) -> None:
        assert await b.claim("stage-1", "n1")
        assert not await b.claim("stage-1", "n2")
        assert await b.placement("stage-1") == "n1"
        assert not await b.unplace("stage-1", "n2")
        assert await b.placements() == {"stage-1": "n1"}
        assert await b.unplace("stage-1", "n1")
        assert await b.placement("stage-1") is None

    run(test, backend_kind)


def test_a_lease_is_held_renewed_and_taken_over_once_it_expires(backend_kind: str) -> None:
    async def test(b: Backend) -> None:
        assert await b.acquire("sink", "n1", 0.4)
        assert not await b.acquire("sink", "n2", 0.4)
        await asyncio.sleep(0.25)
        assert await b.acquire("sink", "n1", 0.4)  # renewed
        await asyncio.sleep(0.25)
        assert not await b.acquire("sink", "n2", 0.4)
        await asyncio.sleep(0.3)
        assert await b.acquire("sink", "n2", 0.4)  # n1 stopped renewing: it is n2's
        await b.release("sink", "n1")  # not n1's any more: nothing happens
        assert not await b.acquire("sink", "n1", 0.4)
        await b.release("sink", "n2")
        assert await b.acquire("sink", "n1", 0.4)

    run(test, backend_kind)


def test_the_first_proposed_value_is_everyone_s(backend_kind: str) -> None:
    async def test(b: Backend) -> None:
        assert await b.adopt("key", "first") == "first"
        assert await b.adopt("key", "second") == "first"

    run(test, backend_kind)


def test_messages_reach_every_subscriber_of_the_channel(backend_kind: str) -> None:
    async def test(b: Backend) -> None:
        got: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        def handler(name: str) -> Callable[[dict[str, Any]], Coroutine[Any, Any, None]]:
            async def handle(message: dict[str, Any]) -> None:
                await got.put((name, message))

            return handle

        await b.subscribe("news", handler("first"))
        await b.subscribe("news", handler("second"))
        await b.subscribe("other", handler("other"))
        await b.publish("news", {"n": 1})
        received = sorted([await got.get(), await got.get()], key=lambda item: item[0])
        assert received == [("first", {"n": 1}), ("second", {"n": 1})]
        await asyncio.sleep(0.2)
        assert got.empty()

    run(test, backend_kind)
