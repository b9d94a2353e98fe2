"""The control-plane endpoint: authenticate, route by the model, parse, validate, handle, serialize."""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from openstage.config import Settings
from openstage.console.console_session import ConsoleSessionError, ConsoleSessions
from openstage.control import handlers  # noqa: F401  (registers every handler)
from openstage.control.context import Context
from openstage.control.errors import (
    SECURITY_HEADERS,
    AccessDeniedException,
    ApiError,
    InternalServerException,
    NotImplementedYet,
    SerializationException,
    UnknownOperationException,
)
from openstage.control.model import find_route
from openstage.control.parse import parse_request
from openstage.control.registry import HANDLERS
from openstage.control.serialize import serialize_output
from openstage.control.sigv4 import SignedRequest, SigV4Verifier
from openstage.control.validation import validate

log = logging.getLogger("openstage.control")

# The largest valid request (12 token configurations with 1 KB of attributes each, 50 tags)
# is a few tens of KB; AWS's front end stops at 10 MB. Reading stops here instead of
# buffering whatever a client sends.
MAX_BODY_BYTES = 1 << 20


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SerializationException(f"Request body exceeds {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def addressed_here(settings: Settings, host_header: str) -> bool:
    """Development mode trusts any signature, so only requests addressed to this machine count.

    Without this, a web page whose name is re-bound to 127.0.0.1 (DNS rebinding) could drive the
    API from a developer's browser with a made-up signature.
    """
    host = urlsplit(f"//{host_header}").hostname or ""
    allowed = {"localhost", urlsplit(settings.resolved_public_url).hostname, settings.host}
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return loopback or host in allowed


class ControlPlane:
    def __init__(self, context: Context, verifier: SigV4Verifier) -> None:
        self.context = context
        self.verifier = verifier
        self.console = ConsoleSessions(verifier.credentials)  # the web console's cookie stands in for SigV4

    async def endpoint(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        request.state.operation = "-"
        try:
            response = await self._handle(request, request_id)
        except ApiError as error:
            response = error.to_response(request_id)
        except Exception:
            log.exception("internal error in %s (request %s)", request.state.operation, request_id)
            response = InternalServerException(
                f"Internal error; the server log has the details under request id {request_id}."
            ).to_response(request_id)
        log.info(
            "%s %s -> %s %d (%.1f ms)",
            request.method,
            request.url.path,
            request.state.operation,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    def _check_dev_host(self, host_header: str) -> None:
        if not addressed_here(self.context.settings, host_header):
            raise AccessDeniedException(
                f"Host '{host_header}' is not this server: without credentials openstage accepts only requests "
                "addressed to a loopback address or its public URL."
            )

    async def _handle(self, request: Request, request_id: str) -> Response:
        body = await _read_body(request)
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.verifier.dev_mode:
            self._check_dev_host(headers.get("host", ""))
        try:
            console = self.console.admits(headers, request.cookies)
        except ConsoleSessionError as error:
            raise AccessDeniedException(str(error)) from None
        if not console:
            self.verifier.verify(SignedRequest(request.method, raw_path, raw_query, headers, body))
        route, path_params, path_known = find_route(request.method, raw_path)
        if route is None:
            hint = "this path exists for another HTTP method" if path_known else "no such operation"
            raise UnknownOperationException(
                f"Unknown operation {request.method} {request.url.path}: {hint}. openstage speaks the "
                "AWS ivs-realtime API (docs/api-coverage.md lists every operation)."
            )
        operation = route.operation
        name = request.state.operation = operation.name
        params = parse_request(operation, path_params, raw_query, headers, body)
        validate(operation.input_shape, params)
        handler = HANDLERS.get(name)
        if handler is None:  # an operation a newer botocore model added
            raise NotImplementedYet(f"{name} is not implemented by this version of openstage.")
        result = await handler(self.context, params)
        payload, extra_headers = serialize_output(operation.output_shape, result)
        headers_out: dict[str, Any] = dict(SECURITY_HEADERS)
        headers_out.update(extra_headers)
        headers_out["x-amzn-RequestId"] = request_id
        return Response(
            json.dumps(payload),
            status_code=operation.http.get("responseCode", 200),
            headers=headers_out,
            media_type="application/json",
        )
