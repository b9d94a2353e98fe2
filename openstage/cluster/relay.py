"""The events WebSocket of a participant whose stage lives on another node, relayed to that node.

A redirect would be simplest, but browsers (and with them the web SDK) follow no WebSocket redirects,
so the node the token names accepts the socket and relays it, message for message, to the hosting
node, which authorizes the token again and serves the participant. Either side closing closes the
other with the same code; if the hosting node cannot be reached the client is closed with 1013 (try
again later) and reconnects, as the SDK does after any drop, by which time a dead node's stages
are placed on a live one.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

log = logging.getLogger("openstage.cluster")

TRY_AGAIN_LATER = 1013
CONNECT_TIMEOUT_SECONDS = 10.0
# What the hosting node records about the client (stage/client.py) travels with the relayed socket.
FORWARDED_HEADERS = ("x-stages-sdk", "x-stages-platform")


def upstream_url(node_url: str, websocket: WebSocket) -> str:
    """The same path and query on the hosting node, as ws:// or wss:// after its public URL's scheme."""
    base = "ws" + node_url.removeprefix("http") if node_url.startswith("http") else node_url
    query = websocket.url.query
    return f"{base.rstrip('/')}{websocket.url.path}" + (f"?{query}" if query else "")


async def relay(websocket: WebSocket, url: str, token: str | None) -> None:
    """Relays the accepted ``websocket`` to ``url`` until either side closes."""
    headers = {name: websocket.headers[name] for name in FORWARDED_HEADERS if name in websocket.headers}
    try:
        upstream = await connect(
            url,
            subprotocols=[Subprotocol(token)] if token else None,
            additional_headers=headers,
            user_agent_header=websocket.headers.get("user-agent"),
            open_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except (OSError, InvalidHandshake, TimeoutError) as error:
        log.warning("cannot relay an events WebSocket to %s: %s", url, error)
        with suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(TRY_AGAIN_LATER, "the stage's node cannot be reached; reconnect")
        return
    async with upstream:
        pumps = [
            asyncio.create_task(_to_upstream(websocket, upstream)),
            asyncio.create_task(_to_client(upstream, websocket)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
    with suppress(WebSocketDisconnect, RuntimeError):
        await websocket.close(upstream.close_code or 1000, upstream.close_reason or "")


async def _to_upstream(websocket: WebSocket, upstream: ClientConnection) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text") if message.get("text") is not None else message.get("bytes")
        if data is not None:
            await upstream.send(data)


async def _to_client(upstream: ClientConnection, websocket: WebSocket) -> None:
    with suppress(ConnectionClosed):
        async for message in upstream:
            if isinstance(message, str):
                await websocket.send_text(message)
            else:
                await websocket.send_bytes(message)
