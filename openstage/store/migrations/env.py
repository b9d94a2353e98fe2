"""Alembic environment: runs on the connection openstage hands over at start-up."""

from alembic import context

from openstage.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("openstage runs its migrations itself at start-up (openstage.store.db.Database.migrate)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
