"""The tables behind the control API.

Columns hold what queries filter, sort or join on; the rest of a resource's nested,
model-shaped configuration lives in a JSON column so the API shape, not the schema, stays
the source of truth. Every table has an integer ``pk`` that orders rows by creation and
backs the keyset pagination of the List operations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones and PostgreSQL needs none."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Stage(Base):
    __tablename__ = "stages"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    auto_recording: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageSession(Base):
    __tablename__ = "stage_sessions"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(16), unique=True)
    stage_arn: Mapped[str] = mapped_column(String(256), ForeignKey("stages.arn", ondelete="CASCADE"), index=True)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    end_time: Mapped[datetime | None] = mapped_column(default=None)


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("session_id", "participant_id"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_arn: Mapped[str] = mapped_column(String(256), index=True)
    session_id: Mapped[str] = mapped_column(
        String(16), ForeignKey("stage_sessions.session_id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16), default="CONNECTED")
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    recording_state: Mapped[str] = mapped_column(String(16), default="DISABLED", index=True)
    first_join_time: Mapped[datetime | None] = mapped_column(default=None)
    # attributes, client info (ispName, osName, …), recording prefix, protocol, replication fields
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ParticipantEvent(Base):
    __tablename__ = "participant_events"
    # ListParticipantEvents reads one participant's events of one session, in pk order.
    __table_args__ = (Index("ix_participant_events_session_participant", "session_id", "participant_id", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stage_arn: Mapped[str] = mapped_column(String(256))
    session_id: Mapped[str] = mapped_column(String(16), ForeignKey("stage_sessions.session_id", ondelete="CASCADE"))
    participant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(32))
    event_time: Mapped[datetime] = mapped_column(default=utcnow)
    # remoteParticipantId, errorCode, destinationStageArn, destinationSessionId, replica, tokens
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DisconnectedParticipant(Base):
    """A participant id DisconnectParticipant refused for good on one stage: its token can no longer join (docs 2.5)."""

    __tablename__ = "disconnected_participants"
    stage_arn: Mapped[str] = mapped_column(String(256), ForeignKey("stages.arn", ondelete="CASCADE"), primary_key=True)
    participant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(128), default="")
    disconnected_at: Mapped[datetime] = mapped_column(default=utcnow)


class RevokedConnectionToken(Base):
    """A connection-token id (its ``jti``, docs 1.4) RevokeConnectionToken refused for good."""

    __tablename__ = "revoked_connection_tokens"
    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class PublicKey(Base):
    __tablename__ = "public_keys"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    material: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EncoderConfiguration(Base):
    __tablename__ = "encoder_configurations"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    video: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StorageConfiguration(Base):
    __tablename__ = "storage_configurations"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    s3: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IngestConfiguration(Base):
    __tablename__ = "ingest_configurations"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    stage_arn: Mapped[str] = mapped_column(String(256), default="", index=True)
    participant_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(128), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ingest_protocol: Mapped[str] = mapped_column(String(8))
    insecure_ingest: Mapped[bool] = mapped_column(Boolean, default=False)
    redundant_ingest: Mapped[bool] = mapped_column(Boolean, default=False)
    stream_key: Mapped[str] = mapped_column(String(256), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="INACTIVE", index=True)
    # [{participantId, streamKey}] for the second encoder when redundantIngest is on
    redundant_credentials: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Composition(Base):
    __tablename__ = "compositions"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    stage_arn: Mapped[str] = mapped_column(String(256), index=True)
    state: Mapped[str] = mapped_column(String(16), default="STARTING")
    layout: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{id, state, configuration, detail, startTime, endTime}] exactly as the API shape
    destinations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start_time: Mapped[datetime | None] = mapped_column(default=None)
    end_time: Mapped[datetime | None] = mapped_column(default=None)
    idempotency_token: Mapped[str] = mapped_column(String(64), default="", index=True)
    request_digest: Mapped[str] = mapped_column(String(64), default="")
    # why it is stopping, stopped or failed: the reason of a Session Failure event
    reason: Mapped[str] = mapped_column(String(256), default="")


class ParticipantReplication(Base):
    """One StartParticipantReplication (docs 7.2): a source stage's publisher replicated into a destination stage.

    ACTIVE rows are what the replicator keeps live; a stopped replication stays listed as STOPPED.
    """

    __tablename__ = "participant_replications"
    __table_args__ = (Index("ix_participant_replications_source", "source_stage_arn", "participant_id", "pk"),)
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_stage_arn: Mapped[str] = mapped_column(String(256))
    participant_id: Mapped[str] = mapped_column(String(64))
    destination_stage_arn: Mapped[str] = mapped_column(String(256), index=True)
    source_session_id: Mapped[str] = mapped_column(String(16), default="")
    destination_session_id: Mapped[str] = mapped_column(String(16), default="")
    replication_state: Mapped[str] = mapped_column(String(16), default="ACTIVE", index=True)
    reconnect_window_seconds: Mapped[int] = mapped_column(Integer, default=0)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResourceReference(Base):
    """One resource using another (a composition and its encoder/storage configurations).

    Kept as rows so "delete refuses while used" and "filter by encoder configuration" are
    single indexed queries instead of scans of JSON.
    """

    __tablename__ = "resource_references"
    user_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    used_arn: Mapped[str] = mapped_column(String(256), primary_key=True, index=True)


class Tag(Base):
    __tablename__ = "tags"
    resource_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), default="")


class OutboxEvent(Base):
    """An EventBridge-shaped event, written in the transaction of the change that caused it; ``pk`` is its order."""

    __tablename__ = "event_outbox"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    stage_arn: Mapped[str] = mapped_column(String(256), index=True)
    detail_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)


class SinkDelivery(Base):
    """How far one sink got through the outbox, and the failed attempts at the event after that."""

    __tablename__ = "event_sink_deliveries"
    sink: Mapped[str] = mapped_column(String(512), primary_key=True)
    delivered_pk: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")


class DeadLetter(Base):
    """An event a sink gave up on after its retry budget; the sink moved on to the next."""

    __tablename__ = "event_dead_letters"
    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sink: Mapped[str] = mapped_column(String(512), index=True)
    event_pk: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[str] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    dead_at: Mapped[datetime] = mapped_column(default=utcnow)
