"""What every control-plane handler may use: settings, the database, the token issuer, storage, the stage runtime."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from openstage import ids
from openstage.config import Settings
from openstage.events.outbox import Wakeup
from openstage.stage import StageRuntime
from openstage.storage.local import LocalStorage
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
    storage: LocalStorage
    runtime: StageRuntime  # the live stages: DisconnectParticipant and DeleteStage act through it
    events: Wakeup  # notified when events commit to the outbox: the sinks and the live stream wait on it

    def arn(self, kind: str, resource_id: str) -> str:
        return ids.arn(self.settings.region, self.settings.account_id, kind, resource_id)

    def endpoints(self) -> dict[str, str]:
        return self.tokens.endpoints
