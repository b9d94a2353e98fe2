"""One running composition on this node: its outputs, its compositor, and the publishers it reads.

The pipeline taps each publisher's forwarded media in the SFU (no extra WebRTC hop), keeps the
compositor's roster current (arrival order, attributes, stopped video: polled from the stage
runtime, so a token exchange re-lays the picture out), and reports what its threads see back
on the event loop through ``events``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from openstage.composition import channels
from openstage.composition.compositor import Compositor, Input, Output
from openstage.composition.encoder import DEFAULT_VIDEO, VideoSettings
from openstage.composition.layout import Member
from openstage.composition.rtmp import RtmpOutput
from openstage.composition.s3 import S3Output, thumbnail_settings
from openstage.config import Settings
from openstage.sfu.engine import MediaEngine
from openstage.stage import StageRuntime
from openstage.storage.base import Storage
from openstage.store.db import Database
from openstage.store.models import Composition, EncoderConfiguration, Participant, StageSession, StorageConfiguration

log = logging.getLogger("openstage.composition")

ROSTER_SECONDS = 0.25  # how often attributes and stopped video are re-read for the layout


class PipelineEvents(Protocol):
    """What a pipeline reports; each call happens on the event loop."""

    def started(self, arn: str) -> None: ...

    def destination(self, arn: str, destination_id: str, state: str, reason: str) -> None: ...

    def failed(self, arn: str, reason: str) -> None: ...


@dataclass(eq=False)
class Pipeline:
    row: Composition
    settings: Settings
    storage: Storage
    engine: MediaEngine
    runtime: StageRuntime
    events: PipelineEvents
    compositor: Compositor | None = None
    outputs: list[Output] = field(default_factory=list)
    # publisher id -> detach functions of its taps; dict order is arrival order
    publishers: dict[str, list[Callable[[], None]]] = field(default_factory=dict)
    idle_since: float | None = field(default_factory=time.monotonic)
    started_at: float = field(default_factory=time.monotonic)
    _roster: asyncio.Task[None] | None = None

    async def open(self, db: Database) -> None:
        """Builds the outputs and starts composing from whoever publishes now; destinations that cannot
        start are FAILED at once (raises ValueError if none can)."""
        loop = asyncio.get_running_loop()
        arn = self.row.arn

        def on_state(destination_id: str, state: str, reason: str) -> None:
            loop.call_soon_threadsafe(self.events.destination, arn, destination_id, state, reason)

        branches: dict[VideoSettings, list[Output]] = {}
        async with db.read() as session:
            for destination in self.row.destinations:
                output, video, failure = await self._output(session, destination, on_state)
                if output is None:
                    self.events.destination(arn, destination["id"], "FAILED", failure)
                    continue
                branches.setdefault(video, []).append(output)
                self.outputs.append(output)
        if not branches:
            raise ValueError("no destination could start")
        self.compositor = Compositor(
            self.row.layout,
            list(branches.items()),
            on_started=lambda: loop.call_soon_threadsafe(self.events.started, arn),
            on_error=lambda reason: loop.call_soon_threadsafe(self.events.failed, arn, reason),
        )
        self.compositor.start()
        async with db.read() as session:  # after the compositor exists: a publisher starting meanwhile is added
            publishers = await _publishers(session, self.row.stage_arn)
        for participant_id in publishers:
            if participant_id not in self.publishers and self.runtime.is_publishing(self.row.stage_arn, participant_id):
                self.add(participant_id)
        self._roster = asyncio.create_task(self._keep_roster())

    def add(self, participant_id: str) -> None:
        """Starts reading a publisher; its tile appears with its first picture."""
        if self.compositor is None:
            return  # still opening: open() asks who publishes once its compositor runs
        self.remove(participant_id)
        codecs = self.engine.codecs(self.row.stage_arn, participant_id)
        if not codecs:
            return
        source = Input(participant_id, {kind: mime for kind, mime in codecs.items() if kind in ("audio", "video")})
        detach = [self.engine.tap(self.row.stage_arn, participant_id, kind, source.sink(kind)) for kind in codecs]
        self.publishers[participant_id] = [d for d in detach if d is not None]
        self.compositor.add_input(source)
        self.idle_since = None
        self._update_roster()

    def remove(self, participant_id: str) -> None:
        detach = self.publishers.pop(participant_id, None)
        if detach is None:
            return
        for function in detach:
            function()
        if self.compositor is not None:
            self.compositor.remove_input(participant_id)
        if not self.publishers:
            self.idle_since = time.monotonic()
        self._update_roster()

    async def close(self) -> dict[str, str | None]:
        """Stops composing and finishes every output; returns each destination's failure (None if fine)."""
        if self._roster is not None:
            self._roster.cancel()
        if self.compositor is not None:  # first: the last pictures still show everyone
            await asyncio.to_thread(self.compositor.stop)
        for participant_id in list(self.publishers):
            self.remove(participant_id)
        failures = {output.destination_id: await output.finish() for output in self.outputs}
        if self.compositor is not None:
            self.compositor.release()
        return failures

    async def _output(
        self, session: Any, destination: dict[str, Any], on_state: Callable[[str, str, str], None]
    ) -> tuple[Output | None, VideoSettings, str]:
        configuration = destination["configuration"]
        destination_id = destination["id"]
        if "channel" in configuration:
            channel = configuration["channel"]
            video = await _video(session, channel.get("encoderConfigurationArn"))
            url = channels.ingest_url(self.settings.data_dir, channel["channelArn"])
            if url is None:
                return None, video, f"channel {channel['channelArn']} is no longer in the channel registry"
            return RtmpOutput(destination_id, url, self.settings.composition_reconnect_seconds, on_state), video, ""
        s3 = configuration["s3"]
        video = await _video(session, s3["encoderConfigurationArns"][0])
        bucket = await session.scalar(
            select(StorageConfiguration.s3).where(StorageConfiguration.arn == s3["storageConfigurationArn"])
        )
        if bucket is None:
            return None, video, f"storage configuration {s3['storageConfigurationArn']} no longer exists"
        output = S3Output(
            destination_id,
            self.storage,
            bucket["bucketName"],
            destination["detail"]["s3"]["recordingPrefix"],
            self.row.stage_arn,
            video,
            s3["recordingConfiguration"]["hlsConfiguration"]["targetSegmentDurationSeconds"],
            thumbnail_settings(s3.get("thumbnailConfigurations")),
        )
        return output, video, ""

    async def _keep_roster(self) -> None:
        while True:
            self._update_roster()
            await asyncio.sleep(ROSTER_SECONDS)

    def _update_roster(self) -> None:
        if self.compositor is None:
            return
        members = []
        for participant_id in self.publishers:
            info = self.runtime.participant_info(self.row.stage_arn, participant_id)
            attributes = dict(info.entry.attributes) if info is not None else {}
            stopped = info.entry.video_stopped if info is not None else False
            members.append(Member(participant_id, attributes, None, stopped))
        self.compositor.set_members(members)


async def _video(session: Any, encoder_arn: str | None) -> VideoSettings:
    """The encoder configuration's video, or IVS's defaults for a channel without one (docs 5.1)."""
    video = None
    if encoder_arn:
        video = await session.scalar(select(EncoderConfiguration.video).where(EncoderConfiguration.arn == encoder_arn))
    return VideoSettings.from_api(video) if video else DEFAULT_VIDEO


async def _publishers(session: Any, stage_arn: str) -> list[str]:
    """Who has published in the stage's open session, in arrival order (the runtime says who still does)."""
    rows = await session.scalars(
        select(Participant.participant_id)
        .join(StageSession, StageSession.session_id == Participant.session_id)
        .where(StageSession.stage_arn == stage_arn, StageSession.end_time.is_(None), Participant.published.is_(True))
        .order_by(Participant.first_join_time, Participant.pk)
    )
    return list(rows)
