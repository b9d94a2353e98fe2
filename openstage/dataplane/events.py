"""The events WebSocket (docs 2.3) at ``/events/{topic}`` and ``/events?topic={topic}/publishers&…``.

The participant token arrives as the ``Sec-WebSocket-Protocol`` and is echoed back on accept
(browsers abort the handshake otherwise). A token that checks out gets STAGE_STATE at once
and on every roster change; PING is answered with PONG; SET_STATE reaches the others;
EXCHANGE_TOKEN swaps in a self-signed token's attributes, capabilities and user id. A refusal is
sent as ``aws:ivs:JOIN_ERROR`` on the accepted socket, where a browser can read it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from openstage.dataplane import messages
from openstage.stage import ClientInfo, ExchangeRefused, JoinRefused, StageRuntime, StageState
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.events")

# What clients send is PING, SET_STATE and EXCHANGE_TOKEN; uvicorn refuses bigger frames (server.py passes this on).
MAX_MESSAGE_BYTES = 64 * 1024
# A client this far behind is gone or hostile: it is dropped (it may reconnect) rather than buffered for.
MAX_QUEUED_MESSAGES = 256


class WebSocketConnection:
    """The runtime's EventsConnection over one WebSocket: messages queue, one writer sends them in order."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._outbox: deque[dict[str, Any] | None] = deque()  # None: close once what is before it is sent
        self._wakeup = asyncio.Event()
        self._closing = False

    def push_state(self, state: StageState) -> None:
        self._queue(messages.stage_state(state))

    def disconnect(self, code: str, reason: str) -> None:
        self._queue(messages.disconnect(code, reason))
        self._queue(None)

    def pong(self) -> None:
        self._queue(messages.PONG)

    def reply(self, message: dict[str, Any]) -> None:
        self._queue(message)

    def _queue(self, message: dict[str, Any] | None) -> None:
        if self._closing:
            return
        if message is not None and len(self._outbox) >= MAX_QUEUED_MESSAGES:
            log.warning("dropping an events WebSocket that stopped reading (%d messages queued)", len(self._outbox))
            self._outbox.clear()
            message = None
        self._outbox.append(message)
        self._closing = message is None
        self._wakeup.set()

    async def send_queued(self) -> None:
        """Sends until the queue says close (then closes the socket); raises WebSocketDisconnect if the client went."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                message = self._outbox.popleft()
                if message is None:
                    await self._websocket.close()
                    return
                await self._websocket.send_json(message)


# Serves the accepted socket from the node hosting the stage and returns True once it closed; False if that is
# this node (openstage/cluster/routing.py).
Forward = Callable[[WebSocket, ParticipantClaims, str | None], Awaitable[bool]]


async def _here(_websocket: WebSocket, _claims: ParticipantClaims, _token: str | None) -> bool:
    return False


class EventsEndpoint:
    def __init__(self, runtime: StageRuntime, forward: Forward = _here) -> None:
        self._runtime = runtime
        self._forward = forward

    def routes(self) -> list[WebSocketRoute]:
        return [
            WebSocketRoute("/events", self.endpoint),
            WebSocketRoute("/events/{topic:path}", self.endpoint),
        ]

    async def endpoint(self, websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols") or []
        token = offered[0] if offered else None
        await websocket.accept(subprotocol=token)
        connection = WebSocketConnection(websocket)
        try:
            claims = await self._authorize(token, _topic(websocket))
            if await self._forward(websocket, claims, token):
                return
            await self._runtime.attach_events(claims, ClientInfo.from_headers(websocket.headers), connection)
        except JoinRefused as refused:
            with suppress(WebSocketDisconnect):
                await websocket.send_json(messages.join_error(refused.code, refused.message))
                await websocket.close()
            return
        try:
            await self._serve(websocket, claims, connection)
        finally:
            await self._runtime.detach_events(claims.stage_arn, claims.participant_id, connection)

    async def _authorize(self, token: str | None, topic: str) -> ParticipantClaims:
        if not topic:
            raise JoinRefused("BAD_REQUEST", "the URL names no stage: use /events/{stageId} or ?topic={stageId}")
        claims = await self._runtime.authorize(token)
        if claims.topic != topic:
            raise JoinRefused("TOKEN_INVALID", f"the token is for stage {claims.topic}, not {topic}")
        return claims

    async def _serve(self, websocket: WebSocket, claims: ParticipantClaims, connection: WebSocketConnection) -> None:
        """Reads and writes until either side closes; then the other half stops too."""
        tasks = {
            asyncio.create_task(self._read(websocket, claims, connection)),
            asyncio.create_task(connection.send_queued()),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect):
                log.error("events WebSocket of %s failed", claims.participant_id, exc_info=error)

    async def _read(self, websocket: WebSocket, claims: ParticipantClaims, connection: WebSocketConnection) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                data = json.loads(message.get("text") or "")
            except (ValueError, RecursionError):  # json raises RecursionError for deep nesting
                continue  # not a message the protocol defines, so nothing to answer
            if not isinstance(data, dict):
                continue
            if data.get("type") == "PING":
                connection.pong()
            elif data.get("type") == "SET_STATE":
                audio_muted, video_stopped = data.get("audioMuted"), data.get("videoStopped")
                if isinstance(audio_muted, bool) and isinstance(video_stopped, bool):
                    await self._runtime.set_media_state(
                        claims.stage_arn, claims.participant_id, connection, audio_muted, video_stopped
                    )
            elif data.get("type") == "aws:ivs:EXCHANGE_TOKEN":
                claims = await self._exchange_token(claims, connection, data.get("payload"))

    async def _exchange_token(
        self, claims: ParticipantClaims, connection: WebSocketConnection, payload: Any
    ) -> ParticipantClaims:
        """Answers the request whatever happens; the claims in force afterwards are returned."""
        payload = payload if isinstance(payload, dict) else {}
        new_token, error = payload.get("newToken"), None
        if not isinstance(new_token, str) or not new_token:
            error = "newToken is missing"
        else:
            try:
                claims = await self._runtime.exchange_token(claims, connection, new_token)
            except ExchangeRefused as refused:
                error = str(refused)
        connection.reply(messages.exchange_token_reply(payload.get("requestId"), payload.get("traceId"), error))
        return claims


def _topic(websocket: WebSocket) -> str:
    """The stage id from ``/events/{topic}`` (AWS's Python samples) or ``?topic={topic}/publishers`` (the web SDK)."""
    topic = websocket.path_params.get("topic") or websocket.query_params.get("topic", "")
    return str(topic).split("/", 1)[0]
