"""The key layout and the events/*.json documents (docs 6, 5.4)."""

from __future__ import annotations

from datetime import UTC, datetime

from openstage.recording.hls import ThumbnailSettings
from openstage.recording.layout import key_prefix, media_section, recording_document

STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdef1G2hij"


def test_the_prefix_is_stage_session_participant_and_a_timestamp():
    started = datetime(2024, 1, 1, 12, 0, 55, 123000, tzinfo=UTC)
    assert key_prefix(STAGE, "st-ZyXwvu1T2s", "xYz1c2d3e4f", started) == (
        "AbCdef1G2hij/st-ZyXwvu1T2s/xYz1c2d3e4f/2024-01-01T12-00-55Z"
    )


def test_media_lists_only_what_is_written():
    assert media_section(False, None, None) == {}
    both = media_section(True, ThumbnailSettings(10, sequential=True, latest=True), 4321)
    assert both["hls"] == {
        "path": "media/hls",
        "playlist": "multivariant.m3u8",
        "renditions": [{"path": "high", "playlist": "playlist.m3u8"}],
        "duration_ms": 4321,
    }
    assert both["thumbnails"] == {"path": "media/thumbnails", "renditions": [{"path": "high"}]}
    assert both["latest_thumbnail"] == {"path": "media/latest_thumbnail", "renditions": [{"path": "high"}]}
    assert "thumbnails" not in media_section(True, ThumbnailSettings(10, sequential=False, latest=True), None)


def test_a_start_failure_has_no_start_time():
    document = recording_document("RECORDING_START_FAILED", STAGE, "st-1", "p", {}, None, message="no bucket")
    assert document == {
        "version": "v1",
        "stage_arn": STAGE,
        "session_id": "st-1",
        "participant_id": "p",
        "recording_status": "RECORDING_START_FAILED",
        "recording_status_message": "no bucket",
        "media": {},
    }
    started = datetime(2024, 1, 1, 12, 0, 55, 5000, tzinfo=UTC)
    ended = recording_document("RECORDING_ENDED", STAGE, "st-1", "p", {}, started, started)
    assert ended["recording_started_at"] == ended["recording_ended_at"] == "2024-01-01T12:00:55.005Z"
