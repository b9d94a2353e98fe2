"""What every control-plane handler may use: settings, the database, the token issuer, storage, the stage runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from openstage import ids
from openstage.cluster import Cluster
from openstage.config import Settings
from openstage.events.outbox import Wakeup
from openstage.stage import StageRuntime
from openstage.storage.base import Storage
from openstage.store.db import Database
from openstage.tokens.keys import TokenIssuer


def stage_endpoints(settings: Settings) -> dict[str, str]:
    """The stage endpoints (docs 2.1), built from the public URL so tokens point back here."""
    base = settings.resolved_public_url
    parts = urlsplit(base)
    ws = "wss" if parts.scheme == "https" else "ws"
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return {
        "events": f"{ws}://{parts.netloc}/events",
        "whip": f"{base}/whip",
        "rtmp": f"rtmp://{host}:{settings.rtmp_port}/app/",
        "rtmps": f"rtmps://{host}:{settings.rtmps_port}/app/",
    }


@dataclass
class Context:
    settings: Settings
    db: Database
    tokens: TokenIssuer
    storage: Storage  # where recordings go: local folder buckets or an S3-compatible endpoint
    runtime: StageRuntime  # the live stages of this node
    events: Wakeup  # notified when events commit to the outbox: the sinks and the live stream wait on it
    # the node's place in the cluster (of one without Redis): DisconnectParticipant and DeleteStage reach the
    # node hosting the stage through it
    cluster: Cluster
    # notified when a composition is started or asked to stop: the composition supervisor acts on it
    compositions: Wakeup = field(default_factory=Wakeup)
    # notified when a participant replication is started or stopped: the replicator acts on it
    replications: Wakeup = field(default_factory=Wakeup)

    def arn(self, kind: str, resource_id: str) -> str:
        return ids.arn(self.settings.region, self.settings.account_id, kind, resource_id)

    def endpoints(self) -> dict[str, str]:
        return self.tokens.endpoints
