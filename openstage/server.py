"""Assembles the app from settings and runs it until SIGINT/SIGTERM, then stops in order."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from openstage.config import Settings
from openstage.control.app import ControlPlane
from openstage.control.context import Context, stage_endpoints
from openstage.control.errors import ApiError
from openstage.control.sigv4 import SignedRequest, SigV4Verifier
from openstage.dataplane.events import MAX_MESSAGE_BYTES, EventsEndpoint
from openstage.dataplane.whip import WhipEndpoints
from openstage.events.dispatcher import Dispatcher, RetryPolicy, Sink
from openstage.events.outbox import Wakeup
from openstage.events.stream import EventStream
from openstage.events.webhook import WebhookSink
from openstage.sfu import create_engine
from openstage.stage import StageRuntime
from openstage.storage.local import LocalStorage
from openstage.store.db import Database
from openstage.tokens import TokenVerifier
from openstage.tokens.keys import TokenIssuer, load_or_create_server_key
from openstage.tokens.lookup import database_lookup

log = logging.getLogger("openstage")

CONTROL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def build_context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    tokens = TokenIssuer(load_or_create_server_key(settings.data_dir), stage_endpoints(settings))
    wakeup = Wakeup()
    runtime = StageRuntime(
        db, TokenVerifier(tokens, database_lookup(db)), settings.session_grace_seconds, on_event=wakeup.notify
    )
    return Context(
        settings=settings,
        db=db,
        tokens=tokens,
        storage=LocalStorage(settings.data_dir / "buckets"),
        runtime=runtime,
        events=wakeup,
    )


def build_dispatcher(context: Context) -> Dispatcher:
    settings = context.settings
    sinks: list[Sink] = [WebhookSink(url, settings.webhook_secret) for url in settings.webhooks]
    policy = RetryPolicy(settings.webhook_retry_base_seconds, settings.webhook_retry_budget_seconds)
    return Dispatcher(context.db, context.events, sinks, policy)


def sigv4_gate(verifier: SigV4Verifier) -> Callable[[Request], Response | None]:
    """Lets a request through if it is SigV4-signed like a control-plane call; anyone in development mode."""

    def authorize(request: Request) -> Response | None:
        if verifier.dev_mode:
            return None
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            verifier.verify(SignedRequest(request.method, raw_path, raw_query, headers, b""))
        except ApiError as error:
            return error.to_response()
        return None

    return authorize


def build_app(context: Context, verifier: SigV4Verifier, stream: EventStream) -> Starlette:
    control = ControlPlane(context, verifier)
    events = EventsEndpoint(context.runtime)
    whip = WhipEndpoints(context.runtime, create_engine(context.settings))
    dispatcher = build_dispatcher(context)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await context.db.migrate()
        await dispatcher.start()  # before the runtime writes events (start-up closes abandoned sessions)
        await context.runtime.start()
        yield
        await whip.close()  # peer connections first: their ends are recorded while the runtime still runs
        await context.runtime.stop()
        await dispatcher.stop()  # unacknowledged events stay in the outbox for the next start
        await context.db.close()

    # The control API's catch-all comes last: every data-plane path must be matched before it.
    routes: list[BaseRoute] = [
        *events.routes(),
        *whip.routes(),
        *stream.routes(),
        Route("/{path:path}", control.endpoint, methods=CONTROL_METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def banner(settings: Settings, port: int, dev_mode: bool) -> str:
    url = settings.resolved_public_url
    database = settings.resolved_database_url
    if "@" in database:  # never print a password
        scheme, _, rest = database.partition("://")
        database = f"{scheme}://***@{rest.split('@', 1)[1]}"
    auth = (
        "DEV MODE: no credentials configured, any well-formed SigV4 signature is accepted (loopback only)"
        if dev_mode
        else "SigV4 signatures are verified against the configured credentials"
    )
    return "\n".join(
        [
            f"openstage is listening on http://{settings.host}:{port} (public URL {url})",
            f"  region {settings.region}, account {settings.account_id}",
            f"  data:     {settings.data_dir.resolve()}",
            f"  database: {database}",
            f"  auth:     {auth}",
            f"  media:    ICE advertises {settings.ice_addresses or 'every non-loopback address of this machine'}",
            "  point boto3 at it:",
            f'    boto3.client("ivs-realtime", endpoint_url="{url}", region_name="{settings.region}")',
            f"  or the AWS CLI: aws ivs-realtime list-stages --endpoint-url {url} --region {settings.region}",
        ]
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """Binds before the app starts, so port 0 resolves to the real port the endpoints must name.

    The protocol must be IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted
    sockets only then, and without it every keep-alive response waits ~40 ms for a delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def serve(settings: Settings) -> None:
    sock = listening_socket(settings.host, settings.port)
    port = sock.getsockname()[1]
    if settings.port == 0:
        settings.port = port  # the public URL and token endpoints must name the real port
    context = build_context(settings)
    verifier = SigV4Verifier(settings.credentials(), settings.region)
    stream = EventStream(context.db, context.events, sigv4_gate(verifier))
    app = build_app(context, verifier, stream)
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        ws_max_size=MAX_MESSAGE_BYTES,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: _stop(server, stream, s))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        print(banner(settings, port, not settings.credentials()), flush=True)
    await serving
    log.info("openstage stopped")


def _stop(server: uvicorn.Server, stream: EventStream, sig: signal.Signals) -> None:
    log.info("received %s, shutting down gracefully", sig.name)
    stream.close()  # open event streams would hold the graceful shutdown until its timeout
    server.should_exit = True
