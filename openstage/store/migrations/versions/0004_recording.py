"""participant recording: an index on recording states

Participants already carry ``recording_state`` (and the bucket and prefix in ``details``); a
restart looks up the recordings a crash left in progress, and UpdateStage the ones under way.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_participants_recording_state", "participants", ["recording_state"])


def downgrade() -> None:
    op.drop_index("ix_participants_recording_state", table_name="participants")
