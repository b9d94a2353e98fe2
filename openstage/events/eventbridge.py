"""The AWS EventBridge sink: ``PutEvents`` on a configured bus, so existing rules and targets see IVS's events.

EventBridge rebuilds the envelope from the entry (it assigns its own ``id``, and ``account`` and
``region`` are the bus's), so the entry carries what it lets a sender choose: source, detail-type,
detail, resources and time. AWS refuses ``PutEvents`` with a source starting ``aws.`` from an
account's own credentials; against AWS itself set another source (docs/events.md).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from openstage.events.webhook import DeliveryFailed

TIMEOUT_SECONDS = 10.0


class EventBridgeSink:
    def __init__(self, bus: str, region: str, endpoint_url: str = "", source: str = "aws.ivs") -> None:
        self.name = f"eventbridge:{bus}"
        self.bus = bus
        self.source = source
        # The dispatcher retries for hours with its own backoff; botocore's retries would only hide failures.
        config = Config(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS, retries={"max_attempts": 1})
        self._client = botocore.session.get_session().create_client(
            "events", region_name=region, endpoint_url=endpoint_url or None, config=config
        )

    def entry(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return {
            "EventBusName": self.bus,
            "Source": self.source,
            "DetailType": envelope["detail-type"],
            "Detail": json.dumps(envelope["detail"], separators=(",", ":")),
            "Resources": envelope["resources"],
            "Time": datetime.strptime(envelope["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
        }

    async def deliver(self, envelope: dict[str, Any]) -> None:
        """Returns once EventBridge accepted the entry; raises :class:`DeliveryFailed` otherwise."""
        try:
            response = await asyncio.to_thread(self._client.put_events, Entries=[self.entry(envelope)])
        except (BotoCoreError, ClientError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if response.get("FailedEntryCount"):
            [failed] = response["Entries"]
            raise DeliveryFailed(f"{failed.get('ErrorCode', 'Failed')}: {failed.get('ErrorMessage', '')}")

    async def close(self) -> None:
        self._client.close()
