"""Stream keys to IngestConfigurations, and the configurations' ``state`` as encoders come and go (docs 7.1)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from sqlalchemy import select, update

from openstage import ids
from openstage.store.db import Database
from openstage.store.models import IngestConfiguration


@dataclass(frozen=True)
class Grant:
    """What a valid stream key lets an encoder be: one participant of one stage."""

    configuration_arn: str
    stage_arn: str  # "" while the configuration has no stage: the key is unusable
    participant_id: str
    user_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    ingest_protocol: str = "RTMPS"
    insecure_ingest: bool = False
    valid: bool = True  # False: the key names this configuration but its secret is wrong

    def allows(self, secure: bool) -> bool:
        """RTMPS is always accepted; plain RTMP only by an RTMP configuration with insecureIngest."""
        return secure or (self.ingest_protocol == "RTMP" and self.insecure_ingest)


async def resolve(db: Database, stream_key: str) -> Grant | None:
    """The grant of ``stream_key`` (first or redundant encoder), an invalid one if only its configuration
    exists, or None when it names no configuration at all (``rt_{account}_{region}_{configId}_{secret}``)."""
    parts = stream_key.split("_")
    if len(parts) != 5 or parts[0] != "rt":
        return None
    _, account, region, config_id, _ = parts
    arn = ids.arn(region, account, "ingest-configuration", config_id)
    async with db.read() as session:
        row = await session.scalar(select(IngestConfiguration).where(IngestConfiguration.arn == arn))
    if row is None:
        return None
    participant_id, valid = row.participant_id, hmac.compare_digest(row.stream_key, stream_key)
    for entry in row.redundant_credentials if row.redundant_ingest else []:
        if hmac.compare_digest(str(entry.get("streamKey", "")), stream_key):
            participant_id, valid = str(entry.get("participantId", "")), True
    return Grant(
        configuration_arn=row.arn,
        stage_arn=row.stage_arn,
        participant_id=participant_id,
        user_id=row.user_id,
        attributes=dict(row.attributes),
        ingest_protocol=row.ingest_protocol,
        insecure_ingest=row.insecure_ingest,
        valid=valid,
    )


async def activate(db: Database, grant: Grant) -> bool:
    """ACTIVE, unless the configuration was deleted or moved to another stage since the key was resolved."""
    async with db.write() as session:
        result = await session.execute(
            update(IngestConfiguration)
            .where(IngestConfiguration.arn == grant.configuration_arn, IngestConfiguration.stage_arn == grant.stage_arn)
            .values(state="ACTIVE")
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def deactivate(db: Database, configuration_arn: str) -> None:
    async with db.write() as session:
        await session.execute(
            update(IngestConfiguration).where(IngestConfiguration.arn == configuration_arn).values(state="INACTIVE")
        )


async def deactivate_all(db: Database) -> int:
    """At start-up: no encoder can still be publishing to a process that just started."""
    async with db.write() as session:
        result = await session.execute(
            update(IngestConfiguration).where(IngestConfiguration.state == "ACTIVE").values(state="INACTIVE")
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
