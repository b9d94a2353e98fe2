"""Which coroutine answers which model operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openstage.control.context import Context

Handler = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]

HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two handlers for {name}")
        HANDLERS[name] = handler
        return handler

    return register
