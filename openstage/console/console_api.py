"""The console's read API: composed views the AWS API would need one call per row for.

Everything that changes state goes through the AWS API itself (the page calls it with its
session cookie), so the console exercises the same validation and errors as any SDK.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.console.console_auth import ConsoleAuth, message
from openstage.console.console_views import overview, stage_page
from openstage.store.db import Database

NO_STORE = {"Cache-Control": "no-store"}


class ConsoleApi:
    def __init__(self, db: Database, auth: ConsoleAuth) -> None:
        self._db = db
        self._auth = auth

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/console/stages", self.stages, methods=["GET"]),
            Route("/api/console/stage", self.stage, methods=["GET"]),
        ]

    async def stages(self, request: Request) -> Response:
        refused = self._auth.refusal(request)
        if refused is not None:
            return refused
        return JSONResponse({"stages": await overview(self._db)}, headers=NO_STORE)

    async def stage(self, request: Request) -> Response:
        """``?arn=<stage ARN>`` and optionally ``&session=<session id>`` (default: the active or newest session)."""
        refused = self._auth.refusal(request)
        if refused is not None:
            return refused
        arn = request.query_params.get("arn")
        if not arn:
            return message(400, "Give the stage as ?arn=<stage ARN>.")
        try:
            page = await stage_page(self._db, arn, request.query_params.get("session") or None)
        except LookupError as missing:
            return message(404, str(missing))
        return JSONResponse(page, headers=NO_STORE)
