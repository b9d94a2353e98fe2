"""Participant replication between stages (docs 7.2): a source stage's publisher, live in other stages."""

from openstage.replication.remote import ReplicaHost
from openstage.replication.replicator import Replicator

__all__ = ["ReplicaHost", "Replicator"]
