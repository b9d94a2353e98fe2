"""This node's place in the cluster: its heartbeat, where stages live, and commands to the node hosting one.

A stage's live session is on one node, placed when its first participant arrives (strategy.py) and
kept while the node lives and the stage has a session. Every node, on each heartbeat, reaps the
placements of dead nodes: the stage's open sessions end with their participants LEFT, as a restart
ends them, and the next participant is placed on a live node. A node started without Redis is a
cluster of one on the in-process backend, through this same code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from openstage.cluster import strategy
from openstage.cluster.backend import Backend, ClusterUnavailable, NodeInfo
from openstage.cluster.commands import CommandBus, CommandFailed, CommandHandler
from openstage.cluster.sessions import connected_participants, live_stages
from openstage.cluster.wakeup import ClusterWakeup
from openstage.stage import StageRuntime
from openstage.stage.records import StageRecords
from openstage.store.db import Database

log = logging.getLogger("openstage.cluster")

# A stage placed here without an open session is given up this long after a participant was last sent
# here: far longer than a participant takes from being routed to joining (which opens the session).
IDLE_PLACEMENT_SECONDS = 10.0
PLACE_ATTEMPTS = 100
REAP_LEASE_SECONDS = 30.0


class Cluster:
    def __init__(
        self,
        backend: Backend,
        db: Database,
        node_id: str,
        url: str,
        heartbeat_seconds: float,
        node_ttl_seconds: float,
        rtmp_ports: tuple[int, int] = (0, 0),
    ) -> None:
        """``url`` is this node's public URL; a node silent for ``node_ttl_seconds`` is dead; ``rtmp_ports``
        are its RTMP and RTMPS ingest ports, where other nodes relay encoders of the stages it hosts."""
        self.backend = backend
        self.node_id = node_id
        self.url = url
        self.rtmp_ports = rtmp_ports
        self.node_ttl_seconds = node_ttl_seconds
        # The outbox wake-up for the whole node: commits here wake every node's sinks and live streams.
        self.wakeup = ClusterWakeup(backend, node_id)
        self._db = db
        self._records = StageRecords(db, self.wakeup.notify)
        self._heartbeat = heartbeat_seconds
        self._started_at = time.time()
        self._bus = CommandBus(backend, node_id)
        self._routed: dict[str, float] = {}  # stage -> when a participant was last sent here (monotonic)
        self._runtime: StageRuntime | None = None
        self._beating: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    def attach(self, runtime: StageRuntime) -> None:
        """Lets other nodes act on this node's stages. Separate from the constructor: the runtime is built with
        :meth:`abandoned`, so the cluster exists first."""
        self._runtime = runtime
        self.register("stage.disconnect", self._disconnect_here)
        self.register("stage.deleted", self._deleted_here)

    def register(self, name: str, handler: CommandHandler) -> None:
        """Makes command ``name`` runnable here by :meth:`call_host` from any node; register before :meth:`start`."""
        self._bus.register(name, handler)

    async def start(self) -> None:
        """Joins the cluster; placements naming this node are from a previous life and are given up first."""
        await self.backend.connect()
        for stage_arn, node_id in (await self.backend.placements()).items():
            if node_id == self.node_id:
                await self.backend.unplace(stage_arn, node_id)
        await self._bus.start()
        await self.wakeup.start()
        await self.backend.heartbeat(await self.info(), self.node_ttl_seconds)
        self._beating = asyncio.create_task(self._beat(), name="cluster-heartbeat")

    async def stop(self) -> None:
        """Leaves the cluster; call after the runtime stopped, so this node's sessions have ended."""
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.gather(self._beating, return_exceptions=True)
        try:
            for stage_arn in await self._placed_here():
                await self.backend.unplace(stage_arn, self.node_id)
            await self.backend.forget_node(self.node_id)
        except Exception as error:  # the others reap this node once its heartbeat expires
            log.warning("could not leave the cluster cleanly: %s", error)
        finally:
            await self.backend.close()

    async def info(self) -> NodeInfo:
        mine = await self._placed_here()
        cpus = os.cpu_count() or 1
        return NodeInfo(
            node_id=self.node_id,
            url=self.url,
            cpus=cpus,
            cpu_load=round(os.getloadavg()[0] / cpus, 3),
            participants=await connected_participants(self._db, mine),
            stages=len(mine),
            started_at=self._started_at,
            rtmp_port=self.rtmp_ports[0],
            rtmps_port=self.rtmp_ports[1],
        )

    # --- placement ------------------------------------------------------------------------------

    async def place(self, stage_arn: str) -> NodeInfo:
        """The live node hosting ``stage_arn``, placing it now if it has none (its first participant arrives)."""
        for _ in range(PLACE_ATTEMPTS):
            nodes = await self.backend.nodes()
            current = await self.backend.placement(stage_arn)
            if current is not None and current in nodes:
                return self._routed_to(stage_arn, nodes[current])
            if current is not None:
                if not await self._reap(stage_arn, current):
                    await asyncio.sleep(0.05)  # another node is reaping it
                continue
            nodes.setdefault(self.node_id, await self.info())  # this node lives, whatever Redis last heard
            chosen = strategy.choose(nodes, await self.backend.placements())
            if await self.backend.claim(stage_arn, chosen.node_id):
                log.info("stage %s placed on node %s", stage_arn, chosen.node_id)
                return self._routed_to(stage_arn, chosen)
        raise ClusterUnavailable(f"no node could be agreed on for stage {stage_arn}")

    async def place_on(self, stage_arn: str, node_id: str) -> str:
        """The live node hosting ``stage_arn``, placing it on ``node_id`` if none does: what must run next to a
        stage (an encoder arriving here, a replica of another stage's participant) places it there."""
        for _ in range(PLACE_ATTEMPTS):
            host = await self.host_of(stage_arn)
            if host is not None:
                return host
            current = await self.backend.placement(stage_arn)
            if current is not None:  # a dead node's
                if not await self._reap(stage_arn, current):
                    await asyncio.sleep(0.05)
                continue
            if await self.backend.claim(stage_arn, node_id):
                log.info("stage %s placed on node %s", stage_arn, node_id)
                if node_id == self.node_id:
                    self._routed[stage_arn] = time.monotonic()
                return node_id
        raise ClusterUnavailable(f"no node could be agreed on for stage {stage_arn}")

    async def node(self, node_id: str) -> NodeInfo | None:
        """The live node ``node_id`` as its last heartbeat described it."""
        return (await self.backend.nodes()).get(node_id)

    async def host_of(self, stage_arn: str) -> str | None:
        """The live node hosting ``stage_arn`` without placing it; None if no live node does."""
        current = await self.backend.placement(stage_arn)
        if current is None or current == self.node_id:
            return current
        return current if current in await self.backend.nodes() else None

    async def abandoned(self, stage_arns: set[str]) -> set[str]:
        """Of stages with open sessions, those this node may close: placed here or nowhere. A dead node's are
        left to the reaper, so two nodes never close the same session."""
        placements = await self.backend.placements()
        return {arn for arn in stage_arns if placements.get(arn, self.node_id) == self.node_id}

    def _routed_to(self, stage_arn: str, node: NodeInfo) -> NodeInfo:
        if node.node_id == self.node_id:
            self._routed[stage_arn] = time.monotonic()
        return node

    async def _placed_here(self) -> list[str]:
        return [arn for arn, node_id in (await self.backend.placements()).items() if node_id == self.node_id]

    # --- commands to the hosting node -----------------------------------------------------------------

    async def call_host(self, stage_arn: str, name: str, args: dict[str, Any]) -> Any:
        """Runs command ``name`` on the node hosting ``stage_arn``, or here if no live node hosts it; returns what
        the command's handler returned.

        Raises :class:`CommandFailed` if the hosting node fails at it or does not answer.
        """
        return await self._bus.call(await self.host_of(stage_arn) or self.node_id, name, args)

    async def disconnect_participant(self, stage_arn: str, participant_id: str, reason: str, refuse: bool) -> None:
        """DisconnectParticipant wherever the participant is connected (see ``StageRuntime.disconnect_participant``).

        If the hosting node does not answer, the refusal is still recorded here: the participant cannot rejoin.
        """
        args = {"stage_arn": stage_arn, "participant_id": participant_id, "reason": reason, "refuse": refuse}
        try:
            await self.call_host(stage_arn, "stage.disconnect", args)
        except CommandFailed as failure:
            log.warning("%s; disconnecting %s from this node instead", failure, participant_id)
            await self._disconnect_here(args)

    @asynccontextmanager
    async def deleting_stage(self, stage_arn: str) -> AsyncIterator[None]:
        """DeleteStage: holds the stage while the caller deletes it if it lives here, as ``StageRuntime`` does;
        a stage on another node is told afterwards, and disconnects everyone with STAGE_DELETED there."""
        host = await self.host_of(stage_arn)
        if host is None or host == self.node_id:
            async with self._require_runtime().deleting_stage(stage_arn):
                yield
            return
        yield
        try:
            await self._bus.call(host, "stage.deleted", {"stage_arn": stage_arn})
        except CommandFailed as failure:  # its participants are refused on their next request anyway
            log.warning("stage %s deleted, but its node was not told: %s", stage_arn, failure)

    async def _disconnect_here(self, args: dict[str, Any]) -> None:
        await self._require_runtime().disconnect_participant(
            args["stage_arn"], args["participant_id"], args["reason"], bool(args["refuse"])
        )

    async def _deleted_here(self, args: dict[str, Any]) -> None:
        async with self._require_runtime().deleting_stage(args["stage_arn"]):
            pass  # the stage is gone from the database already: this only disconnects its participants

    def _require_runtime(self) -> StageRuntime:
        if self._runtime is None:
            raise RuntimeError("Cluster.attach(runtime) was not called")
        return self._runtime

    # --- heartbeat, reaping -----------------------------------------------------------------------------

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self.backend.heartbeat(await self.info(), self.node_ttl_seconds)
                await self._reap_dead()
                await self._reclaim_lost()
                await self._give_up_idle()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster heartbeat failed; retrying")

    async def _reap_dead(self) -> None:
        nodes = await self.backend.nodes()
        for stage_arn, node_id in (await self.backend.placements()).items():
            if node_id not in nodes and node_id != self.node_id:
                await self._reap(stage_arn, node_id)

    async def _reap(self, stage_arn: str, dead: str) -> bool:
        """Ends a dead node's session of the stage and frees the stage; False if another node is doing it."""
        lease = f"reap:{stage_arn}"
        if not await self.backend.acquire(lease, self.node_id, REAP_LEASE_SECONDS):
            return False
        try:
            if await self.backend.placement(stage_arn) == dead:

                async def only_this(arns: set[str]) -> set[str]:
                    return arns & {stage_arn}

                closed = await self._records.close_abandoned_sessions(only_this)
                await self.backend.unplace(stage_arn, dead)
                log.warning("node %s is dead: ended %d session(s) of stage %s", dead, closed, stage_arn)
        finally:
            await self.backend.release(lease, self.node_id)
        return True

    async def _reclaim_lost(self) -> None:
        """Places again the stages live here whose placement vanished (Redis restarted empty), before a participant
        arriving elsewhere opens a second session of the stage on another node."""
        placements = await self.backend.placements()
        lost = [arn for arn in self._routed if arn not in placements]
        for stage_arn in await live_stages(self._db, lost):
            if await self.backend.claim(stage_arn, self.node_id):
                log.warning("stage %s placed on this node again: its placement was lost", stage_arn)

    async def _give_up_idle(self) -> None:
        """Frees stages placed here whose session ended, so the next session goes to the least loaded node."""
        now = time.monotonic()
        mine = await self._placed_here()
        # A stage another node placed here counts from when this node first saw it: its participant is on the way.
        self._routed = {arn: self._routed.get(arn, now) for arn in mine}
        idle = [arn for arn in mine if now - self._routed[arn] > IDLE_PLACEMENT_SECONDS]
        live = await live_stages(self._db, idle)
        for stage_arn in idle:
            if stage_arn not in live:
                await self.backend.unplace(stage_arn, self.node_id)
                self._routed.pop(stage_arn, None)
