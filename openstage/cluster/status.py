"""``GET /api/cluster``: the cluster as the answering node sees it, for ``openstage cluster status`` and the console.

Authentication is the caller's ``authorize`` (the same gate as ``/api/events``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.cluster.node import Cluster
from openstage.events.stream import Authorize

PATH = "/api/cluster"

# Returns the response refusing the request, or None to let it through.


async def snapshot(cluster: Cluster) -> dict[str, Any]:
    """Every live node with its load and stages; stages on nodes that died and are not reaped yet, apart."""
    nodes = await cluster.backend.nodes()
    placements = await cluster.backend.placements()
    listed = []
    for node_id, info in sorted(nodes.items()):
        stages = sorted(arn for arn, host in placements.items() if host == node_id)
        listed.append({**asdict(info), "stageArns": stages})
    orphaned = {arn: host for arn, host in sorted(placements.items()) if host not in nodes}
    return {"answeredBy": cluster.node_id, "nodes": listed, "deadNodeStages": orphaned}


class ClusterStatus:
    def __init__(self, cluster: Cluster, authorize: Authorize) -> None:
        self._cluster = cluster
        self._authorize = authorize

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self.endpoint, methods=["GET"])]

    async def endpoint(self, request: Request) -> Response:
        refused = self._authorize(request)
        if refused is not None:
            return refused
        return JSONResponse(await snapshot(self._cluster))
