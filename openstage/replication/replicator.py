"""Keeps the recorded replications live: the replica in the destination stage, its media, its events.

A replica is a participant of the destination stage with the source's participant id that
publishes a local publication fed by taps on the source's publication: encoded frames pass
from stage to stage without decoding. The control plane records what should exist
(``participant_replications``) and wakes this; the stage runtime tells it when the source
stops or starts publishing, which pauses the replica and, past ``reconnectWindowSeconds``,
ends the replication.

In a cluster the node hosting the source stage runs the replication (the control plane places
the destination stage on that node if nobody hosts it, see docs/cluster.md): every node reads
every row, and acts on those whose source it hosts or that it has live. A destination stage
hosted by another node gets its replica there, fed over a WebSocket (remote.py). Other nodes
reach this node through the commands ``replication.wake`` and ``replication.source`` (the source
participant's session while it publishes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import av
from sqlalchemy import select, update
from websockets.exceptions import InvalidHandshake, InvalidURI

from openstage.cluster import Cluster, CommandFailed
from openstage.events.outbox import Wakeup
from openstage.replication.remote import RemoteFeed, replica_claims
from openstage.sfu import MediaEngine
from openstage.sfu.local import LocalPublication
from openstage.stage import EVERYONE, ClientInfo, JoinRefused, ParticipantInfo, StageAtCapacity, StageRuntime
from openstage.stage.records import StageRecords
from openstage.store.db import Database
from openstage.store.models import Participant, ParticipantReplication
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.replication")

POLL_SECONDS = 5.0  # a missed wake-up (another node's write) is noticed this late at most


@dataclass(eq=False)
class _Feed:
    """A tap on the source that hands each frame to the replica's publication."""

    publication: LocalPublication
    kind: str

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self.publication.deliver(self.kind, packet, keyframe)


@dataclass(eq=False)
class LiveReplica:
    pk: int
    source: str
    destination: str
    participant_id: str
    source_session_id: str
    window: int
    attributes: dict[str, str]
    started: bool = False  # REPLICATION_STARTED recorded
    publication: LocalPublication | None = None
    remote: RemoteFeed | None = None  # instead of ``publication`` when another node hosts the destination
    link: str = ""  # the remote replica's name on that node
    detaches: list[Callable[[], None]] = field(default_factory=list)
    expiry: asyncio.Task[None] | None = None

    @property
    def attached(self) -> bool:
        return self.publication is not None or self.remote is not None


class Replicator:
    def __init__(
        self,
        db: Database,
        runtime: StageRuntime,
        engine: MediaEngine,
        cluster: Cluster,
        wakeup: Wakeup,
        on_event: Callable[[], None],
    ) -> None:
        """``wakeup`` is notified by the control plane; ``on_event`` when events commit to the outbox."""
        self._db = db
        self._runtime = runtime
        self._engine = engine
        self._cluster = cluster
        self._wakeup = wakeup
        self._records = StageRecords(db, on_event)
        self._live: dict[int, LiveReplica] = {}
        self._lock = asyncio.Lock()  # one change at a time: the API's wake-ups and the runtime's news interleave
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        runtime.add_publish_listener(self._publishing_changed)
        runtime.add_kick_listener(self._kicked)
        cluster.register("replication.wake", self._woken)
        cluster.register("replication.source", self._source_session)

    async def _woken(self, _args: dict[str, Any]) -> None:
        self._wakeup.notify()

    async def _source_session(self, args: dict[str, Any]) -> str | None:
        """The session of the participant publishing here in the stage; None if it does not publish here."""
        info = self._runtime.participant_info(args["stage_arn"], args["participant_id"])
        return info.session_id if info is not None and info.entry.is_publishing else None

    async def start(self) -> None:
        """Replications a previous process left running end now: their sources cannot still be publishing. Those
        whose source another live node hosts are that node's (this node gave up its placements when it started)."""
        async with self._db.write() as session:
            rows = await session.scalars(
                select(ParticipantReplication).where(ParticipantReplication.replication_state != "STOPPED")
            )
            stale = [row.pk for row in rows if not await self._elsewhere(row.source_stage_arn)]
            if stale:
                await session.execute(
                    update(ParticipantReplication)
                    .where(ParticipantReplication.pk.in_(stale))
                    .values(replication_state="STOPPED")
                )
        self._task = asyncio.create_task(self._run(self._wakeup.listen()))

    async def stop(self) -> None:
        """Ends every live replication (REPLICATION_STOPPED); call before the runtime stops."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._lock:
            for replica in list(self._live.values()):
                await self._end(replica)

    async def _run(self, flag: asyncio.Event) -> None:
        while True:
            flag.clear()
            try:
                await self._reconcile()
            except Exception:
                log.exception("replication reconcile failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flag.wait(), POLL_SECONDS)

    async def _reconcile(self) -> None:
        async with self._db.read() as session:
            rows = list(
                (
                    await session.scalars(
                        select(ParticipantReplication).where(ParticipantReplication.replication_state != "STOPPED")
                    )
                ).all()
            )
        async with self._lock:
            for row in rows:
                replica = self._live.get(row.pk)
                if replica is None and await self._elsewhere(row.source_stage_arn):
                    continue  # the source's node runs it
                if replica is None and row.replication_state == "ACTIVE" and not await self._hosted_here(row):
                    continue  # its source's node is gone: the row waits for a StopParticipantReplication
                if row.replication_state == "STOPPING":
                    if replica is not None:
                        await self._end(replica)
                    else:
                        await self._set_state(row.pk, "STOPPED")
                elif replica is None:
                    replica = self._live[row.pk] = LiveReplica(
                        row.pk,
                        row.source_stage_arn,
                        row.destination_stage_arn,
                        row.participant_id,
                        row.source_session_id,
                        row.reconnect_window_seconds,
                        dict(row.attributes),
                    )
                    if not await self._attach(replica):
                        await self._source_gone(replica)

    async def _elsewhere(self, stage_arn: str) -> bool:
        """Whether another live node hosts the stage."""
        return (await self._cluster.host_of(stage_arn)) not in (None, self._cluster.node_id)

    async def _hosted_here(self, row: ParticipantReplication) -> bool:
        """Whether this node hosts the row's source stage: a source nobody hosts is not coming back here."""
        return (await self._cluster.host_of(row.source_stage_arn)) == self._cluster.node_id

    async def _publishing_changed(self, stage_arn: str, participant_id: str, publishing: bool) -> None:
        """Handled in a task of its own: this replicator may be the one publishing (a replica joining its
        destination), holding the lock the handling needs. Tasks take the lock in the order they were made."""
        if any((r.source, r.participant_id) == (stage_arn, participant_id) for r in self._live.values()):
            self._spawn(self._source_changed(stage_arn, participant_id, publishing))

    async def _kicked(self, stage_arn: str, participant_id: str) -> None:
        """A replica thrown out of its destination (DisconnectParticipant, DeleteStage) ends its replication."""
        async with self._lock:
            for replica in list(self._live.values()):
                if replica.destination == stage_arn and participant_id in (replica.participant_id, EVERYONE):
                    await self._end(replica)

    async def _source_changed(self, stage_arn: str, participant_id: str, publishing: bool) -> None:
        async with self._lock:
            for replica in list(self._live.values()):
                if (replica.source, replica.participant_id) != (stage_arn, participant_id):
                    continue
                if publishing and not replica.attached:
                    if replica.expiry is not None:
                        replica.expiry.cancel()
                        replica.expiry = None
                    await self._attach(replica)
                elif not publishing and replica.attached:
                    await self._detach(replica)
                    await self._source_gone(replica)

    async def _attach(self, replica: LiveReplica) -> bool:
        """The replica publishes in the destination stage, fed by the source; False if the source is not publishing."""
        source, pid = replica.source, replica.participant_id
        info = self._runtime.participant_info(source, pid)
        codecs = self._engine.codecs(source, pid)
        if info is None or not info.entry.is_publishing or not codecs:
            return False
        host = await self._cluster.host_of(replica.destination)
        if host not in (None, self._cluster.node_id):
            return await self._attach_remote(replica, host, info, codecs)
        publication = await self._engine.publish_local(
            replica.destination, pid, codecs, lambda: self._engine.request_keyframe(source, pid)
        )
        detaches = [self._engine.tap(source, pid, kind, _Feed(publication, kind)) for kind in codecs]
        replica.publication, replica.detaches = publication, [d for d in detaches if d is not None]
        replica.source_session_id = info.session_id
        try:
            await self._runtime.publish_started(
                _claims(replica, info.entry.user_id, info.entry.attributes), ClientInfo(replica=True)
            )
        except (StageAtCapacity, JoinRefused) as error:
            log.info("replica of %s cannot join %s: %s", pid, replica.destination, error)
            await self._detach(replica, stopped=False)
            await self._end(replica)
            return True
        destination = self._runtime.participant_info(replica.destination, pid)
        await self._activated(replica, destination.session_id if destination is not None else "")
        return True

    async def _attach_remote(
        self, replica: LiveReplica, host: str, info: ParticipantInfo, codecs: Mapping[str, str]
    ) -> bool:
        """The replica publishes in the destination stage on node ``host``, fed over a WebSocket (remote.py)."""
        source, pid = replica.source, replica.participant_id
        link, secret = secrets.token_urlsafe(16), secrets.token_urlsafe(24)
        args = {
            "link": link,
            "secret": secret,
            "destination": replica.destination,
            "participant_id": pid,
            "codecs": dict(codecs),
            "user_id": info.entry.user_id,
            "attributes": {**info.entry.attributes, **replica.attributes},
        }
        try:
            destination_session = await self._cluster.call_host(replica.destination, "replication.replica.open", args)
            node = await self._cluster.node(host)
            if node is None:
                raise CommandFailed(f"node {host} is gone")
            feed = await RemoteFeed.connect(
                node.url,
                link,
                secret,
                lambda: self._engine.request_keyframe(source, pid),
                lambda: self._spawn(self._lost(replica, link)),
            )
        except (CommandFailed, OSError, TimeoutError, InvalidHandshake, InvalidURI) as error:
            log.info("replica of %s cannot join %s on node %s: %s", pid, replica.destination, host, error)
            with contextlib.suppress(CommandFailed):
                await self._cluster.call_host(replica.destination, "replication.replica.close", {"link": link})
            await self._end(replica)
            return True
        replica.remote, replica.link = feed, link
        detaches = [self._engine.tap(source, pid, kind, feed.sink(kind)) for kind in codecs]
        replica.detaches = [d for d in detaches if d is not None]
        replica.source_session_id = info.session_id
        await self._activated(replica, str(destination_session or ""))
        return True

    async def _lost(self, replica: LiveReplica, link: str) -> None:
        """The destination's node closed the replica's socket (kicked, stage deleted, node stopping): it ends."""
        async with self._lock:
            if replica.link == link and self._live.get(replica.pk) is replica:
                await self._end(replica)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _activated(self, replica: LiveReplica, destination_session: str) -> None:
        """The replica publishes in its destination: both ends' fields, and REPLICATION_STARTED the first time."""
        await self._mark(replica, destination_session, "ACTIVE")
        if not replica.started:
            replica.started = True
            details = {"destinationStageArn": replica.destination, "destinationSessionId": destination_session}
            await self._records.record(
                replica.source, replica.source_session_id, replica.participant_id, [("REPLICATION_STARTED", details)]
            )

    async def _detach(self, replica: LiveReplica, stopped: bool = True) -> None:
        """The replica stops publishing in the destination stage (and leaves it, as a participant without media)."""
        for detach in replica.detaches:
            detach()
        replica.detaches = []
        if replica.remote is not None:
            remote, link = replica.remote, replica.link
            replica.remote, replica.link = None, ""
            await remote.close()
            with contextlib.suppress(CommandFailed):  # a node that does not answer has dropped the replica anyway
                await self._cluster.call_host(replica.destination, "replication.replica.close", {"link": link})
        if replica.publication is not None:
            await replica.publication.close("replication paused")
            replica.publication = None
            if stopped:
                await self._runtime.publish_stopped(replica.destination, replica.participant_id)

    async def _source_gone(self, replica: LiveReplica) -> None:
        """The source stopped publishing: the replication ends, after its reconnect window if it has one."""
        if replica.window <= 0:
            await self._end(replica)
        elif replica.expiry is None:
            replica.expiry = asyncio.create_task(self._expire(replica))

    async def _expire(self, replica: LiveReplica) -> None:
        await asyncio.sleep(replica.window)
        async with self._lock:
            if replica.expiry is asyncio.current_task() and not replica.attached:
                replica.expiry = None
                await self._end(replica)

    async def _end(self, replica: LiveReplica) -> None:
        """REPLICATION_STOPPED on the source participant; the replication is listed as STOPPED from now on."""
        if replica.expiry is not None and replica.expiry is not asyncio.current_task():
            replica.expiry.cancel()
        replica.expiry = None
        await self._detach(replica)
        self._live.pop(replica.pk, None)
        destination_session = await self._set_state(replica.pk, "STOPPED")
        await self._mark(replica, destination_session, "STOPPED")
        if replica.started:
            details = {"destinationStageArn": replica.destination, "destinationSessionId": destination_session}
            await self._records.record(
                replica.source, replica.source_session_id, replica.participant_id, [("REPLICATION_STOPPED", details)]
            )

    async def _set_state(self, pk: int, state: str) -> str:
        """Sets the row's state; returns its destination session id."""
        async with self._db.write() as session:
            row = await session.get(ParticipantReplication, pk)
            if row is None:
                return ""
            row.replication_state = state
            return row.destination_session_id

    async def _mark(self, replica: LiveReplica, destination_session: str, state: str) -> None:
        """The participant fields of both ends (docs 3.2), and the replica's destination session."""
        async with self._db.write() as session:
            row = await session.get(ParticipantReplication, replica.pk)
            if row is not None and destination_session:
                row.destination_session_id = destination_session
            source_fields = {"replicationType": "SOURCE", "replicationState": state}
            await _merge_details(session, replica.source_session_id, replica.participant_id, source_fields)
            replica_fields: dict[str, Any] = {
                "replicationType": "REPLICA",
                "replicationState": state,
                "sourceStageArn": replica.source,
                "sourceSessionId": replica.source_session_id,
            }
            await _merge_details(session, destination_session, replica.participant_id, replica_fields)


async def _merge_details(session: Any, session_id: str, participant_id: str, fields: dict[str, Any]) -> None:
    if not session_id:
        return
    row = await session.scalar(
        select(Participant).where(Participant.session_id == session_id, Participant.participant_id == participant_id)
    )
    if row is not None:
        row.details = {**row.details, **fields}


def _claims(replica: LiveReplica, user_id: str, attributes: dict[str, str]) -> ParticipantClaims:
    """The replica's identity in the destination: the source's, with the replication's attributes merged over."""
    return replica_claims(replica.destination, replica.participant_id, user_id, {**attributes, **replica.attributes})
