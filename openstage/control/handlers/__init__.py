"""One module of handlers per resource family; importing this package registers them all."""

from openstage.control.handlers import (  # noqa: F401
    compositions,
    encoder_configurations,
    ingest_configurations,
    participants,
    public_keys,
    replication,
    sessions,
    stages,
    storage_configurations,
    tags,
    tokens,
)
