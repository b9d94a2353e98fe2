"""Runs the compositions the control plane asks for, and ends them (docs 5.2).

The handlers only write rows (and wake it, see below); the supervisor
reconciles: a STARTING row gets a pipeline, a STOPPING row has its pipeline stopped and is
then STOPPED, and a running pipeline is asked to stop after ``composition_idle_seconds``
without publishers or ``composition_max_seconds`` in all. Besides being woken it looks every
second. Compositions that ended more than ``composition_retention_seconds`` ago are deleted.
In a cluster, a composition runs on the node hosting its stage (the first supervisor to look
places the stage if nobody has joined yet, and keeps it placed while the composition runs),
since that is where its publishers' media arrives; every node's supervisor reads every row but
opens and stops only its own stages' pipelines. The handlers wake the hosting node's supervisor
through the cluster (command ``composition.wake``).

What the pipelines' threads report is written in order per composition (one chain of
transactions each), so a Destination Reconnecting never precedes the Session Start.
A composition whose every destination failed fails as a whole; one destination failing
leaves the other running, as in IVS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from openstage.composition.pipeline import Pipeline
from openstage.composition.records import CompositionRecords
from openstage.config import Settings
from openstage.events.outbox import Wakeup, wait
from openstage.sfu.engine import MediaEngine
from openstage.stage import StageRuntime
from openstage.storage.base import Storage
from openstage.store.db import Database

log = logging.getLogger("openstage.composition")

POLL_SECONDS = 1.0


class Node(Protocol):
    """Who hosts which stage (openstage.cluster): a composition runs where its stage's media is."""

    node_id: str

    async def host_of(self, stage_arn: str) -> str | None:
        """The node hosting the stage, None if none does."""
        ...

    async def place(self, stage_arn: str) -> Any:
        """The node that hosts the stage (with a ``node_id``), placing it now if none does."""
        ...

    def register(self, name: str, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        """Makes command ``name`` runnable here for the node that received the API request."""
        ...


class CompositionSupervisor:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        storage: Storage,
        runtime: StageRuntime,
        engine: MediaEngine,
        node: Node,
        requests: Wakeup,
        on_event: Callable[[], None],
    ) -> None:
        """``requests`` wakes the supervisor when a composition is started or asked to stop;
        ``on_event`` is called after a change put events in the outbox."""
        self.settings, self.db, self.storage, self.runtime, self.engine = settings, db, storage, runtime, engine
        self.node = node
        self.requests = requests
        self.records = CompositionRecords(db, on_event)
        self.pipelines: dict[str, Pipeline] = {}
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()
        self._failed_destinations: dict[str, set[str]] = {}
        self._active: set[str] = set()  # compositions whose Session Start is recorded (or queued)
        # destination changes waiting for the Session Start: (destination id, change)
        self._held: dict[str, list[tuple[str, Callable[[], Awaitable[None]]]]] = {}
        self._task: asyncio.Task[None] | None = None
        node.register("composition.wake", self._woken)

    async def _woken(self, _args: dict[str, Any]) -> None:
        self.requests.notify()

    async def start(self) -> None:
        """Fails what a previous process left running (its pipeline died with it), then starts reconciling."""
        for row in await self.records.running():
            if await self.node.host_of(row.stage_arn) in (None, self.node.node_id):
                await self.records.finish(row.arn, failed=True, reason="the server stopped while the composition ran")
        self.runtime.add_publish_listener(self._on_publish)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Ends every running composition (STOPPED) before the media plane goes away."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for arn in list(self.pipelines):
            await self.records.request_stop(arn, "the server shut down")
            self._stop(arn)
        await asyncio.gather(*self._chains.values(), return_exceptions=True)

    # --- what the pipelines report (on the loop) -----------------------------------------------------

    def started(self, arn: str) -> None:
        held = self._held.pop(arn, [])
        troubled = {destination_id for destination_id, _ in held}  # they start when their output recovers
        self._then(arn, lambda: self.records.activate(arn, troubled))
        self._active.add(arn)
        for _, change in held:
            self._then(arn, change)

    def destination(self, arn: str, destination_id: str, state: str, reason: str) -> None:
        async def change() -> None:
            await self.records.destination(arn, destination_id, state, reason)

        if arn in self._active:
            self._then(arn, change)
        else:  # an output that fails while the first picture is being made: after the Session Start
            self._held.setdefault(arn, []).append((destination_id, change))
        if state == "FAILED":
            failed = self._failed_destinations.setdefault(arn, set())
            failed.add(destination_id)
            pipeline = self.pipelines.get(arn)
            if pipeline is not None and len(failed) >= len(pipeline.row.destinations):
                self.failed(arn, f"every destination failed; the last: {reason}")

    def failed(self, arn: str, reason: str) -> None:
        self._stop(arn, failure=reason)

    # --- reconciling ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        flag = self.requests.listen()
        try:
            while True:
                flag.clear()
                try:
                    await self._reconcile()
                except Exception:
                    log.exception("composition supervisor pass failed")
                await wait(flag, POLL_SECONDS)
        finally:
            self.requests.forget(flag)

    async def _reconcile(self) -> None:
        now = time.monotonic()
        for row in await self.records.running():
            pipeline = self.pipelines.get(row.arn)
            if row.state == "STOPPING":
                if pipeline is not None:
                    self._stop(row.arn)
                elif row.arn not in self._stopping and await self.node.host_of(row.stage_arn) in (
                    None,
                    self.node.node_id,
                ):
                    await self.records.finish(row.arn)  # it never ran, or ran on a node that is gone
            elif pipeline is None:
                if row.state == "STARTING" and row.arn not in self._stopping and await self._hosted_here(row.stage_arn):
                    await self._open(row.arn)
            else:
                await self._check_limits(row.arn, row.stage_arn, pipeline, now)
        await self.records.purge(self.settings.composition_retention_seconds)

    async def _check_limits(self, arn: str, stage_arn: str, pipeline: Pipeline, now: float) -> None:
        """Stops a running composition idle or too long. Otherwise tells the cluster the stage is in use here, so a
        stage nobody has joined stays placed here and its first participant comes to the composition."""
        idle_limit = self.settings.composition_idle_seconds
        if pipeline.idle_since is not None and now - pipeline.idle_since >= idle_limit:
            await self.records.request_stop(arn, f"no participant published for {idle_limit:g} seconds")
            self._stop(arn)
        elif now - pipeline.started_at >= self.settings.composition_max_seconds:
            await self.records.request_stop(arn, "the composition reached its maximum duration")
            self._stop(arn)
        else:
            await self.node.place(stage_arn)

    async def _hosted_here(self, stage_arn: str) -> bool:
        """Whether the stage's media is on this node (placing the stage here if it is nowhere yet)."""
        return bool((await self.node.place(stage_arn)).node_id == self.node.node_id)

    async def _open(self, arn: str) -> None:
        rows = [row for row in await self.records.running() if row.arn == arn]
        if not rows:
            return
        pipeline = Pipeline(rows[0], self.settings, self.storage, self.engine, self.runtime, self)
        self.pipelines[arn] = pipeline
        try:
            await pipeline.open(self.db)
        except Exception as error:
            log.exception("composition %s could not start", arn)
            self._stop(arn, failure=f"the composition could not start: {error}")

    def _stop(self, arn: str, failure: str | None = None) -> None:
        """Stops the pipeline once, then records the end: STOPPED, or FAILED with ``failure``."""
        if arn in self._stopping:
            return
        self._stopping.add(arn)
        pipeline = self.pipelines.get(arn)

        async def end() -> None:
            failures = await pipeline.close() if pipeline is not None else {}
            for _, change in self._held.pop(arn, []):  # it never started: its destinations' troubles, in order
                await change()
            for destination_id, reason in failures.items():
                if reason and destination_id not in self._failed_destinations.get(arn, set()):
                    await self.records.destination(arn, destination_id, "FAILED", reason)
            await self.records.finish(arn, failed=failure is not None, reason=failure or "")
            self.pipelines.pop(arn, None)
            self._failed_destinations.pop(arn, None)
            self._active.discard(arn)
            self._held.pop(arn, None)
            self._stopping.discard(arn)

        self._then(arn, end)

    def _then(self, arn: str, work: Callable[[], Awaitable[None]]) -> None:
        """Runs ``work`` after everything queued for the same composition."""
        previous = self._chains.get(arn)

        async def chained() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await work()
            except Exception:
                log.exception("composition %s: recording a change failed", arn)

        task = asyncio.create_task(chained())
        self._chains[arn] = task
        task.add_done_callback(lambda done: self._chains.pop(arn, None) if self._chains.get(arn) is done else None)

    async def _on_publish(self, stage_arn: str, participant_id: str, publishing: bool) -> None:
        for pipeline in list(self.pipelines.values()):
            if pipeline.row.stage_arn != stage_arn or pipeline.row.arn in self._stopping:
                continue
            if publishing:
                pipeline.add(participant_id)
            else:
                pipeline.remove(participant_id)
