"""composition runtime state

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compositions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=256), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_compositions_idempotency_token"), ["idempotency_token"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("compositions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compositions_idempotency_token"))
        batch_op.drop_column("reason")
