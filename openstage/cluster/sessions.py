"""What the cluster reads of the stage records: live sessions and their connected participants, by stage."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select

from openstage.store.db import Database
from openstage.store.models import Participant, StageSession


async def connected_participants(db: Database, stage_arns: Collection[str]) -> int:
    """How many participants are connected to the open sessions of ``stage_arns``: a node's load."""
    if not stage_arns:
        return 0
    async with db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Participant)
            .join(StageSession, StageSession.session_id == Participant.session_id)
            .where(
                Participant.stage_arn.in_(stage_arns),
                Participant.state == "CONNECTED",
                StageSession.end_time.is_(None),
            )
        )
    return int(count or 0)


async def live_stages(db: Database, stage_arns: Collection[str]) -> set[str]:
    """Those of ``stage_arns`` that have an open session."""
    if not stage_arns:
        return set()
    async with db.read() as session:
        rows = await session.scalars(
            select(StageSession.stage_arn)
            .where(StageSession.stage_arn.in_(stage_arns), StageSession.end_time.is_(None))
            .distinct()
        )
        return set(rows)
