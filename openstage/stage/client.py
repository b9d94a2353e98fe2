"""What a participant's client says about itself, from the headers of its events WebSocket or WHIP request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from openstage.stage.useragent import parse_user_agent

# The model's ParticipantClientAttribute: at most 128 of these characters.
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9\-_.,:;\s]")
_MAX_LENGTH = 128

# X-Stages-Platform of the native SDKs, for when no User-Agent names the system.
_PLATFORMS = {"android": "Android", "ios": "iOS"}


@dataclass(frozen=True)
class ClientInfo:
    user_agent: str = ""
    sdk_version: str = ""  # X-Stages-SDK, which the IVS SDKs send with every WHIP request
    platform: str = ""  # X-Stages-Platform: web, android, ios
    protocol: str = "WHIP"  # the participant's protocol (docs 3.2): RTMP or RTMPS for an encoder
    ingest_configuration_arn: str = ""  # set for an encoder publishing with an IngestConfiguration
    replica: bool = False  # a replica of another stage's participant: its events say so (docs 3.4)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ClientInfo:
        """``headers`` must look names up case-insensitively, as Starlette's do."""
        return cls(
            user_agent=headers.get("user-agent", ""),
            sdk_version=headers.get("x-stages-sdk", ""),
            platform=headers.get("x-stages-platform", ""),
        )

    def participant_fields(self) -> dict[str, str]:
        """The Participant members this client fills (docs 3.2); "" where it told nothing, as AWS shows.

        ispName stays "": AWS fills it from a GeoIP database openstage does not ship.
        """
        agent = parse_user_agent(self.user_agent)
        fields = {
            "ispName": "",
            "osName": agent.os_name or _PLATFORMS.get(self.platform.lower(), ""),
            "osVersion": agent.os_version,
            "browserName": agent.browser_name,
            "browserVersion": agent.browser_version,
            "sdkVersion": self.sdk_version,
        }
        return {name: _NOT_ALLOWED.sub("", value)[:_MAX_LENGTH] for name, value in fields.items()}

    def protocol_fields(self) -> dict[str, str | bool]:
        """How the participant connects (docs 3.2): fixed when it joins, not sanitized like what a client tells."""
        fields: dict[str, str | bool] = {"protocol": self.protocol}
        if self.ingest_configuration_arn:
            fields["ingestConfigurationArn"] = self.ingest_configuration_arn
        if self.replica:
            fields["replica"] = True
        return fields
