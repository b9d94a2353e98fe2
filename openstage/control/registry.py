"""Which coroutine answers which model operation, and which operations wait for a later feature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from openstage.control.context import Context

Handler = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]

HANDLERS: dict[str, Handler] = {}

# Operations of the model that answer NotImplementedException until their feature lands,
# each naming the feature so a user knows what to wait for.
PENDING: dict[str, str] = {
    "StartComposition": "server-side composition",
    "StopComposition": "server-side composition",
    "StartParticipantReplication": "participant replication between stages",
    "StopParticipantReplication": "participant replication between stages",
    "ListParticipantReplicas": "participant replication between stages",
}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"two handlers for {name}")
        HANDLERS[name] = handler
        return handler

    return register
