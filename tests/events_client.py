"""A small events-WebSocket client for tests, speaking what AWS's Python samples and the web SDK send (docs 2.3)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openstage.tokens import jws

CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/116.0.5845.188 Safari/537.36"
)


def claims_of(token: str) -> dict[str, Any]:
    """The token's claims, unverified, as a client reads them."""
    return jws.split(token)[1]


def events_url(token: str, form: str = "path") -> str:
    """``path``: ``{events_url}/{topic}`` (AWS's Python samples); ``query``: what the web SDK opens."""
    claims = claims_of(token)
    if form == "path":
        return f"{claims['events_url']}/{claims['topic']}"
    trace = "1-6650a1b2-0123456789abcdef01234567"
    return f"{claims['events_url']}?error_over_ws=1&topic={claims['topic']}/publishers&traceid={trace}"


async def join(token: str, url: str | None = None, **options: Any) -> ClientConnection:
    """Opens the events WebSocket with ``token`` as the sub-protocol; ``options`` go to websockets.connect."""
    return await connect(url or events_url(token), subprotocols=[token], proxy=None, **options)  # type: ignore[list-item]


async def receive(ws: ClientConnection, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The next message (of type ``kind``, skipping others)."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if kind is None or message["type"] == kind:
                return message


async def is_closed(ws: ClientConnection, timeout: float = 5.0) -> bool:
    """Whether the server closes ``ws`` within ``timeout`` (messages still arriving are skipped)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


async def refusal(token: str | None, url: str) -> dict[str, Any]:
    """The JOIN_ERROR payload a refused socket gets before the server closes it."""
    ws = await connect(url, subprotocols=[token] if token else None, proxy=None)  # type: ignore[list-item]
    try:
        message = await receive(ws)
        assert message["type"] == "aws:ivs:JOIN_ERROR", message
        assert await is_closed(ws)
        return message["payload"]
    finally:
        await ws.close()
