"""The client's lifecycle: construction, scoped copies (with_config), async with, close."""

from __future__ import annotations

import asyncio
import threading

import pytest

from openstage.client import ClientClosedError, ClientConfig, IvsRealTimeClient, IvsRealTimeError, StaticCredentials
from tests.client.clients import SECURED_KEY, typed_client
from tests.server import REGION, Server


def test_keyword_overrides_apply_over_the_config() -> None:
    base = ClientConfig(region="us-east-1", read_timeout=5)
    client = IvsRealTimeClient(base, region="eu-west-1")
    assert client.config == ClientConfig(region="eu-west-1", read_timeout=5)
    asyncio.run(client.close())


def test_with_config_changes_the_copy_only(secured: Server) -> None:
    async def main() -> None:
        async with typed_client(secured, SECURED_KEY) as original:
            async with original.with_config(region="eu-west-1") as copy:
                assert copy.config.region == "eu-west-1" and copy.config.endpoint_url == secured.url
                assert original.config.region == REGION
                with pytest.raises(IvsRealTimeError) as excinfo:
                    await copy.list_stages()  # signed for eu-west-1: this server answers for us-east-1 only
                assert (excinfo.value.code, excinfo.value.status) == ("InvalidSignatureException", 403)
                assert "eu-west-1" in excinfo.value.message
            assert copy.closed and not original.closed
            assert isinstance((await original.list_stages()).stages, list)

    asyncio.run(main())


def test_with_config_reaches_another_server_with_other_credentials(secured: Server, server: Server) -> None:
    async def main() -> None:
        async with typed_client(secured, SECURED_KEY) as original:
            other = StaticCredentials("AKIDOTHER", "other-secret")
            async with original.with_config(endpoint_url=server.url, credentials=other) as copy:
                made = (await copy.create_stage(name="elsewhere")).stage.arn
            assert original.config.endpoint_url == secured.url and original.config.credentials == SECURED_KEY
            assert made not in [stage.arn async for stage in original.paginate_list_stages()]

    asyncio.run(main())


def test_close_stops_threads_and_refuses_calls(server: Server) -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        client = typed_client(server)
        await client.list_stages()
        started = [thread for thread in set(threading.enumerate()) - before if thread.name.startswith("ivs-realtime")]
        assert started, "the call ran in the client's own thread"
        await client.close()
        assert client.closed and not any(thread.is_alive() for thread in started)
        with pytest.raises(ClientClosedError, match="closed"):
            await client.list_stages()
        with pytest.raises(ClientClosedError):
            [stage async for stage in client.paginate_list_stages()]
        await client.close()  # twice is fine

    asyncio.run(main())


def test_close_waits_for_calls_in_flight(server: Server) -> None:
    async def main() -> None:
        client = typed_client(server)
        calls = [asyncio.create_task(client.create_stage(name=f"flight-{i}")) for i in range(5)]
        await asyncio.sleep(0)  # let the calls reach the threads
        await client.close()
        assert all(call.done() and call.result().stage.name for call in calls)

    asyncio.run(main())
