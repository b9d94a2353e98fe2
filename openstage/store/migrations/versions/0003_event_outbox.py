"""event outbox, per-sink delivery state and dead letters

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("detail_type", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_event_outbox_stage_arn", "event_outbox", ["stage_arn"])
    op.create_table(
        "event_sink_deliveries",
        sa.Column("sink", sa.String(length=512), nullable=False),
        sa.Column("delivered_pk", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("sink"),
    )
    op.create_table(
        "event_dead_letters",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sink", sa.String(length=512), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("dead_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index("ix_event_dead_letters_sink", "event_dead_letters", ["sink"])


def downgrade() -> None:
    op.drop_index("ix_event_dead_letters_sink", table_name="event_dead_letters")
    op.drop_table("event_dead_letters")
    op.drop_table("event_sink_deliveries")
    op.drop_index("ix_event_outbox_stage_arn", table_name="event_outbox")
    op.drop_table("event_outbox")
