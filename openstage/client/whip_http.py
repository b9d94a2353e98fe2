"""The WHIP HTTP exchange as IVS defines it (docs 2.4): POST an offer, 201 + answer + Location, DELETE.

Plain ``urllib`` in a worker thread: one request per publish or subscription does not justify
an HTTP client dependency. Redirects are followed here, not by urllib, because a WHIP client
must resend the offer and keep the ``Authorization`` header across a 307.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urljoin

SDP = "application/sdp"
MAX_REDIRECTS = 5
TIMEOUT_SECONDS = 15.0
USER_AGENT = "openstage-participant/0.1"


class WhipError(Exception):
    """A refused WHIP request: ``status`` is the HTTP status, ``code`` the IVS code (2001-2014, 0 if none)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"HTTP {status}, code {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class WhipAnswer:
    sdp: str
    location: str  # absolute URL of the WHIP resource, for the DELETE that ends it


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx surfaces as an HTTPError that _send follows itself


_opener = urllib.request.build_opener(_NoRedirects)


async def post_offer(url: str, token: str, offer_sdp: str) -> WhipAnswer:
    """POSTs the offer, following up to five redirects with the same headers; anything but 201 raises."""
    status, headers, body, final_url = await asyncio.to_thread(_send, "POST", url, token, offer_sdp.encode())
    if status != 201:
        raise _error(status, body)
    location = headers.get("Location")
    if not location:
        raise WhipError(status, 0, "the 201 answer has no Location header")
    return WhipAnswer(body.decode(), urljoin(final_url, location))


async def delete(location: str, token: str) -> None:
    """Ends a WHIP resource; one that is already gone (404) counts as ended, as the web SDK treats it."""
    status, _, body, _ = await asyncio.to_thread(_send, "DELETE", location, token, None)
    if status >= 300 and status != 404:
        raise _error(status, body)


def _send(method: str, url: str, token: str, body: bytes | None) -> tuple[int, Message, bytes, str]:
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT, "X-Stages-Platform": "python"}
    if body is not None:
        headers["Content-Type"] = SDP
    for _ in range(MAX_REDIRECTS + 1):
        request = urllib.request.Request(url, body, headers, method=method)
        try:
            with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return response.status, response.headers, response.read(), url
        except urllib.error.HTTPError as error:
            location = error.headers.get("Location")
            if error.code in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            return error.code, error.headers, error.read(), url
    raise WhipError(310, 0, f"more than {MAX_REDIRECTS} redirects")


def _error(status: int, body: bytes) -> WhipError:
    """IVS errors are JSON ``{code, message}``; anything else is reported as it came."""
    try:
        data = json.loads(body)
        return WhipError(status, int(data.get("code", 0)), str(data.get("message", "")))
    except (ValueError, TypeError, AttributeError):
        return WhipError(status, 0, body.decode(errors="replace")[:200])
