"""A participant's recordingState (docs 3.2) and the event announcing it, written in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from openstage.events.outbox import add_to_outbox
from openstage.events.records import participant_recording
from openstage.store.db import Database
from openstage.store.models import (
    Participant,
    ParticipantReplication,
    Stage,
    StageSession,
    StorageConfiguration,
    utcnow,
)

# States in which a recording is under way: UpdateStage refuses to change the configuration then.
IN_PROGRESS = ("STARTING", "ACTIVE", "STOPPING")


class RecordingRecords:
    def __init__(self, db: Database, on_event: Callable[[], None]) -> None:
        """``on_event`` is called after a change that put an event in the outbox commits."""
        self._db = db
        self._on_event = on_event

    async def configuration(self, stage_arn: str) -> tuple[dict[str, Any], str] | None:
        """The stage's autoParticipantRecordingConfiguration and its bucket, or None when recording is off."""
        async with self._db.read() as session:
            config = await session.scalar(select(Stage.auto_recording).where(Stage.arn == stage_arn))
            if not config or not config.get("storageConfigurationArn"):
                return None
            s3 = await session.scalar(
                select(StorageConfiguration.s3).where(StorageConfiguration.arn == config["storageConfigurationArn"])
            )
        return (config, s3["bucketName"]) if s3 else None

    async def is_replica(self, stage_arn: str, participant_id: str) -> bool:
        """Whether the participant is another stage's publisher replicated into this one (docs 7.2)."""
        async with self._db.read() as session:
            found = await session.scalar(
                select(ParticipantReplication.pk)
                .where(
                    ParticipantReplication.destination_stage_arn == stage_arn,
                    ParticipantReplication.participant_id == participant_id,
                    ParticipantReplication.replication_state == "ACTIVE",
                )
                .limit(1)
            )
        return found is not None

    async def set_state(
        self,
        stage_arn: str,
        session_id: str,
        participant_id: str,
        state: str,
        bucket: str,
        prefix: str,
        event_name: str | None = None,
        duration_ms: int | None = None,
        at: datetime | None = None,
    ) -> None:
        """Updates the participant's row (gone with a deleted stage: then only the event is written)."""
        at = at or utcnow()
        async with self._db.write() as session:
            row = await session.scalar(
                select(Participant).where(
                    Participant.session_id == session_id, Participant.participant_id == participant_id
                )
            )
            if row is not None:
                row.recording_state = state
                row.details = {**row.details, "recordingS3BucketName": bucket, "recordingS3Prefix": prefix}
            if event_name is not None:
                envelope = participant_recording(
                    event_name, stage_arn, session_id, participant_id, bucket, prefix, at, duration_ms
                )
                await add_to_outbox(session, envelope)
        if event_name is not None:
            self._on_event()

    async def fail_abandoned(self) -> int:
        """Recordings a crash interrupted cannot resume: they are FAILED. Returns how many.

        Run after the stage runtime closed the sessions nobody hosts any more: only their recordings are
        abandoned (in a cluster, the open sessions of other live nodes keep recording).
        """
        closed = select(StageSession.session_id).where(StageSession.end_time.is_not(None))
        async with self._db.write() as session:
            result = await session.execute(
                update(Participant)
                .where(Participant.recording_state.in_(IN_PROGRESS), Participant.session_id.in_(closed))
                .values(recording_state="FAILED")
            )
        return result.rowcount or 0
