"""disconnected participants and revoked connection tokens

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disconnected_participants",
        sa.Column("stage_arn", sa.String(length=256), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["stage_arn"], ["stages.arn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("stage_arn", "participant_id"),
    )
    op.create_table(
        "revoked_connection_tokens",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_id"),
    )


def downgrade() -> None:
    op.drop_table("revoked_connection_tokens")
    op.drop_table("disconnected_participants")
