"""A browser's WHIP request for a stage on another node, relayed there instead of redirected.

Since the Fetch standard change (whatwg/fetch#1544; Chrome 119, Firefox 111) a browser drops the
``Authorization`` header when it follows a redirect to another origin, and another node is
another origin: the web SDK's WHIP request would reach the hosting node without its token. So
the node the token names sends the offer on itself and hands back the hosting node's answer,
with ``Location`` (and the ``Link`` naming it) made absolute on that node, where the DELETE then
goes. Only signalling takes this detour: the answer's ICE candidates are the hosting node's, so
the media goes straight there.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openstage.dataplane.whip import CORS_HEADERS, MAX_OFFER_BYTES, UNSPECIFIED

log = logging.getLogger("openstage.cluster")

TIMEOUT_SECONDS = 15.0
# What the hosting node reads from the request: the token, the offer's type and what the client says about itself.
FORWARDED_HEADERS = ("authorization", "content-type", "user-agent")


async def relay_whip(request: Request, url: str) -> Response:
    """POSTs the request's offer to ``url`` (the same path on the hosting node) and returns that node's answer."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_OFFER_BYTES:
            return _error(413, f"an SDP offer is at most {MAX_OFFER_BYTES} bytes")
    headers = {
        name: value
        for name, value in request.headers.items()
        if name in FORWARDED_HEADERS or name.startswith("x-stages-")
    }
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
            answer = await http.post(url, content=body, headers=headers)  # httpx follows no redirect by default
    except httpx.HTTPError as error:
        log.warning("cannot relay a WHIP request to %s: %s", url, error)
        return _error(503, "the stage's node cannot be reached; try again")
    relayed = dict(CORS_HEADERS)
    if "content-type" in answer.headers:
        relayed["Content-Type"] = answer.headers["content-type"]
    location = answer.headers.get("location")
    if location:
        absolute = urljoin(url, location)
        relayed["Location"] = absolute
        if "link" in answer.headers:
            relayed["Link"] = answer.headers["link"].replace(f"<{location}>", f"<{absolute}>")
    return Response(answer.content, status_code=answer.status_code, headers=relayed)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"code": UNSPECIFIED, "message": message}, status, headers=CORS_HEADERS)
