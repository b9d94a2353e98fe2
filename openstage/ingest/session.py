"""One encoder publishing into a stage: admission by stream key, media into the SFU, the stage told.

An RTMP participant goes through the stage runtime like a WHIP publisher (PUBLISH_STARTED with
protocol RTMP or RTMPS, PUBLISH_STOPPED, LEFT), so the roster, events, recording and
composition see it; its media goes into a local publication that WebRTC subscribers subscribe
to as to any publisher. Every refusal and rule broken is a PUBLISH_ERROR with its errorCode
(docs 3.4, 7.1) when there is a stage to record it in. In a cluster the encoder publishes on the
node hosting its stage: the stage is placed here if nobody hosts it, else the connection is
handed over to the relay (openstage/ingest/relay.py), and the hosting node admits it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import av

from openstage import ids
from openstage.cluster import Cluster, ClusterUnavailable
from openstage.ingest import keys
from openstage.ingest.connection import AUDIO, VIDEO, HandOver, PublishRefused, RtmpConnection
from openstage.ingest.media import IngestViolation, MediaConverter
from openstage.sfu import MediaEngine
from openstage.sfu.local import LocalPublication
from openstage.stage import ClientInfo, JoinRefused, StageAtCapacity, StageRuntime
from openstage.store.db import Database
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.ingest")

CODECS = {"video": "video/H264", "audio": "audio/opus"}
MAX_DURATION = timedelta(hours=24)  # participant publish duration quota (docs 8.1)


class IngestSession:
    """The :class:`PublishHandler` of one RTMP connection; ``live`` is shared by all of them, by participant id."""

    def __init__(
        self,
        db: Database,
        runtime: StageRuntime,
        engine: MediaEngine,
        cluster: Cluster,
        live: dict[str, IngestSession],
    ) -> None:
        self._db = db
        self._runtime = runtime
        self._engine = engine
        self._cluster = cluster
        self._live = live
        self.connection: RtmpConnection | None = None
        self.grant: keys.Grant | None = None
        self.claims: ParticipantClaims | None = None
        self._publication: LocalPublication | None = None
        self._converter: MediaConverter | None = None
        self._failing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._deadline: asyncio.TimerHandle | None = None

    async def publish(self, connection: RtmpConnection, stream_key: str) -> None:
        self.connection = connection
        grant = await keys.resolve(self._db, stream_key)
        if grant is None:
            raise PublishRefused("the stream key names no ingest configuration")
        claims = _claims(grant)
        protocol = "RTMPS" if connection.secure else "RTMP"
        client = ClientInfo(protocol=protocol, ingest_configuration_arn=grant.configuration_arn)
        if not grant.stage_arn:
            raise PublishRefused("the ingest configuration has no stage: set stageArn to use its stream key")
        await self._locate(grant.stage_arn, connection.secure)
        if not grant.valid:
            await self._refuse(claims, client, "INVALID_STREAM_KEY", "the stream key is not valid")
        if not grant.allows(connection.secure):
            await self._refuse(claims, client, "INVALID_PROTOCOL", "this ingest configuration accepts RTMPS only")
        if grant.participant_id in self._live:
            await self._refuse(claims, client, "REUSE_OF_STREAM_KEY", "the stream key is already publishing")
        self._live[grant.participant_id] = self
        try:
            await self._start(grant, claims, client)
        except BaseException:
            self._live.pop(grant.participant_id, None)
            raise

    async def _locate(self, stage_arn: str, secure: bool) -> None:
        """Returns if the encoder publishes here (the stage placed here if nobody hosts it); else raises
        :class:`HandOver` to the hosting node's ingest port, where the encoder is relayed."""
        here = self._cluster.node_id
        try:
            host = await self._cluster.place_on(stage_arn, here)
            node = None if host == here else await self._cluster.node(host)
        except ClusterUnavailable as error:
            raise PublishRefused(
                f"the stage cannot be placed on a node now: {error}", "NetStream.Publish.Failed"
            ) from None
        if host == here:
            return
        port = (node.rtmps_port if secure else node.rtmp_port) if node is not None else 0
        address = urlsplit(node.url).hostname if node is not None else None
        if not port or not address:
            raise PublishRefused(
                f"the stage's node {host} cannot take the encoder now; try again", "NetStream.Publish.Failed"
            )
        raise HandOver(host, address, port)

    async def _start(self, grant: keys.Grant, claims: ParticipantClaims, client: ClientInfo) -> None:
        publication = await self._engine.publish_local(grant.stage_arn, grant.participant_id, CODECS)
        try:
            await self._runtime.publish_started(claims, client)
        except (StageAtCapacity, JoinRefused) as error:
            await publication.close("refused")
            raise PublishRefused(str(error)) from None
        except BaseException:
            await publication.close("refused")
            raise
        self.grant, self.claims, self._publication = grant, claims, publication
        self._converter = MediaConverter(publication.deliver)
        if not await keys.activate(self._db, grant):
            self._fail("INVALID_STREAM_KEY", "the ingest configuration changed while the encoder connected")
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(
            MAX_DURATION.total_seconds(), self._fail, "STREAM_DURATION_EXCEEDED", "published for 24 hours"
        )
        log.info(
            "%s publishes to %s as %s",
            self.connection.peer if self.connection else "?",
            grant.stage_arn,
            grant.participant_id,
        )

    async def _refuse(self, claims: ParticipantClaims, client: ClientInfo, error_code: str, message: str) -> None:
        await self._runtime.publish_failed(claims, error_code, client)
        raise PublishRefused(f"{error_code}: {message}")

    def metadata(self, values: dict[str, Any]) -> None:
        converter = self._converter
        if converter is not None:
            self._guarded(lambda: converter.metadata(values))

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        converter = self._converter
        if converter is None or self._failing:
            return
        if type_id == VIDEO:
            self._guarded(lambda: converter.video(timestamp, payload))
        elif type_id == AUDIO:
            self._guarded(lambda: converter.audio(timestamp, payload))

    async def unpublished(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        grant, publication = self.grant, self._publication
        if grant is None or publication is None:
            return
        await publication.close("unpublished")
        if self._live.get(grant.participant_id) is self:
            del self._live[grant.participant_id]
        try:
            await self._runtime.publish_stopped(grant.stage_arn, grant.participant_id)
        finally:
            if not any(s.grant and s.grant.configuration_arn == grant.configuration_arn for s in self._live.values()):
                await keys.deactivate(self._db, grant.configuration_arn)

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except IngestViolation as violation:
            self._fail(violation.error_code, violation.message)
        except av.FFmpegError as error:
            self._fail("INTERNAL_SERVER_EXCEPTION", f"media conversion failed: {error}")

    def _fail(self, error_code: str, message: str) -> None:
        """Records the PUBLISH_ERROR, then disconnects the encoder (which ends the publication)."""
        if self._failing:
            return
        self._failing = True
        log.info(
            "ingest of %s stopped: %s (%s)", self.claims.participant_id if self.claims else "?", message, error_code
        )
        task = asyncio.ensure_future(self._disconnect(error_code))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _disconnect(self, error_code: str) -> None:
        if self.claims is not None:
            await self._runtime.publish_failed(self.claims, error_code)
        if self.connection is not None:
            await self.connection.close()


def _claims(grant: keys.Grant) -> ParticipantClaims:
    """The claims a participant token would carry for this encoder: publish only, the configuration's identity."""
    now = datetime.now(UTC)
    return ParticipantClaims(
        participant_id=grant.participant_id,
        stage_arn=grant.stage_arn,
        topic=ids.resource_id(grant.stage_arn),
        user_id=grant.user_id,
        can_publish=True,
        can_subscribe=False,
        attributes=grant.attributes,
        issued_at=now,
        expires_at=now + MAX_DURATION,
        self_signed=False,
    )
