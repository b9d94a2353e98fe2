"""Automatic individual participant recording (docs 6): every publisher of a stage that asks for it.

The stage runtime tells the manager when a participant starts or stops publishing. A start reads
the stage's autoParticipantRecordingConfiguration and, if it names a storage configuration,
records the participant: STARTING, then ACTIVE once ``events/recording-started.json`` is written
("Recording Start"). A stop ends the recording at once, or after
``recordingReconnectWindowSeconds``: a publisher back within the window continues the same
recording (same prefix, a discontinuity in the playlist, numbering continued). The end writes
``recording-ended.json`` and STOPPED ("Recording End", with the duration), or on a storage
failure ``recording-failed.json`` and FAILED ("Recording End Failure").

Work for one participant runs in order, off the runtime's call (the listener only queues it),
so a slow upload never holds up the stage.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openstage.recording import layout
from openstage.recording.hls import HlsWriter, ThumbnailSettings
from openstage.recording.recorder import ParticipantRecorder
from openstage.recording.records import RecordingRecords
from openstage.sfu.engine import MediaEngine
from openstage.stage import StageRuntime
from openstage.storage.base import JSON, Storage, StorageError
from openstage.store.models import utcnow

log = logging.getLogger("openstage.recording")


@dataclass(eq=False)
class Recording:
    """One participant's recording, from its start to its end: across reconnects it keeps its writer and prefix."""

    stage_arn: str
    session_id: str
    participant_id: str
    bucket: str
    prefix: str
    started_at: datetime
    reconnect_window: float
    writer: HlsWriter
    recorder: ParticipantRecorder | None = None  # None while the participant is away
    end_task: asyncio.Task[None] | None = None  # the reconnect window's timer while the participant is away
    media: dict[str, Any] = field(default_factory=dict)  # the JSON files' "media" section


def thumbnail_settings(config: dict[str, Any]) -> ThumbnailSettings | None:
    thumbnails = config.get("thumbnailConfiguration") or {}
    if thumbnails.get("recordingMode") != "INTERVAL":
        return None
    storage = thumbnails.get("storage") or ["SEQUENTIAL"]
    return ThumbnailSettings(
        interval_seconds=thumbnails.get("targetIntervalSeconds", 60),
        sequential="SEQUENTIAL" in storage,
        latest="LATEST" in storage,
    )


class RecordingManager:
    def __init__(self, records: RecordingRecords, storage: Storage, engine: MediaEngine, runtime: StageRuntime) -> None:
        self._records = records
        self._storage = storage
        self._engine = engine
        self._runtime = runtime
        self._recordings: dict[tuple[str, str], Recording] = {}
        # Per participant, the last queued piece of work: each waits for the one before (see _enqueue).
        self._queues: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        failed = await self._records.fail_abandoned()
        if failed:
            log.warning("%d participant recording(s) interrupted by an unclean shutdown are FAILED", failed)
        self._runtime.add_publish_listener(self._on_publish)

    async def stop(self) -> None:
        """Ends every recording now, reconnect windows or not; call after the peer connections closed."""
        for recording in self._recordings.values():
            if recording.end_task is not None:
                recording.end_task.cancel()
                recording.end_task = None
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for key, recording in list(self._recordings.items()):
            self._enqueue(key, self._end_if(recording, None))
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- the runtime's listener -------------------------------------------------------------------

    async def _on_publish(self, stage_arn: str, participant_id: str, publishing: bool) -> None:
        # The session is read now: by the time the work runs the participant may have left.
        info = self._runtime.participant_info(stage_arn, participant_id) if publishing else None
        session_id = info.session_id if info is not None else None
        key = (stage_arn, participant_id)
        self._enqueue(key, self._handle(stage_arn, participant_id, publishing, session_id))

    async def _handle(self, stage_arn: str, participant_id: str, publishing: bool, session_id: str | None) -> None:
        recording = self._recordings.get((stage_arn, participant_id))
        if publishing and session_id is not None:
            if recording is not None and recording.end_task is not None:
                await self._resume(recording, session_id)
            elif recording is None:
                await self._begin(stage_arn, participant_id, session_id)
        elif not publishing and recording is not None and recording.end_task is None:
            await self._source_gone(recording)

    # --- the steps --------------------------------------------------------------------------------

    async def _begin(self, stage_arn: str, participant_id: str, session_id: str) -> None:
        found = await self._records.configuration(stage_arn)
        if found is None:
            return
        config, bucket = found
        if not config.get("recordParticipantReplicas", True) and await self._records.is_replica(
            stage_arn, participant_id
        ):
            return
        started_at = utcnow()
        media_types = (config.get("mediaTypes") or ["AUDIO_VIDEO"])[0]
        # Tracks the participant does not publish are left out: an HLS track that never gets media stalls players.
        published = self._engine.codecs(stage_arn, participant_id) or {}
        thumbnails = thumbnail_settings(config)
        writer = HlsWriter(
            self._storage,
            bucket,
            layout.key_prefix(stage_arn, session_id, participant_id, started_at),
            segment_seconds=config.get("hlsConfiguration", {}).get("targetSegmentDurationSeconds", 6),
            video=media_types == "AUDIO_VIDEO" and "video" in published,
            audio=media_types in ("AUDIO_VIDEO", "AUDIO_ONLY") and "audio" in published,
            thumbnails=thumbnails,
            rendition=layout.RENDITION,
        )
        recording = Recording(
            stage_arn,
            session_id,
            participant_id,
            bucket,
            writer.prefix,
            started_at,
            float(config.get("recordingReconnectWindowSeconds", 0)),
            writer,
            media=layout.media_section(writer.writes_hls, thumbnails, None),
        )
        await self._set(recording, "STARTING")
        recorder = ParticipantRecorder(writer, self._engine, stage_arn, participant_id)
        if not recorder.start():
            await self._fail_start(recording, "the participant publishes no media this recording can use")
            return
        recording.recorder = recorder
        document = layout.recording_document(
            "RECORDING_STARTED", stage_arn, session_id, participant_id, recording.media, started_at
        )
        try:
            await self._write_json(recording, layout.STARTED, document)
        except StorageError as error:
            await recorder.stop()
            await self._fail_start(recording, str(error))
            return
        self._recordings[(stage_arn, participant_id)] = recording
        await self._set(recording, "ACTIVE", "Recording Start")

    async def _source_gone(self, recording: Recording) -> None:
        if recording.recorder is not None:
            await recording.recorder.stop()
            recording.recorder = None
        if recording.reconnect_window <= 0:
            await self._end(recording)
            return
        await recording.writer.pause()
        await self._set(recording, "STOPPING")
        recording.end_task = self._spawn(self._end_after_window(recording))

    async def _resume(self, recording: Recording, session_id: str) -> None:
        """Back within the window: the same writer, so the same prefix and continued numbering."""
        assert recording.end_task is not None
        recording.end_task.cancel()
        recording.end_task = None
        recorder = ParticipantRecorder(recording.writer, self._engine, recording.stage_arn, recording.participant_id)
        if recorder.start():
            recording.recorder = recorder
        if session_id != recording.session_id:
            # The stage session ended meanwhile: the old session's row is done with it, the new row
            # says where the participant is recorded.
            await self._set(recording, "STOPPED")
            recording.session_id = session_id
        await self._set(recording, "ACTIVE")

    async def _end_after_window(self, recording: Recording) -> None:
        await asyncio.sleep(recording.reconnect_window)
        self._enqueue(_key(recording), self._end_if(recording, asyncio.current_task()))

    async def _end_if(self, recording: Recording, timer: asyncio.Task[Any] | None) -> None:
        """Ends the recording unless it ended already or, for a window's timer, the participant came back."""
        if recording.end_task is timer and self._recordings.get(_key(recording)) is recording:
            await self._end(recording)

    async def _end(self, recording: Recording) -> None:
        self._recordings.pop(_key(recording), None)
        if recording.recorder is not None:
            await recording.recorder.stop()
        await self._set(recording, "STOPPING")
        summary = await recording.writer.finish()
        ended_at = utcnow()
        media = layout.media_section(recording.writer.writes_hls, recording.writer.thumbnails, summary.duration_ms)
        ok = summary.error is None
        document = layout.recording_document(
            "RECORDING_ENDED" if ok else "RECORDING_ENDED_WITH_FAILURE",
            recording.stage_arn,
            recording.session_id,
            recording.participant_id,
            media,
            recording.started_at,
            ended_at,
            summary.error or "",
        )
        try:
            await self._write_json(recording, layout.ENDED if ok else layout.FAILED, document)
        except StorageError as error:
            ok, summary.error = False, str(error)
        if ok:
            await self._set(recording, "STOPPED", "Recording End", summary.duration_ms)
        else:
            log.error("recording %s/%s ended with a failure: %s", recording.bucket, recording.prefix, summary.error)
            await self._set(recording, "FAILED", "Recording End Failure")

    async def _fail_start(self, recording: Recording, message: str) -> None:
        log.error("recording of %s could not start: %s", recording.participant_id, message)
        await recording.writer.finish()
        document = layout.recording_document(
            "RECORDING_START_FAILED",
            recording.stage_arn,
            recording.session_id,
            recording.participant_id,
            recording.media,
            None,
            message=message,
        )
        try:
            await self._write_json(recording, layout.FAILED, document)
        except StorageError:
            pass  # the bucket is what failed: the event and the state still say so
        await self._set(recording, "FAILED", "Recording Start Failure")

    async def _set(
        self, recording: Recording, state: str, event_name: str | None = None, duration_ms: int | None = None
    ) -> None:
        await self._records.set_state(
            recording.stage_arn,
            recording.session_id,
            recording.participant_id,
            state,
            recording.bucket,
            recording.prefix,
            event_name,
            duration_ms,
        )

    async def _write_json(self, recording: Recording, name: str, document: dict[str, Any]) -> None:
        body = json.dumps(document, indent=2).encode()
        key = f"{recording.prefix}/events/{name}"
        await asyncio.to_thread(self._storage.put, recording.bucket, key, body, JSON)

    def _enqueue(self, key: tuple[str, str], work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` after the participant's earlier work: its starts, stops and ends happen in order, while
        different participants' work runs side by side (a slow upload holds up only its own participant)."""
        previous = self._queues.get(key)
        task = self._spawn(_after(previous, work))
        self._queues[key] = task
        task.add_done_callback(lambda done: self._queues.pop(key) if self._queues.get(key) is done else None)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recording work failed", exc_info=task.exception())


async def _after(previous: asyncio.Task[None] | None, work: Coroutine[Any, Any, None]) -> None:
    if previous is not None:
        await asyncio.wait([previous])  # how it ended is its own business (logged by _finished)
    await work


def _key(recording: Recording) -> tuple[str, str]:
    return recording.stage_arn, recording.participant_id
