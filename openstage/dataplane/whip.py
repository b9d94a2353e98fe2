"""WHIP publish and subscribe as the IVS SDKs, AWS's samples and OBS speak it (docs 2.4, 11).

One POST of an SDP offer per publish or subscription; 201 with the answer and a ``Location``
that a DELETE (or the web SDK's ``sendBeacon`` POST on unload) tears down. Errors are JSON
``{code, message}`` with the IVS codes. The stage runtime is told what starts, stops and fails;
the media engine does the rest. The resource URL holds 144 random bits and is only ever given
to the client that created it, so knowing it is what authorizes its teardown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openstage.sfu import InvalidOffer, MediaEngine, MediaError, NoMatchingCodec, PublisherNotFound
from openstage.sfu.engine import MediaSession
from openstage.stage import ClientInfo, JoinRefused, StageAtCapacity, StageRuntime
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.whip")

SDP = "application/sdp"
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_OFFER_BYTES = 64 * 1024
SESSION_DELETE_REL = "urn:ietf:params:whip:ivs-stages:session-delete"
# The request headers the web SDK sends (docs 2.4); a preflight must allow them or the browser blocks the POST.
ALLOWED_HEADERS = (
    "Authorization, Content-Type, X-Stages-Platform, X-Stages-Request-ID, X-Stages-SDK, X-Stages-Session-ID, "
    "X-Stages-Trace-ID, X-Stages-WHIP-Version, X-Stages-Options, X-Stages-Initial-Layer-Pref"
)
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Location, Link"}

# WHIP error codes (docs 2.4) the SDK maps to its own errors.
UNSPECIFIED, TOKEN_EXPIRED, NO_PERMISSIONS, REMOTE_NOT_FOUND, STAGE_AT_CAPACITY, NO_MATCHING_CODEC = (
    2001,
    2002,
    2003,
    2004,
    2005,
    2014,
)


# What to answer a WHIP request for a stage hosted on another node (a 307 there, or that node's own answer,
# relayed); None when the stage is on this node (openstage/cluster/routing.py).
Router = Callable[[Request, str], Awaitable[Response | None]]


async def _here(_request: Request, _stage_arn: str) -> Response | None:
    return None


class WhipError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return JSONResponse({"code": self.code, "message": self.message}, self.status, headers=CORS_HEADERS)


class WhipRouted(WhipError):
    """The stage's media is on another node: the answer that sends the client there goes back instead."""

    def __init__(self, answer: Response) -> None:
        super().__init__(answer.status_code, 0, "the stage is hosted on another node")
        self.answer = answer

    def response(self) -> Response:
        return self.answer


@dataclass(eq=False)
class Resource:
    """One live publication or subscription, as its ``Location`` names it."""

    session: MediaSession
    claims: ParticipantClaims
    publisher_id: str | None  # None for a publication


class WhipEndpoints:
    def __init__(self, runtime: StageRuntime, engine: MediaEngine, route: Router = _here) -> None:
        self.runtime = runtime
        self.engine = engine
        self._route = route
        self.resources: dict[str, Resource] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        runtime.add_kick_listener(engine.close_participant)

    def routes(self) -> list[Route]:
        return [
            Route("/whip", self.bare_post, methods=["POST", "OPTIONS"]),
            Route("/whip/publish/{participant_id}", self.publish, methods=["POST", "OPTIONS"]),
            Route("/whip/subscribe/{remote_id}", self.subscribe, methods=["POST", "OPTIONS"]),
            Route("/whip/resources/{resource_id}", self.delete, methods=["DELETE", "POST", "OPTIONS"]),
        ]

    async def bare_post(self, request: Request) -> Response:
        """Generic WHIP clients (OBS) know one URL; the token says who publishes (docs 2.4: 307, keep headers)."""
        if request.method == "OPTIONS":
            return preflight(request)
        try:
            claims = await self._authorize(request)
        except WhipError as error:
            return error.response()
        location = f"/whip/publish/{claims.participant_id}"
        return Response(status_code=307, headers={"Location": location, **CORS_HEADERS})

    async def publish(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request)
        try:
            claims = await self._authorize(request)
            offer = await read_offer(request)
            if request.path_params["participant_id"] != claims.participant_id:
                raise WhipError(403, NO_PERMISSIONS, "the token's participant may publish only as itself")
            if not claims.can_publish:
                await self.runtime.publish_failed(claims, "INSUFFICIENT_CAPABILITIES")
                raise WhipError(403, NO_PERMISSIONS, "the token does not allow publishing")
            try:
                publication = await self.engine.publish(claims.stage_arn, claims.participant_id, offer)
            except MediaError as error:
                await self.runtime.publish_failed(claims, error.error_code)
                raise media_error(error) from None
            try:
                await self.runtime.publish_started(claims, ClientInfo.from_headers(request.headers))
            except BaseException as error:
                await publication.close("refused")
                if isinstance(error, StageAtCapacity | JoinRefused):
                    raise refusal(error) from None
                raise
        except WhipError as error:
            return error.response()
        return self._created(Resource(publication, claims, None))

    async def subscribe(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return preflight(request)
        remote_id = request.path_params["remote_id"]
        try:
            claims = await self._authorize(request)
            if PARTICIPANT_ID.fullmatch(remote_id) is None:  # nothing worth recording as an event
                raise WhipError(404, REMOTE_NOT_FOUND, "no participant has that id")
            offer = await read_offer(request)
            if not claims.can_subscribe:
                await self.runtime.subscribe_failed(claims, remote_id, "INSUFFICIENT_CAPABILITIES")
                raise WhipError(403, NO_PERMISSIONS, "the token does not allow subscribing")
            try:
                if not self.runtime.is_publishing(claims.stage_arn, remote_id):
                    raise PublisherNotFound(f"participant {remote_id} is not publishing")
                subscription = await self.engine.subscribe(claims.stage_arn, claims.participant_id, remote_id, offer)
            except MediaError as error:
                await self.runtime.subscribe_failed(claims, remote_id, error.error_code)
                raise media_error(error) from None
            try:
                await self.runtime.subscribe_started(claims, remote_id, ClientInfo.from_headers(request.headers))
            except BaseException as error:
                await subscription.close("refused")
                if isinstance(error, JoinRefused):
                    raise refusal(error) from None
                raise
        except WhipError as error:
            return error.response()
        return self._created(Resource(subscription, claims, remote_id))

    async def delete(self, request: Request) -> Response:
        """DELETE of the resource, or the SDK's unload beacon (a POST of ``{"authorization": token}``)."""
        if request.method == "OPTIONS":
            return preflight(request)
        resource = self.resources.get(request.path_params["resource_id"])
        if resource is None:
            return WhipError(404, UNSPECIFIED, "no such WHIP session").response()
        await resource.session.close("deleted")
        await self._stopped(resource)
        return Response(status_code=200, headers=CORS_HEADERS)

    async def close(self) -> None:
        """Ends every session, recording each stop, then the engine; call before the runtime stops."""
        await asyncio.gather(*(r.session.close("shutdown") for r in list(self.resources.values())))
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await self.engine.close()

    async def _authorize(self, request: Request) -> ParticipantClaims:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = await self.runtime.authorize(token.strip() if scheme.lower() == "bearer" else None)
        except JoinRefused as error:
            raise refusal(error) from None
        routed = await self._route(request, claims.stage_arn)
        if routed is not None:
            raise WhipRouted(routed)
        return claims

    def _created(self, resource: Resource) -> Response:
        session = resource.session
        self.resources[session.resource_id] = resource
        watcher = asyncio.ensure_future(self._watch(resource))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        location = f"/whip/resources/{session.resource_id}"
        headers = {"Location": location, "Link": f'<{location}>; rel="{SESSION_DELETE_REL}"', **CORS_HEADERS}
        return Response(session.answer_sdp, status_code=201, media_type=SDP, headers=headers)

    async def _watch(self, resource: Resource) -> None:
        """Whatever ends the session (DELETE, the peer leaving, ICE failure, a kick), the runtime hears once."""
        await resource.session.ended.wait()
        await self._stopped(resource)

    async def _stopped(self, resource: Resource) -> None:
        if self.resources.pop(resource.session.resource_id, None) is not resource:
            return
        claims = resource.claims
        try:
            if resource.publisher_id is None:
                await self.runtime.publish_stopped(claims.stage_arn, claims.participant_id)
            else:
                await self.runtime.subscribe_stopped(claims.stage_arn, claims.participant_id, resource.publisher_id)
        except Exception:
            log.exception("recording the end of %s's WHIP session failed", claims.participant_id)


async def read_offer(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != SDP:
        raise WhipError(415, UNSPECIFIED, f"the offer must be sent as {SDP}, not {content_type or 'nothing'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_OFFER_BYTES:
            raise WhipError(413, UNSPECIFIED, f"an SDP offer is at most {MAX_OFFER_BYTES} bytes")
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise WhipError(400, UNSPECIFIED, "the SDP offer is not UTF-8") from None


def refusal(error: JoinRefused | StageAtCapacity) -> WhipError:
    if isinstance(error, StageAtCapacity):
        return WhipError(403, STAGE_AT_CAPACITY, str(error))
    if error.code == "TOKEN_EXPIRED":
        return WhipError(401, TOKEN_EXPIRED, error.message)
    if error.code.startswith("TOKEN_"):
        return WhipError(401, UNSPECIFIED, f"{error.code}: {error.message}")
    # STAGE_DELETED, PARTICIPANT_DISCONNECTED: the SDK does not retry a 403 with 2003.
    return WhipError(403, NO_PERMISSIONS, f"{error.code}: {error.message}")


def media_error(error: MediaError) -> WhipError:
    if isinstance(error, PublisherNotFound):
        return WhipError(404, REMOTE_NOT_FOUND, error.message)
    if isinstance(error, NoMatchingCodec):
        return WhipError(400, NO_MATCHING_CODEC, error.message)
    if isinstance(error, InvalidOffer):
        return WhipError(400, UNSPECIFIED, error.message)
    return WhipError(500, UNSPECIFIED, error.message)


def preflight(request: Request) -> Response:
    """Allows the headers the SDK sends, and any other ``X-Stages-*`` it may add in a later version."""
    requested = [h.strip() for h in request.headers.get("access-control-request-headers", "").split(",")]
    extra = [h for h in requested if h.lower().startswith("x-stages-")]
    return Response(
        status_code=204,
        headers={
            **CORS_HEADERS,
            "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": ", ".join([ALLOWED_HEADERS, *extra]),
            "Access-Control-Max-Age": "86400",
        },
    )
