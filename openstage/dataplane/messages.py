"""The events WebSocket's wire messages (docs 2.3), built from the stage runtime's domain objects."""

from __future__ import annotations

from typing import Any

from openstage.stage import StageState

# Without "xdp" the SDK sends its SDP offers over HTTP WHIP rather than this socket (docs 2.3).
SERVER_FEATURES: list[str] = []

PONG: dict[str, Any] = {"type": "PONG"}


def stage_state(state: StageState) -> dict[str, Any]:
    return {
        "type": "STAGE_STATE",
        "payload": {
            "sequenceNumber": state.sequence_number,
            "participants": [
                {
                    "id": entry.participant_id,
                    "userId": entry.user_id,
                    "attributes": entry.attributes,
                    "isPublishing": entry.is_publishing,
                    "audioMuted": entry.audio_muted,
                    "videoStopped": entry.video_stopped,
                }
                for entry in state.participants
            ],
            "disconnected": [{"id": participant_id, "status": "KICKED"} for participant_id in state.kicked],
            "serverFeatures": SERVER_FEATURES,
            "stageId": state.stage_id,
        },
    }


def disconnect(code: str, reason: str) -> dict[str, Any]:
    """``code``: PARTICIPANT_DISCONNECTED, STAGE_DELETED or TOKEN_REUSED."""
    return {"type": "aws:ivs:DISCONNECT", "payload": {"code": code, "reason": reason}}


def join_error(code: str, message: str) -> dict[str, Any]:
    """Fatal: the SDK stops retrying instead of reconnecting with the same bad token."""
    return {"type": "aws:ivs:JOIN_ERROR", "payload": {"code": code, "message": message, "fatal": True}}


def exchange_token_reply(request_id: Any, trace_id: Any, error: str | None) -> dict[str, Any]:
    """The answer to a client's EXCHANGE_TOKEN; the SDK matches it by ``requestId`` and gives up after 5 s."""
    payload: dict[str, Any] = {"requestId": request_id, "traceId": trace_id}
    if error is not None:
        payload["error"] = {"message": error}
    return {"type": "aws:ivs:EXCHANGE_TOKEN", "payload": payload}
