"""With credentials configured, the live stream takes only requests SigV4-signed like control-plane calls."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server import REGION, Server


def open_stream(url: str, headers: dict[str, str]) -> tuple[int, str]:
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=None)) as response:
        first = next(response.iter_lines()) if response.status_code == 200 else response.read().decode()
        return response.status_code, first


def signed(url: str, secret: str) -> dict[str, str]:
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDSTREAM", secret), "ivs", REGION).add_auth(request)
    return dict(request.headers.items())


def test_the_stream_requires_a_valid_signature(make_server: Callable[..., Server]) -> None:
    server = make_server("sqlite", args=["--access-key", "AKIDSTREAM", "--secret-key", "right"])
    url = f"{server.url}/api/events/stream?detail-type=IVS%20Stage%20Update"
    status, body = open_stream(url, {})
    assert status == 403 and "Missing Authentication Token" in body
    assert open_stream(url, signed(url, "wrong"))[0] == 403
    assert open_stream(url, signed(url, "right")) == (200, ": openstage events")
