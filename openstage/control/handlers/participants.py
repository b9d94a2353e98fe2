"""DisconnectParticipant and RevokeConnectionToken: throwing participants out of live stages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.context import Context
from openstage.control.registry import operation
from openstage.control.resources import get_or_404
from openstage.store.models import IngestConfiguration, RevokedConnectionToken, Stage


async def _ingest_configuration(session: AsyncSession, participant_id: str) -> IngestConfiguration | None:
    """The IngestConfiguration whose encoder (first or redundant) publishes as ``participant_id``, if any."""
    found = await session.scalar(
        select(IngestConfiguration).where(IngestConfiguration.participant_id == participant_id)
    )
    if found is not None:
        return found
    redundant = await session.scalars(select(IngestConfiguration).where(IngestConfiguration.redundant_ingest))
    for row in redundant:
        if any(entry.get("participantId") == participant_id for entry in row.redundant_credentials):
            return row
    return None


@operation("DisconnectParticipant")
async def disconnect_participant(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Kicks the participant and refuses its id on this stage for good (docs 2.5).

    An RTMP participant is kept out the way AWS does it instead: its IngestConfiguration loses
    the stage (model docs). Its participant id is fixed, so a refusal would outlive an
    UpdateIngestConfiguration that points it at this stage again.
    """
    stage_arn, participant_id = params["stageArn"], params["participantId"]
    async with ctx.db.write() as session:
        await get_or_404(session, Stage, stage_arn, "Stage")
        ingest = await _ingest_configuration(session, participant_id)
        if ingest is not None and ingest.stage_arn == stage_arn and ingest.state == "ACTIVE":
            ingest.stage_arn = ""
    await ctx.cluster.disconnect_participant(stage_arn, participant_id, params.get("reason", ""), refuse=ingest is None)
    return {}


@operation("RevokeConnectionToken")
async def revoke_connection_token(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Persists the revocation of a connection token (docs 1.4) by its id.

    openstage does not accept connection tokens yet (the SDK's RealTimeConnection path), so no
    participant can be connected with one and nobody is disconnected; the record is kept for
    when they are accepted. Revoking twice keeps the first time.
    """
    token_id = params["tokenId"]
    async with ctx.db.write() as session:
        if await session.get(RevokedConnectionToken, token_id) is None:
            session.add(RevokedConnectionToken(token_id=token_id))
    return {}
