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
    "TOKEN_EXCHANGED": "Token Exchanged",
    "REPLICATION_STARTED": "Participant Replication Started",
    "REPLICATION_STOPPED": "Participant Replication Stopped",
}
# Event members (docs 3.4) a Stage Update repeats in its detail, under these names (docs 4: inferred).
_DETAIL_FIELDS = {
    "errorCode": "error_code",
    "destinationStageArn": "destination_stage_arn",
    "destinationSessionId": "destination_session_id",
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
    detail.update({_DETAIL_FIELDS[k]: v for k, v in details.items() if k in _DETAIL_FIELDS})
    return envelope(STAGE_UPDATE, stage_arn, detail, at)


PARTICIPANT_RECORDING = "IVS Participant Recording State Change"
PARTICIPANT_RECORDING_NAMES = ("Recording Start", "Recording End", "Recording Start Failure", "Recording End Failure")


def participant_recording(
    event_name: str,
    stage_arn: str,
    session_id: str,
    participant_id: str,
    bucket: str,
    prefix: str,
    at: datetime,
    duration_ms: int | None = None,
) -> dict[str, Any]:
    """An ``IVS Participant Recording State Change`` (docs 4); Recording End also has ``recording_duration_ms``."""
    if event_name not in PARTICIPANT_RECORDING_NAMES:
        raise ValueError(f"unknown participant recording event {event_name!r}")
    detail: dict[str, Any] = {
        "session_id": session_id,
        "event_name": event_name,
        "participant_id": participant_id,
        "recording_s3_bucket_name": bucket,
        "recording_s3_key_prefix": prefix,
    }
    if duration_ms is not None:
        detail["recording_duration_ms"] = duration_ms
    return envelope(PARTICIPANT_RECORDING, stage_arn, detail, at)


COMPOSITION_STATE_CHANGE = "IVS Composition State Change"
COMPOSITION_EVENT_NAMES = (
    "Session Start",
    "Session End",
    "Session Failure",
    "Destination Start",
    "Destination End",
    "Destination Failure",
    "Destination Reconnecting",
)


def composition_state_change(
    event_name: str,
    composition_arn: str,
    stage_arn: str,
    at: datetime,
    destination_id: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """An ``IVS Composition State Change``: the composition in ``resources``, its stage in ``detail.stage_arn``
    (docs 4); destination events name the destination, failures say why."""
    if event_name not in COMPOSITION_EVENT_NAMES:
        raise ValueError(f"unknown composition event {event_name!r}")
    detail: dict[str, Any] = {"event_name": event_name, "stage_arn": stage_arn}
    if destination_id is not None:
        detail["id"] = destination_id
    if reason:
        detail["reason"] = reason
    return envelope(COMPOSITION_STATE_CHANGE, composition_arn, detail, at)
