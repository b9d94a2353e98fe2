"""The webhook sink: POSTs each event's JSON, signed so the receiver can tell it came from this server.

``X-Openstage-Signature: sha256=<hex>`` is HMAC-SHA256 with the sink's secret over
``"<X-Openstage-Timestamp>.<body>"``; signing the timestamp lets receivers refuse replays
(docs/events.md shows the check).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

TIMEOUT_SECONDS = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class DeliveryFailed(Exception):
    """The receiver did not acknowledge the event; the dispatcher retries."""


class WebhookSink:
    def __init__(self, url: str, secret: str) -> None:
        self.name = f"webhook:{url}"
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS)

    async def deliver(self, envelope: dict[str, Any]) -> None:
        """Returns once the receiver answered 2xx; raises :class:`DeliveryFailed` otherwise."""
        body = json.dumps(envelope, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Openstage-Event-Id": envelope["id"],
            "X-Openstage-Timestamp": timestamp,
            "X-Openstage-Signature": signature(self.secret, timestamp, body),
        }
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code}")

    async def close(self) -> None:
        await self._client.aclose()
