"""rtmp ingest and participant replication

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "participant_replications",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_stage_arn", sa.String(length=256), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("destination_stage_arn", sa.String(length=256), nullable=False),
        sa.Column("source_session_id", sa.String(length=16), nullable=False),
        sa.Column("destination_session_id", sa.String(length=16), nullable=False),
        sa.Column("replication_state", sa.String(length=16), nullable=False),
        sa.Column("reconnect_window_seconds", sa.Integer(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
    )
    with op.batch_alter_table("participant_replications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_participant_replications_source", ["source_stage_arn", "participant_id", "pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_participant_replications_destination_stage_arn"), ["destination_stage_arn"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_participant_replications_replication_state"), ["replication_state"], unique=False
        )


def downgrade() -> None:
    op.drop_table("participant_replications")
