"""What the composition tests share: registered channels, AWS errors, polling, the events a composition caused."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select

from openstage.composition import channels
from openstage.store.models import OutboxEvent
from tests.seed import arn, run_in_db
from tests.server import Server

CHANNEL_URL = "rtmp://127.0.0.1:9/app/never-contacted"  # nothing is pushed before media arrives
TIMEOUT = 30.0


def channel(server: Server) -> str:
    """A fresh channel ARN in the registry of ``server``."""
    channel_arn = arn("channel")
    channels.add(server.data_dir, channel_arn, CHANNEL_URL)
    return channel_arn


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def wait_for(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def composition_events(server: Server, composition_arn: str) -> list[dict[str, Any]]:
    """The composition's ``IVS Composition State Change`` envelopes in the outbox, in delivery order."""

    async def read(session: Any) -> list[dict[str, Any]]:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.detail_type == "IVS Composition State Change")
            .order_by(OutboxEvent.pk)
        )
        return [row.envelope for row in rows if row.envelope["resources"] == [composition_arn]]

    return run_in_db(server, read)
