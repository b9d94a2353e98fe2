"""Commands to the node hosting a stage, over the backend's messages: a request, then one reply.

Each node listens on ``node:{id}``. A handler may return a JSON value, which the caller gets
back. A call to the node itself runs the handler directly, so the cluster of one takes the same
path without a message. A node that does not answer within the timeout (dead, or cut off) makes
the call fail with :class:`CommandFailed`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from openstage.cluster.backend import Backend

log = logging.getLogger("openstage.cluster")

CALL_TIMEOUT_SECONDS = 5.0

# Runs a command on this node with the arguments the caller sent (JSON values); returns a JSON value or None.
CommandHandler = Callable[[dict[str, Any]], Awaitable[Any]]


class CommandFailed(Exception):
    """The hosting node refused the command, failed at it, or did not answer in time."""


def channel(node_id: str) -> str:
    return f"node:{node_id}"


class CommandBus:
    def __init__(self, backend: Backend, node_id: str, timeout: float = CALL_TIMEOUT_SECONDS) -> None:
        self._backend = backend
        self._node_id = node_id
        self._timeout = timeout
        self._handlers: dict[str, CommandHandler] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def register(self, name: str, handler: CommandHandler) -> None:
        """Makes ``name`` callable on this node; register before :meth:`start`."""
        if name in self._handlers:
            raise ValueError(f"cluster command {name!r} is registered already")
        self._handlers[name] = handler

    async def start(self) -> None:
        await self._backend.subscribe(channel(self._node_id), self._on_message)

    async def call(self, node_id: str, name: str, args: dict[str, Any]) -> Any:
        """Runs command ``name`` on ``node_id`` and returns what its handler returned there."""
        if node_id == self._node_id:
            return await self._run(name, args)
        request_id = uuid.uuid4().hex
        reply = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        message = {"kind": "call", "id": request_id, "from": self._node_id, "name": name, "args": args}
        try:
            await self._backend.publish(channel(node_id), message)
            answer = await asyncio.wait_for(reply, self._timeout)
        except TimeoutError:
            raise CommandFailed(f"node {node_id} did not answer {name} within {self._timeout:g} s") from None
        finally:
            self._waiting.pop(request_id, None)
        if answer.get("error") is not None:
            raise CommandFailed(f"node {node_id} failed at {name}: {answer['error']}")
        return answer.get("result")

    async def _run(self, name: str, args: dict[str, Any]) -> Any:
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandFailed(f"no cluster command {name!r} on node {self._node_id}")
        return await handler(args)

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "reply":
            waiting = self._waiting.get(str(message.get("id")))
            if waiting is not None and not waiting.done():
                waiting.set_result(message)
            return
        if message.get("kind") != "call":
            return
        error, result = None, None
        try:
            result = await self._run(str(message.get("name")), dict(message.get("args") or {}))
        except Exception as failure:
            log.exception("cluster command %s failed", message.get("name"))
            error = str(failure) or type(failure).__name__
        reply = {"kind": "reply", "id": message.get("id"), "error": error, "result": result}
        await self._backend.publish(channel(str(message.get("from"))), reply)
