"""Events exactly in the EventBridge envelope IVS sends (docs 4), whatever sink carries them.

A new kind of event is a detail-type plus a detail builder; the envelope is shared.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

SOURCE = "aws.ivs"
STAGE_UPDATE = "IVS Stage Update"

# Participant event names (docs 3.4) that IVS also announces on EventBridge, and as what.
STAGE_UPDATE_NAMES = {
    "PUBLISH_STARTED": "Participant Published",
    "PUBLISH_STOPPED": "Participant Unpublished",
    "PUBLISH_ERROR": "Participant Publish Error",
}


def iso(moment: datetime) -> str:
    """EventBridge times: ISO-8601, UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(detail_type: str, resource_arn: str, detail: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The envelope around ``detail``; account and region come from the resource's ARN, as in IVS."""
    _, _, _, region, account, _ = resource_arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account,
        "time": iso(at),
        "region": region,
        "resources": [resource_arn],
        "detail": detail,
    }


def stage_update(
    participant_event: str,
    stage_arn: str,
    session_id: str,
    participant_id: str,
    user_id: str,
    details: dict[str, Any],
    at: datetime,
) -> dict[str, Any] | None:
    """The ``IVS Stage Update`` a participant event causes, or None if IVS announces none for it."""
    name = STAGE_UPDATE_NAMES.get(participant_event)
    if name is None:
        return None
    detail: dict[str, Any] = {
        "session_id": session_id,
        "event_name": name,
        "event_time": iso(at),
        "user_id": user_id,
        "participant_id": participant_id,
    }
    if "errorCode" in details:
        detail["error_code"] = details["errorCode"]
    return envelope(STAGE_UPDATE, stage_arn, detail, at)
