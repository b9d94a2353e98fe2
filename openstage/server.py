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

from openstage.cluster import build_cluster
from openstage.cluster.delivery import LeasedDispatcher
from openstage.cluster.keys import cluster_signing_key
from openstage.cluster.routing import Router
from openstage.cluster.status import ClusterStatus
from openstage.composition.supervisor import CompositionSupervisor
from openstage.config import Settings
from openstage.console.console_app import Console
from openstage.console.console_session import COOKIE as CONSOLE_COOKIE
from openstage.console.console_session import ConsoleSessions
from openstage.console.join import routes as join_routes
from openstage.control.app import ControlPlane
from openstage.control.context import Context, stage_endpoints
from openstage.control.errors import ApiError
from openstage.control.sigv4 import SignedRequest, SigV4Verifier
from openstage.dataplane.events import MAX_MESSAGE_BYTES, EventsEndpoint
from openstage.dataplane.whip import WhipEndpoints
from openstage.events.dispatcher import RetryPolicy, Sink
from openstage.events.eventbridge import EventBridgeSink
from openstage.events.inspection import EventInspection
from openstage.events.stream import EventStream
from openstage.events.webhook import WebhookSink
from openstage.ingest import IngestServer, server_context
from openstage.recording.manager import RecordingManager
from openstage.recording.records import RecordingRecords
from openstage.replication import ReplicaHost, Replicator
from openstage.sfu import create_engine
from openstage.stage import StageRuntime
from openstage.storage import LocalStorage, create_storage
from openstage.storage.http import BucketFiles
from openstage.store.db import Database
from openstage.tokens import TokenVerifier
from openstage.tokens.keys import TokenIssuer
from openstage.tokens.lookup import database_lookup

log = logging.getLogger("openstage")

CONTROL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


async def build_context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    cluster = build_cluster(settings, db)  # of one without --redis-url
    tokens = TokenIssuer(await cluster_signing_key(cluster, settings.data_dir), stage_endpoints(settings))
    wakeup = cluster.wakeup
    runtime = StageRuntime(
        db,
        TokenVerifier(tokens, database_lookup(db)),
        settings.session_grace_seconds,
        on_event=wakeup.notify,
        abandoned=cluster.abandoned,
    )
    cluster.attach(runtime)
    return Context(
        settings=settings,
        db=db,
        tokens=tokens,
        storage=create_storage(settings),
        runtime=runtime,
        events=wakeup,
        cluster=cluster,
    )


def build_dispatcher(context: Context) -> LeasedDispatcher:
    settings = context.settings
    sinks: list[Sink] = [WebhookSink(url, settings.webhook_secret) for url in settings.webhooks]
    if settings.eventbridge_bus:
        region = settings.eventbridge_region or settings.region
        bus, endpoint, source = settings.eventbridge_bus, settings.eventbridge_endpoint_url, settings.eventbridge_source
        sinks.append(EventBridgeSink(bus, region, endpoint, source))
    policy = RetryPolicy(settings.webhook_retry_base_seconds, settings.webhook_retry_budget_seconds)
    return LeasedDispatcher(context.db, context.cluster, sinks, policy)  # one node delivers each sink at a time


def sigv4_gate(verifier: SigV4Verifier, console: ConsoleSessions) -> Callable[[Request], Response | None]:
    """Lets a request through if it is SigV4-signed like a control-plane call or comes from a logged-in console;
    anyone in development mode."""

    def authorize(request: Request) -> Response | None:
        if verifier.dev_mode or console.caller(request.cookies.get(CONSOLE_COOKIE)) is not None:
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


def build_app(
    context: Context,
    verifier: SigV4Verifier,
    stream: EventStream,
    console: Console,
    rtmp_sockets: tuple[socket.socket, socket.socket],
) -> Starlette:
    """``rtmp_sockets``: the RTMP and RTMPS listening sockets, bound already (see :func:`serve`)."""
    control = ControlPlane(context, verifier)
    router = Router(context.cluster)
    events = EventsEndpoint(context.runtime, router.forward)
    engine = create_engine(context.settings)
    whip = WhipEndpoints(context.runtime, engine, router.whip)
    settings = context.settings
    tls = server_context(settings.rtmps_certificate, settings.rtmps_private_key, settings.data_dir)
    ingest = IngestServer(context.db, context.runtime, engine, context.cluster, *rtmp_sockets, tls)
    replicator = Replicator(
        context.db, context.runtime, engine, context.cluster, context.replications, context.events.notify
    )
    replicas = ReplicaHost(context.runtime, engine, context.cluster)  # replicas of other nodes' participants
    recordings = RecordingManager(
        RecordingRecords(context.db, context.events.notify), context.storage, engine, context.runtime
    )
    compositions = CompositionSupervisor(
        settings,
        context.db,
        context.storage,
        context.runtime,
        engine,
        context.cluster,
        context.compositions,
        context.events.notify,
    )
    buckets = (
        BucketFiles(context.storage, stream.authorize).routes() if isinstance(context.storage, LocalStorage) else []
    )
    dispatcher = build_dispatcher(context)
    inspection = EventInspection(context.db, stream.authorize, dispatcher.sink_names)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await context.db.migrate()
        await context.cluster.start()  # before the runtime: its start-up must spare other nodes' sessions
        await dispatcher.start()  # before the runtime writes events (start-up closes abandoned sessions)
        await context.runtime.start()
        await recordings.start()  # before any publisher: it listens to the runtime
        await compositions.start()  # likewise; also fails compositions a previous process left running
        await ingest.start()
        await replicator.start()
        yield
        await compositions.stop()  # compositions end (STOPPED, outputs finished) while their media still flows
        await replicator.stop()  # replicas end (REPLICATION_STOPPED) while their sources still publish
        await replicas.stop()  # other nodes' replicas here leave; their nodes end the replications
        await ingest.stop()  # encoders and peer connections first: their ends are recorded while the runtime runs
        await whip.close()
        await recordings.stop()  # recordings end (playlists VOD, recording-ended.json) before the runtime stops
        await context.runtime.stop()
        await dispatcher.stop()  # unacknowledged events stay in the outbox for the next start
        await context.cluster.stop()
        await context.db.close()

    # The control API's catch-all comes last: every data-plane path must be matched before it.
    routes: list[BaseRoute] = [
        *events.routes(),
        *whip.routes(),
        *stream.routes(),
        *inspection.routes(),
        *ClusterStatus(context.cluster, stream.authorize).routes(),
        *replicas.routes(),
        *buckets,
        *console.routes(),  # GET / and /console: before the catch-all, which keeps every other method
        *join_routes(),  # GET /join: the browser join page
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
            f"  ingest:   RTMP on port {settings.rtmp_port}, RTMPS on port {settings.rtmps_port} (stage endpoints)",
            f"  join:     {url}/join#token=<participant token> joins a stage from a browser",
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


def ingest_socket(host: str, port: int, protocol: str) -> socket.socket:
    """Like :func:`listening_socket`, with an error that names the setting to change."""
    try:
        return listening_socket(host, port)
    except OSError as error:
        flag = f"--{protocol.lower()}-port"
        raise OSError(error.errno, f"the {protocol} ingest port {port} ({flag}): {error.strerror}") from None


async def serve(settings: Settings) -> None:
    sock = listening_socket(settings.host, settings.port)
    port = sock.getsockname()[1]
    if settings.port == 0:
        settings.port = port  # the public URL and token endpoints must name the real port
    rtmp_sockets = (
        ingest_socket(settings.host, settings.rtmp_port, "RTMP"),
        ingest_socket(settings.host, settings.rtmps_port, "RTMPS"),
    )
    settings.rtmp_port, settings.rtmps_port = (s.getsockname()[1] for s in rtmp_sockets)  # stage endpoints name them
    context = await build_context(settings)
    verifier = SigV4Verifier(settings.credentials(), settings.region)
    console = Console(context, verifier.credentials)
    stream = EventStream(context.db, context.events, sigv4_gate(verifier, console.auth.sessions))
    app = build_app(context, verifier, stream, console, rtmp_sockets)
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
        loop.add_signal_handler(sig, lambda s=sig: _stop(server, [stream, console], s))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        print(banner(settings, port, not settings.credentials()), flush=True)
    await serving
    log.info("openstage stopped")


def _stop(server: uvicorn.Server, streams: list[EventStream | Console], sig: signal.Signals) -> None:
    log.info("received %s, shutting down gracefully", sig.name)
    for stream in streams:
        stream.close()  # open event streams and console feeds would hold the graceful shutdown until its timeout
    server.should_exit = True
