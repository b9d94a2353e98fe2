"""RecordingRecords on a real database: state, bucket and prefix on the participant, the event in the same commit."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from openstage import ids
from openstage.control.handlers.stages import DEFAULT_RECORDING
from openstage.recording.records import RecordingRecords
from openstage.store.db import Database
from openstage.store.models import (
    OutboxEvent,
    Participant,
    ParticipantReplication,
    Stage,
    StageSession,
    StorageConfiguration,
    utcnow,
)
from tests.server import ACCOUNT, REGION


def scenario_db(database_url: str, work) -> None:
    async def main() -> None:
        db = Database(database_url)
        await db.migrate()
        try:
            await work(db)
        finally:
            await db.close()

    asyncio.run(main())


async def seed_stage(db: Database, recording: bool) -> tuple[str, str, str]:
    stage_arn = ids.arn(REGION, ACCOUNT, "stage", ids.random_id())
    storage_arn = ids.arn(REGION, ACCOUNT, "storage-configuration", ids.random_id())
    session_id, participant_id = ids.session_id(), ids.random_id()
    config = {**DEFAULT_RECORDING, "storageConfigurationArn": storage_arn if recording else ""}
    async with db.write() as session:
        session.add(StorageConfiguration(arn=storage_arn, s3={"bucketName": "recordings"}))
        session.add(Stage(arn=stage_arn, auto_recording=config))
        await session.flush()
        session.add(StageSession(session_id=session_id, stage_arn=stage_arn))
        await session.flush()
        session.add(Participant(stage_arn=stage_arn, session_id=session_id, participant_id=participant_id))
    return stage_arn, session_id, participant_id


def test_configuration_names_the_bucket_only_when_recording_is_on(database_url):
    async def work(db: Database) -> None:
        records = RecordingRecords(db, lambda: None)
        on, _, _ = await seed_stage(db, recording=True)
        off, _, _ = await seed_stage(db, recording=False)
        found = await records.configuration(on)
        assert found is not None and found[1] == "recordings" and found[0]["mediaTypes"] == ["AUDIO_VIDEO"]
        assert await records.configuration(off) is None

    scenario_db(database_url, work)


def test_a_state_change_and_its_event_commit_together(database_url):
    async def work(db: Database) -> None:
        notified: list[bool] = []
        records = RecordingRecords(db, lambda: notified.append(True))
        stage_arn, session_id, participant_id = await seed_stage(db, recording=True)
        await records.set_state(stage_arn, session_id, participant_id, "STARTING", "recordings", "a/b/c/d")
        assert notified == []  # no event, no wake-up
        await records.set_state(
            stage_arn, session_id, participant_id, "STOPPED", "recordings", "a/b/c/d", "Recording End", 12345
        )
        assert notified == [True]
        async with db.read() as session:
            row = await session.scalar(select(Participant).where(Participant.participant_id == participant_id))
            events = list(await session.scalars(select(OutboxEvent).where(OutboxEvent.stage_arn == stage_arn)))
        assert row is not None and row.recording_state == "STOPPED"
        assert row.details == {"recordingS3BucketName": "recordings", "recordingS3Prefix": "a/b/c/d"}
        assert [event.detail_type for event in events] == ["IVS Participant Recording State Change"]
        assert events[0].envelope["detail"] == {
            "session_id": session_id,
            "event_name": "Recording End",
            "participant_id": participant_id,
            "recording_s3_bucket_name": "recordings",
            "recording_s3_key_prefix": "a/b/c/d",
            "recording_duration_ms": 12345,
        }

    scenario_db(database_url, work)


def test_recordings_a_crash_interrupted_are_failed_at_start(database_url):
    """The runtime's start closed the sessions nobody hosts: their recordings failed; others go on."""

    async def work(db: Database) -> None:
        records = RecordingRecords(db, lambda: None)
        stage_arn, session_id, participant_id = await seed_stage(db, recording=True)
        await records.set_state(stage_arn, session_id, participant_id, "ACTIVE", "recordings", "p")
        assert await records.fail_abandoned() == 0  # its session is open: another node may be recording it
        async with db.write() as session:
            (
                await session.scalar(select(StageSession).where(StageSession.session_id == session_id))
            ).end_time = utcnow()
        assert await records.fail_abandoned() == 1
        async with db.read() as session:
            state = await session.scalar(
                select(Participant.recording_state).where(Participant.participant_id == participant_id)
            )
        assert state == "FAILED"
        assert await records.fail_abandoned() == 0

    scenario_db(database_url, work)


def test_a_replica_is_known_while_its_replication_is_active(database_url):
    async def work(db: Database) -> None:
        records = RecordingRecords(db, lambda: None)
        stage_arn, _, participant_id = await seed_stage(db, recording=True)
        assert not await records.is_replica(stage_arn, participant_id)
        async with db.write() as session:
            replication = ParticipantReplication(
                source_stage_arn=ids.arn(REGION, ACCOUNT, "stage", ids.random_id()),
                participant_id=participant_id,
                destination_stage_arn=stage_arn,
            )
            session.add(replication)
        assert await records.is_replica(stage_arn, participant_id)
        async with db.write() as session:
            (await session.get(ParticipantReplication, replication.pk)).replication_state = "STOPPED"
        assert not await records.is_replica(stage_arn, participant_id)

    scenario_db(database_url, work)
