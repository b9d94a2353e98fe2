"""Commands between nodes: run on the named node, its outcome back to the caller; a silent node times out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openstage.cluster.commands import CommandBus, CommandFailed
from tests.cluster.conftest import Backends


def test_a_command_runs_on_the_named_node_and_its_failure_comes_back(backend_kind: str) -> None:
    async def main() -> None:
        backends = Backends(backend_kind)
        async with backends as first:
            one = CommandBus(first, "one")
            two = CommandBus(await backends.another(), "two")
            ran: list[tuple[str, dict[str, Any]]] = []

            def recorder(node: str) -> Any:
                async def record(args: dict[str, Any]) -> None:
                    ran.append((node, args))

                return record

            async def refuse(args: dict[str, Any]) -> None:
                raise ValueError(f"no such participant {args['id']}")

            one.register("kick", recorder("one"))
            two.register("kick", recorder("two"))
            two.register("refuse", refuse)
            for bus in (one, two):
                await bus.start()
            await one.call("two", "kick", {"id": "p1"})
            await two.call("one", "kick", {"id": "p2"})
            await one.call("one", "kick", {"id": "p3"})  # to itself: the handler directly, no message
            assert ran == [("two", {"id": "p1"}), ("one", {"id": "p2"}), ("one", {"id": "p3"})]
            with pytest.raises(CommandFailed, match="node two failed at refuse: no such participant p4"):
                await one.call("two", "refuse", {"id": "p4"})
            with pytest.raises(CommandFailed, match="no cluster command 'nothing' on node two"):
                await one.call("two", "nothing", {})
            with pytest.raises(ValueError, match="registered already"):
                one.register("kick", refuse)

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_node_that_does_not_answer_fails_the_call(backend_kind: str) -> None:
    async def main() -> None:
        async with Backends(backend_kind) as first:
            caller = CommandBus(first, "caller", timeout=0.3)
            await caller.start()
            with pytest.raises(CommandFailed, match="node gone did not answer kick within 0.3 s"):
                await caller.call("gone", "kick", {})

    asyncio.run(asyncio.wait_for(main(), 20))


def test_what_a_handler_returns_comes_back_to_the_caller(backend_kind: str) -> None:
    async def main() -> None:
        backends = Backends(backend_kind)
        async with backends as first:
            one = CommandBus(first, "one")
            two = CommandBus(await backends.another(), "two")

            async def look_up(args: dict[str, Any]) -> Any:
                return {"session": f"s-{args['id']}"} if args["id"] != "nobody" else None

            two.register("look-up", look_up)
            for bus in (one, two):
                await bus.start()
            assert await one.call("two", "look-up", {"id": "p1"}) == {"session": "s-p1"}
            assert await one.call("two", "look-up", {"id": "nobody"}) is None
            assert await two.call("two", "look-up", {"id": "p2"}) == {"session": "s-p2"}  # to itself, directly

    asyncio.run(asyncio.wait_for(main(), 20))
