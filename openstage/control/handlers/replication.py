"""StartParticipantReplication, StopParticipantReplication, ListParticipantReplicas (docs 7.2).

The handlers check and record; the replicator (openstage/replication) of the node hosting the
source stage is woken to make the recorded replications live: the replica joining the destination
stage, the media, the events. In a cluster the destination stage is placed on the source's node
when nobody has joined it, so the media stays on one node (docs/cluster.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openstage.control.context import Context
from openstage.control.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ValidationException,
)
from openstage.control.handlers.tokens import check_attributes
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import get_or_404
from openstage.store.models import ParticipantReplication, Stage

MAX_REPLICATIONS = 5  # concurrent replications per participant (docs 8.1)


def _active(source: str, participant_id: str) -> Any:
    return select(ParticipantReplication).where(
        ParticipantReplication.source_stage_arn == source,
        ParticipantReplication.participant_id == participant_id,
        ParticipantReplication.replication_state == "ACTIVE",
    )


@operation("StartParticipantReplication")
async def start_participant_replication(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    source, destination, participant_id = (
        params["sourceStageArn"],
        params["destinationStageArn"],
        params["participantId"],
    )
    check_attributes(params.get("attributes"))
    if source == destination:
        raise ValidationException("sourceStageArn and destinationStageArn must be different stages.")
    window = params.get("reconnectWindowSeconds", 0)
    async with ctx.db.read() as session:
        await get_or_404(session, Stage, source, "Stage")
        await get_or_404(session, Stage, destination, "Stage")
    # Asked of the node hosting the source, before any transaction: a command may take a while.
    source_session_id = await ctx.cluster.call_host(
        source, "replication.source", {"stage_arn": source, "participant_id": participant_id}
    )
    if not source_session_id:
        raise ValidationException(
            f"Participant {participant_id} is not publishing in stage {source}: only a publisher can be replicated."
        )
    async with ctx.db.write() as session:
        await ctx.db.lock(session, f"replication:{source}:{participant_id}")
        active = list((await session.scalars(_active(source, participant_id))).all())
        if any(row.destination_stage_arn == destination for row in active):
            raise ConflictException(f"Participant {participant_id} is already replicated to stage {destination}.")
        if len(active) >= MAX_REPLICATIONS:
            raise ServiceQuotaExceededException(
                f"Participant {participant_id} already has {MAX_REPLICATIONS} replications, the most allowed."
            )
        session.add(
            ParticipantReplication(
                source_stage_arn=source,
                participant_id=participant_id,
                destination_stage_arn=destination,
                source_session_id=source_session_id,
                reconnect_window_seconds=window,
                attributes=params.get("attributes") or {},
            )
        )
    await _place_destination(ctx, source, destination)
    await ctx.cluster.call_host(source, "replication.wake", {})
    return {}


@operation("StopParticipantReplication")
async def stop_participant_replication(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    source, destination, participant_id = (
        params["sourceStageArn"],
        params["destinationStageArn"],
        params["participantId"],
    )
    async with ctx.db.write() as session:
        row = await session.scalar(
            _active(source, participant_id).where(ParticipantReplication.destination_stage_arn == destination)
        )
        if row is None:
            raise ResourceNotFoundException(
                f"No active replication of participant {participant_id} from stage {source} to stage {destination}."
            )
        row.replication_state = "STOPPING"  # the replicator ends it, records REPLICATION_STOPPED and marks it STOPPED
    await ctx.cluster.call_host(source, "replication.wake", {})
    return {}


@operation("ListParticipantReplicas")
async def list_participant_replicas(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Every replication of the participant from the stage, oldest first; STOPPING shows as ACTIVE until it ends."""
    source, participant_id = params["sourceStageArn"], params["participantId"]
    statement = select(ParticipantReplication).where(
        ParticipantReplication.source_stage_arn == source, ParticipantReplication.participant_id == participant_id
    )
    filters = {"sourceStageArn": source, "participantId": participant_id}
    async with ctx.db.read() as session:
        rows, next_token = await paginate(
            session, statement, ParticipantReplication.pk, "ListParticipantReplicas", params, filters
        )
    return {"replicas": [_replica(row) for row in rows], "nextToken": next_token}


async def _place_destination(ctx: Context, source: str, destination: str) -> None:
    """A destination stage nobody is in yet is placed on the source's node: the replica's frames then pass
    from the source's publication inside that node. One live elsewhere gets them over the network instead."""
    await ctx.cluster.place_on(destination, await ctx.cluster.host_of(source) or ctx.cluster.node_id)


def _replica(row: ParticipantReplication) -> dict[str, Any]:
    return {
        "sourceStageArn": row.source_stage_arn,
        "participantId": row.participant_id,
        "sourceSessionId": row.source_session_id,
        "destinationStageArn": row.destination_stage_arn,
        "destinationSessionId": row.destination_session_id,
        "replicationState": "STOPPED" if row.replication_state == "STOPPED" else "ACTIVE",
    }
