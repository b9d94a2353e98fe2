"""SigV4 for the command-line clients of ``/api/…``: the same credentials and signing name as the API."""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.session import get_session


def default_region(region: str | None) -> str:
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def signed_headers(url: str, region: str) -> dict[str, str]:
    """Headers signing a GET of ``url`` with whatever credentials botocore finds; none if it finds none."""
    credentials = get_session().get_credentials()
    if credentials is None:
        return {}
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "ivs", region).add_auth(request)
    return dict(request.headers.items())


def get_json(program: str, url: str, region: str | None) -> Any | None:
    """GETs ``url`` signed; on failure prints why, prefixed with ``program``, and returns None."""
    try:
        response = httpx.get(url, headers=signed_headers(url, default_region(region)), timeout=10.0)
    except httpx.TransportError as error:
        print(f"{program}: cannot reach {url}: {error}", file=sys.stderr)
        return None
    if response.status_code != 200:
        print(f"{program}: {url} answered {response.status_code}: {response.text}", file=sys.stderr)
        return None
    return response.json()
