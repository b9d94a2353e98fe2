"""The join page at ``/join``: a participant's way into a stage from any browser, with nothing to install.

A token is all it needs (``/join#token=<JWT>`` or pasted), so the page asks for no console
login: the token already is the authorization, checked by the data plane. The page and its ES
modules (``static/join.*``, ``static/ivs/*``: a small client of the IVS protocol) come from
this package only, which is why it works offline.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

HERE = Path(__file__).parent
PAGE = HERE / "join.html"
# What the page may load, by URL path under /join/static/; nothing else in static/ is served from here.
ASSETS = {
    "join.js": "text/javascript",
    "join.css": "text/css",
    "ivs/token.js": "text/javascript",
    "ivs/events.js": "text/javascript",
    "ivs/whip.js": "text/javascript",
    "ivs/stage.js": "text/javascript",
}
HEADERS = {
    # The token names the stage's endpoints, which need not be this origin (a public URL, another node).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' http: https: ws: wss:; "
        "img-src 'self' data:; media-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def routes() -> list[BaseRoute]:
    return [
        Route("/join", page, methods=["GET"]),
        Route("/join/static/{name:path}", asset, methods=["GET"]),
    ]


async def page(_request: Request) -> Response:
    return FileResponse(PAGE, media_type="text/html", headers=HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return PlainTextResponse(f"The join page has no asset named {name!r}.", 404, headers=HEADERS)
    return FileResponse(HERE / "static" / name, media_type=ASSETS[name], headers=HEADERS)
