"""Typed clients pointed at test servers."""

from __future__ import annotations

from openstage.client import IvsRealTimeClient, StaticCredentials
from tests.server import REGION, Server

DEV_KEY = StaticCredentials("AKIDEXAMPLE", "secret")  # any key signs for a server without credentials
SECURED_KEY = StaticCredentials("AKIDCLIENTTESTS", "client-tests-secret")


def typed_client(server: Server, credentials: StaticCredentials = DEV_KEY) -> IvsRealTimeClient:
    """No retries: an error answer is the test's result, not something to wait out."""
    return IvsRealTimeClient(endpoint_url=server.url, region=REGION, credentials=credentials, max_attempts=1)
