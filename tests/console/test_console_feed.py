"""The console's live feed: the overview as it changes and every participant event, resumable by event id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.events_client import is_closed, join
from tests.server import Server

Message = tuple[str, str | None, dict[str, Any]]  # (event, id, data)


@pytest.fixture(scope="module")
def dev(backend: str, make_server: Callable[..., Server]) -> Server:
    return make_server(backend, args=["--session-grace-seconds", "1"])


class Feed:
    """Reads the stream in order; a message of another type than the one awaited is kept for later."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines
        self._kept: list[Message] = []

    async def next(self, kind: str, timeout: float = 15.0) -> Message:
        for message in self._kept:
            if message[0] == kind:
                self._kept.remove(message)
                return message
        async with asyncio.timeout(timeout):
            fields: dict[str, str] = {}
            async for line in self._lines:
                if line.startswith((":", "retry:")):
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if not fields:  # the end of a comment block
                    continue
                message = (fields["event"], fields.get("id"), json.loads(fields["data"]))
                if message[0] == kind:
                    return message
                self._kept.append(message)
                fields = {}
        raise AssertionError("the feed ended")

    async def overview_until(self, condition: Callable[[dict[str, dict[str, Any]]], bool]) -> dict[str, Any]:
        while True:
            _, _, data = await self.next("overview")
            stages = {stage["arn"]: stage for stage in data["stages"]}
            if condition(stages):
                return stages


@asynccontextmanager
async def feed(server: Server, headers: dict[str, str] | None = None) -> AsyncIterator[Feed]:
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", f"{server.url}/api/console/feed", headers=headers or {}) as response,
    ):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        yield Feed(response.aiter_lines())


def test_joins_leaves_and_stage_changes_arrive_live(dev: Server) -> None:
    ivs = dev.client()

    async def scenario() -> None:
        async with feed(dev) as live:
            await live.next("overview")
            arn = (await asyncio.to_thread(ivs.create_stage, name="live"))["stage"]["arn"]
            await live.overview_until(lambda stages: arn in stages)
            token = ivs.create_participant_token(stageArn=arn, userId="carol")["participantToken"]
            socket = await join(token["token"])
            _, sequence, joined = await live.next("participant")
            assert (joined["name"], joined["userId"], joined["participantId"]) == (
                "JOINED",
                "carol",
                token["participantId"],
            )
            assert joined["stageArn"] == arn and sequence == str(joined["sequence"])
            stages = await live.overview_until(lambda stages: stages[arn]["participants"] == 1)
            assert stages[arn]["activeSessionId"] == joined["sessionId"]
            await asyncio.to_thread(ivs.disconnect_participant, stageArn=arn, participantId=token["participantId"])
            assert await is_closed(socket)
            _, _, left = await live.next("participant")
            assert left["name"] == "LEFT" and left["participantId"] == token["participantId"]
            await live.overview_until(lambda stages: stages[arn]["participants"] == 0)
            # A reconnecting EventSource sends the last id it saw and gets what it missed.
            async with feed(dev, {"Last-Event-ID": sequence}) as resumed:
                _, _, replayed = await resumed.next("participant")
                assert replayed == left
            await asyncio.to_thread(ivs.delete_stage, arn=arn)
            await live.overview_until(lambda stages: arn not in stages)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_rename_moves_no_counter_but_still_arrives(dev: Server) -> None:
    ivs = dev.client()
    arn = ivs.create_stage(name="before")["stage"]["arn"]

    async def scenario() -> None:
        async with feed(dev) as live:
            await live.overview_until(lambda stages: stages[arn]["name"] == "before")
            await asyncio.to_thread(ivs.update_stage, arn=arn, name="after")
            await live.overview_until(lambda stages: stages[arn]["name"] == "after")  # within the full check

    asyncio.run(asyncio.wait_for(scenario(), 60))
