"""initial tables

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compositions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("idempotency_token", sa.String(length=64), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
    )
    with op.batch_alter_table("compositions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compositions_stage_arn"), ["stage_arn"], unique=False)

    op.create_table(
        "encoder_configurations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("video", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
    )
    op.create_table(
        "ingest_configurations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("ingest_protocol", sa.String(length=8), nullable=False),
        sa.Column("insecure_ingest", sa.Boolean(), nullable=False),
        sa.Column("redundant_ingest", sa.Boolean(), nullable=False),
        sa.Column("stream_key", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("redundant_credentials", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
        sa.UniqueConstraint("participant_id"),
        sa.UniqueConstraint("stream_key"),
    )
    with op.batch_alter_table("ingest_configurations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_configurations_stage_arn"), ["stage_arn"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_configurations_state"), ["state"], unique=False)

    op.create_table(
        "public_keys",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("material", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
        sa.UniqueConstraint("fingerprint"),
    )
    op.create_table(
        "resource_references",
        sa.Column("user_arn", sa.String(length=256), nullable=False),
        sa.Column("used_arn", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("user_arn", "used_arn"),
    )
    with op.batch_alter_table("resource_references", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resource_references_used_arn"), ["used_arn"], unique=False)

    op.create_table(
        "stages",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("auto_recording", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
    )
    op.create_table(
        "storage_configurations",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("s3", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("arn"),
    )
    op.create_table(
        "tags",
        sa.Column("resource_arn", sa.String(length=256), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("resource_arn", "key"),
    )
    op.create_table(
        "stage_sessions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=16), nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["stage_arn"], ["stages.arn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_id"),
    )
    with op.batch_alter_table("stage_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stage_sessions_stage_arn"), ["stage_arn"], unique=False)

    op.create_table(
        "participant_events",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("session_id", sa.String(length=16), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("event_time", sa.DateTime(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["stage_sessions.session_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("participant_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participant_events_session_participant", ["session_id", "participant_id", "pk"], unique=False
        )

    op.create_table(
        "participants",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("session_id", sa.String(length=16), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("recording_state", sa.String(length=16), nullable=False),
        sa.Column("first_join_time", sa.DateTime(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["stage_sessions.session_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_id", "participant_id"),
    )
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participants_session_id"), ["session_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_participants_stage_arn"), ["stage_arn"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participants_stage_arn"))
        batch_op.drop_index(batch_op.f("ix_participants_session_id"))

    op.drop_table("participants")
    op.drop_table("participant_events")
    with op.batch_alter_table("stage_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stage_sessions_stage_arn"))

    op.drop_table("stage_sessions")
    op.drop_table("tags")
    op.drop_table("storage_configurations")
    op.drop_table("stages")
    with op.batch_alter_table("resource_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_references_used_arn"))

    op.drop_table("resource_references")
    op.drop_table("public_keys")
    with op.batch_alter_table("ingest_configurations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_configurations_state"))
        batch_op.drop_index(batch_op.f("ix_ingest_configurations_stage_arn"))

    op.drop_table("ingest_configurations")
    op.drop_table("encoder_configurations")
    with op.batch_alter_table("compositions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compositions_stage_arn"))

    op.drop_table("compositions")
