"""The RTMP and RTMPS listeners, and what the stage runtime's kicks mean for the encoders on them.

An encoder whose stage another node hosts is relayed there (openstage/ingest/relay.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl

from openstage.cluster import Cluster
from openstage.ingest import keys
from openstage.ingest.connection import HANDSHAKE_TIMEOUT, RtmpConnection
from openstage.ingest.relay import relay
from openstage.ingest.session import IngestSession
from openstage.sfu import MediaEngine
from openstage.stage import EVERYONE, StageRuntime
from openstage.store.db import Database

log = logging.getLogger("openstage.ingest")


class IngestServer:
    def __init__(
        self,
        db: Database,
        runtime: StageRuntime,
        engine: MediaEngine,
        cluster: Cluster,
        rtmp: socket.socket,
        rtmps: socket.socket,
        tls: ssl.SSLContext,
    ) -> None:
        """``rtmp`` and ``rtmps`` are bound, not yet listening: the stage endpoints name their ports."""
        self._db = db
        self._runtime = runtime
        self._engine = engine
        self._cluster = cluster
        self._sockets = [(rtmp, None), (rtmps, tls)]
        self._servers: list[asyncio.Server] = []
        self._connections: set[RtmpConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.live: dict[str, IngestSession] = {}  # participant id -> its encoder's session
        runtime.add_kick_listener(self._kicked)

    async def start(self) -> None:
        reset = await keys.deactivate_all(self._db)
        if reset:
            log.warning("%d ingest configuration(s) left ACTIVE by an unclean shutdown set INACTIVE", reset)
        for sock, tls in self._sockets:
            serve = functools.partial(self._serve, secure=tls is not None)
            timeout = HANDSHAKE_TIMEOUT if tls else None
            self._servers.append(await asyncio.start_server(serve, sock=sock, ssl=tls, ssl_handshake_timeout=timeout))

    async def stop(self) -> None:
        """Stops listening and disconnects every encoder; their ends are recorded (call before the runtime stops)."""
        for server in self._servers:
            server.close()
        await asyncio.gather(*(connection.close() for connection in list(self._connections)))
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secure: bool) -> None:
        session = IngestSession(self._db, self._runtime, self._engine, self._cluster, self.live)
        connection = RtmpConnection(reader, writer, session, secure)
        self._connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await connection.serve()
            if connection.handed_over is not None:
                await relay(connection, connection.handed_over)
        except Exception:
            log.exception("RTMP connection from %s failed", connection.peer)
        finally:
            self._connections.discard(connection)
            if task is not None:
                self._tasks.discard(task)

    async def _kicked(self, stage_arn: str, participant_id: str) -> None:
        """DisconnectParticipant, DeleteStage, DeleteIngestConfiguration with force: the encoder is dropped."""
        sessions = [
            session
            for pid, session in self.live.items()
            if session.grant is not None
            and session.grant.stage_arn == stage_arn
            and participant_id in (pid, EVERYONE)
            and session.connection is not None
        ]
        await asyncio.gather(*(s.connection.close() for s in sessions if s.connection is not None))
