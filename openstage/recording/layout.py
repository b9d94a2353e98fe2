"""Where an individual participant recording goes and what its ``events/*.json`` files say (docs 6, 5.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from openstage import ids
from openstage.recording.hls import ThumbnailSettings

RENDITION = "high"  # individual recordings have one rendition, named as IVS names it
STARTED, ENDED, FAILED = "recording-started.json", "recording-ended.json", "recording-failed.json"


def key_prefix(stage_arn: str, session_id: str, participant_id: str, started_at: datetime) -> str:
    """``<stageId>/<sessionId>/<participantId>/<timestamp>``, the timestamp as in IVS's events: 2024-01-01T12-00-55Z."""
    stamp = started_at.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    return f"{ids.resource_id(stage_arn)}/{session_id}/{participant_id}/{stamp}"


def iso_millis(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def media_section(hls: bool, thumbnails: ThumbnailSettings | None, duration_ms: int | None) -> dict[str, Any]:
    """The ``media`` object: HLS when audio or video is recorded, each thumbnail kind only when stored."""
    media: dict[str, Any] = {}
    if hls:
        media["hls"] = {
            "path": "media/hls",
            "playlist": "multivariant.m3u8",
            "renditions": [{"path": RENDITION, "playlist": "playlist.m3u8"}],
        }
        if duration_ms is not None:
            media["hls"]["duration_ms"] = duration_ms
    if thumbnails is not None and thumbnails.sequential:
        media["thumbnails"] = {"path": "media/thumbnails", "renditions": [{"path": RENDITION}]}
    if thumbnails is not None and thumbnails.latest:
        media["latest_thumbnail"] = {"path": "media/latest_thumbnail", "renditions": [{"path": RENDITION}]}
    return media


def recording_document(
    status: str,
    stage_arn: str,
    session_id: str,
    participant_id: str,
    media: dict[str, Any],
    started_at: datetime | None,
    ended_at: datetime | None = None,
    message: str = "",
) -> dict[str, Any]:
    """One of the JSON files; ``status`` is RECORDING_STARTED, RECORDING_ENDED, RECORDING_START_FAILED or
    RECORDING_ENDED_WITH_FAILURE, and ``recording_started_at`` is absent when the start failed."""
    document: dict[str, Any] = {
        "version": "v1",
        "stage_arn": stage_arn,
        "session_id": session_id,
        "participant_id": participant_id,
    }
    if started_at is not None:
        document["recording_started_at"] = iso_millis(started_at)
    if ended_at is not None:
        document["recording_ended_at"] = iso_millis(ended_at)
    document["recording_status"] = status
    document["recording_status_message"] = message
    document["media"] = media
    return document
