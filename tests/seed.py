"""Rows that features not built yet (the media plane, composition) will write, put straight into a server's database.

An ACTIVE ingest configuration needs an encoder publishing; a configuration in use needs a
running composition. Tests seed such rows with the real store classes instead of faking
the server's answers, then check what the API does with them.

The builders give realistic values (AWS's own examples: Chrome on Windows over Comcast, an
HLS recording plus an IVS channel); ``seed`` writes them in the order given, so their
``pk``s, and with them every List operation's order, follow that order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.store.db import Database
from openstage.store.models import (
    Base,
    Composition,
    Participant,
    ParticipantEvent,
    ResourceReference,
    StageSession,
    Tag,
)
from tests.server import ACCOUNT, REGION, Server

T = TypeVar("T")

# Whole seconds, like most timestamps in AWS's examples, and well in the past.
EPOCH = datetime(2024, 4, 26, 20, 30, 29, tzinfo=UTC)


def arn(kind: str) -> str:
    """A fresh ARN of ``kind`` in the test server's region and account."""
    return ids.arn(REGION, ACCOUNT, kind, ids.random_id())


def database_url(server: Server) -> str:
    """The URL the server itself uses: its PostgreSQL database, or the SQLite file in its data dir."""
    return server.database_url or f"sqlite+aiosqlite:///{server.data_dir}/openstage.db"


def run_in_db(server: Server, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs ``fn`` in one committed write transaction on ``server``'s database and returns its result."""

    async def main() -> T:
        db = Database(database_url(server))
        try:
            async with db.write() as session:
                return await fn(session)
        finally:
            await db.close()

    return asyncio.run(main())


def seed(server: Server, *rows: Base) -> None:
    async def write(session: AsyncSession) -> None:
        for row in rows:
            session.add(row)
            await session.flush()  # one at a time: pk order is the order given

    run_in_db(server, write)


def stored_tags(server: Server, resource_arn: str) -> dict[str, str]:
    """The tag rows themselves, for resources the API can no longer answer for (deleted ones)."""

    async def read(session: AsyncSession) -> dict[str, str]:
        rows = await session.execute(select(Tag.key, Tag.value).where(Tag.resource_arn == resource_arn))
        return {key: value for key, value in rows}

    return run_in_db(server, read)


def stage_session(stage_arn: str, start: datetime = EPOCH, minutes: float | None = 6.0) -> StageSession:
    """A session of ``minutes`` (None: still active, no endTime)."""
    end = None if minutes is None else start + timedelta(minutes=minutes)
    return StageSession(session_id=ids.session_id(), stage_arn=stage_arn, start_time=start, end_time=end)


def participant(session: StageSession, **columns: Any) -> Participant:
    """A browser participant that joined five seconds into ``session``; ``columns`` override any column."""
    values: dict[str, Any] = {
        "stage_arn": session.stage_arn,
        "session_id": session.session_id,
        "participant_id": ids.random_id(),
        "user_id": "",
        "state": "CONNECTED",
        "published": False,
        "recording_state": "DISABLED",
        "first_join_time": session.start_time + timedelta(seconds=5),
        "details": {
            "attributes": {"displayName": "Ana"},
            "ispName": "Comcast",
            "osName": "Microsoft Windows 10 Pro",
            "osVersion": "10.0.19044",
            "browserName": "Google Chrome",
            "browserVersion": "116",
            "sdkVersion": "1.41.0",
            "protocol": "WHIP",
        },
    }
    values.update(columns)
    return Participant(**values)


def event(who: Participant, name: str, at: datetime, **details: Any) -> ParticipantEvent:
    """``details`` are the optional Event members: remoteParticipantId, errorCode, replica, …"""
    return ParticipantEvent(
        stage_arn=who.stage_arn,
        session_id=who.session_id,
        participant_id=who.participant_id,
        name=name,
        event_time=at,
        details=details,
    )


def composition(stage_arn: str, encoder_arn: str, state: str = "ACTIVE", start: datetime = EPOCH) -> Composition:
    """A composition to an IVS channel and an S3 recording, both encoded by ``encoder_arn``."""
    started = (start + timedelta(seconds=2)).isoformat()
    stopped = state in ("STOPPED", "FAILED")
    ended = (start + timedelta(minutes=5)).isoformat() if stopped else None
    composition_id = ids.random_id()
    channel = {
        "id": ids.random_id(),
        "state": state if stopped else "ACTIVE",
        "configuration": {
            "name": "",
            "channel": {"channelArn": arn("channel"), "encoderConfigurationArn": encoder_arn},
        },
        "startTime": started,
        "endTime": ended,
    }
    recording = {
        "id": ids.random_id(),
        "state": state if stopped else "ACTIVE",
        "configuration": {
            "name": "archive",
            "s3": {
                "storageConfigurationArn": arn("storage-configuration"),
                "encoderConfigurationArns": [encoder_arn],
                "recordingConfiguration": {"format": "HLS", "hlsConfiguration": {"targetSegmentDurationSeconds": 2}},
                "thumbnailConfigurations": [{"targetIntervalSeconds": 60, "storage": ["SEQUENTIAL"]}],
            },
        },
        "detail": {"s3": {"recordingPrefix": f"{ids.random_id()}/{composition_id}/{ids.random_id()}/composite"}},
        "startTime": started,
        "endTime": ended,
    }
    return Composition(
        arn=ids.arn(REGION, ACCOUNT, "composition", composition_id),
        stage_arn=stage_arn,
        state=state,
        layout={"grid": {"featuredParticipantAttribute": "", "gridGap": 2, "omitStoppedVideo": False}},
        destinations=[{k: v for k, v in d.items() if v is not None} for d in (channel, recording)],
        start_time=start,
        end_time=start + timedelta(minutes=5) if stopped else None,
    )


def references(row: Composition) -> list[ResourceReference]:
    """The encoder and storage configurations ``row`` uses, as StartComposition records them."""
    used: set[str] = set()
    for destination in row.destinations:
        configuration = destination["configuration"]
        if "channel" in configuration:
            used.add(configuration["channel"]["encoderConfigurationArn"])
        if "s3" in configuration:
            used.add(configuration["s3"]["storageConfigurationArn"])
            used.update(configuration["s3"]["encoderConfigurationArns"])
    return [ResourceReference(user_arn=row.arn, used_arn=used_arn) for used_arn in sorted(used)]
