"""Sends each participant to the node hosting its stage: what the WHIP endpoints and the events WebSocket ask."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from openstage.cluster.backend import ClusterUnavailable
from openstage.cluster.node import Cluster
from openstage.cluster.relay import relay, upstream_url
from openstage.cluster.whip_relay import relay_whip
from openstage.dataplane.whip import CORS_HEADERS
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.cluster")


class Router:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    async def locate(self, stage_arn: str) -> str | None:
        """The public URL of the node hosting the stage, placing it if needed; None when it is this node."""
        try:
            node = await self._cluster.place(stage_arn)
        except ClusterUnavailable as error:
            log.error("%s; serving the participant here", error)
            return None
        return None if node.node_id == self._cluster.node_id else node.url

    async def whip(self, request: Request, stage_arn: str) -> Response | None:
        """A 307 to the same path on the hosting node (docs 2.4: method, body and headers kept), or for a browser
        (it sends ``Origin``, and would drop the token on the redirect) that node's answer, relayed; None when the
        stage is on this node."""
        url = await self.locate(stage_arn)
        if url is None:
            return None
        query = request.url.query
        target = f"{url}{request.url.path}" + (f"?{query}" if query else "")
        if "origin" in request.headers:
            return await relay_whip(request, target)
        return Response(status_code=307, headers={"Location": target, **CORS_HEADERS})

    async def forward(self, websocket: WebSocket, claims: ParticipantClaims, token: str | None) -> bool:
        """Relays the events WebSocket to the hosting node and returns True once it closed; False to serve it here."""
        url = await self.locate(claims.stage_arn)
        if url is None:
            return False
        await relay(websocket, upstream_url(url, websocket), token)
        return True
