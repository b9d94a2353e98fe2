"""Compositions: GetComposition and ListCompositions over the rows server-side composition keeps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from openstage.control.context import Context
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import get_or_404, tags_for
from openstage.store.models import Composition, ResourceReference


def _view(row: Composition, tags: dict[str, str]) -> dict[str, Any]:
    """Serves Composition and CompositionSummary alike: the serializer keeps only each shape's members,
    so a summary's destinations shrink to {id, state, startTime, endTime}."""
    return {
        "arn": row.arn,
        "stageArn": row.stage_arn,
        "state": row.state,
        "layout": row.layout,
        "destinations": row.destinations,
        "tags": tags,
        "startTime": row.start_time,
        "endTime": row.end_time,
    }


@operation("GetComposition")
async def get_composition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await get_or_404(session, Composition, params["arn"], "Composition")
        tags = await tags_for(session, [row.arn])
    return {"composition": _view(row, tags[row.arn])}


@operation("ListCompositions")
async def list_compositions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    statement = select(Composition)
    filters: dict[str, Any] = {}
    if "filterByStageArn" in params:
        filters["filterByStageArn"] = params["filterByStageArn"]
        statement = statement.where(Composition.stage_arn == params["filterByStageArn"])
    if "filterByEncoderConfigurationArn" in params:
        filters["filterByEncoderConfigurationArn"] = params["filterByEncoderConfigurationArn"]
        users = select(ResourceReference.user_arn).where(
            ResourceReference.used_arn == params["filterByEncoderConfigurationArn"]
        )
        statement = statement.where(Composition.arn.in_(users))
    async with ctx.db.read() as session:
        # Newest first, as AWS's list-compositions example shows.
        rows, next_token = await paginate(
            session, statement, Composition.pk, "ListCompositions", params, filters, descending=True
        )
        tags = await tags_for(session, [row.arn for row in rows])
    return {"compositions": [_view(row, tags[row.arn]) for row in rows], "nextToken": next_token}
