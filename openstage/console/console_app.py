"""The live console at ``/`` and ``/console``: one static page, its assets, and the console's routes.

The page is plain HTML, CSS and an ES module with no build step and nothing from outside this
folder, so it works offline. Its Content-Security-Policy allows only this origin: no inline
script, nothing loaded from elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.console.console_api import ConsoleApi
from openstage.console.console_auth import ConsoleAuth, message
from openstage.console.console_feed import ConsoleFeed
from openstage.console.console_session import ConsoleSessions
from openstage.control.context import Context

HERE = Path(__file__).parent
PAGE = HERE / "console.html"
# The only files served from static/: the join page's assets there are its own business.
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class Console:
    def __init__(self, context: Context, credentials: Mapping[str, str]) -> None:
        self.auth = ConsoleAuth(context.settings, ConsoleSessions(credentials))
        self.api = ConsoleApi(context.db, self.auth)
        self.feed = ConsoleFeed(context.db, context.events, self.auth.refusal)

    def routes(self) -> list[BaseRoute]:
        """GET only: POST / and the like stay the control API's (and answer as unknown operations)."""
        return [
            Route("/", self.page, methods=["GET"]),
            Route("/console", self.page, methods=["GET"]),
            Route("/console/static/{name}", self.asset, methods=["GET"]),
            *self.auth.routes(),
            *self.api.routes(),
            *self.feed.routes(),
        ]

    def close(self) -> None:
        self.feed.close()

    async def page(self, _request: Request) -> Response:
        """The page holds no data: it asks for a login itself when the server has credentials."""
        return FileResponse(PAGE, media_type="text/html", headers=HEADERS)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return message(404, f"No console asset named {name!r}.")
        return FileResponse(HERE / "static" / name, media_type=ASSETS[name], headers=HEADERS)
