"""CreateParticipantToken, and the token minting CreateStage shares."""

from __future__ import annotations

from typing import Any

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import ValidationException
from openstage.control.registry import operation
from openstage.control.resources import get_or_404
from openstage.store.models import Stage
from openstage.tokens.participant import MAX_ATTRIBUTES_BYTES, attributes_size

DEFAULT_DURATION_MINUTES = 720
DEFAULT_CAPABILITIES = ["PUBLISH", "SUBSCRIBE"]


def check_attributes(attributes: dict[str, str] | None, field: str = "attributes") -> None:
    size = attributes_size(attributes or {})
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValidationException(
            f"{field} may total at most {MAX_ATTRIBUTES_BYTES} bytes (keys and values, UTF-8); got {size}."
        )


def mint_token(ctx: Context, stage_arn: str, config: dict[str, Any]) -> dict[str, Any]:
    """Issues one token; the response echoes userId/attributes only when given, as AWS's does."""
    duration = config.get("duration") or DEFAULT_DURATION_MINUTES
    capabilities = config.get("capabilities")
    if capabilities is None:
        capabilities = list(DEFAULT_CAPABILITIES)
    capabilities = list(dict.fromkeys(capabilities))
    attributes = config.get("attributes") or {}
    user_id = config.get("userId") or ""
    participant_id = ids.random_id()
    token, expires = ctx.tokens.issue(stage_arn, participant_id, user_id, attributes, capabilities, duration)
    result: dict[str, Any] = {
        "participantId": participant_id,
        "token": token,
        "duration": duration,
        "capabilities": capabilities,
        "expirationTime": expires,
    }
    if "userId" in config:
        result["userId"] = user_id
    if "attributes" in config:
        result["attributes"] = attributes
    return result


@operation("CreateParticipantToken")
async def create_participant_token(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    check_attributes(params.get("attributes"))
    async with ctx.db.read() as session:
        stage = await get_or_404(session, Stage, params["stageArn"], "Stage")
    return {"participantToken": mint_token(ctx, stage.arn, params)}
