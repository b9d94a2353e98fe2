"""Who may see the console's data: anyone on this machine in development mode, otherwise a logged-in user.

Login trades an access key id and secret the server is configured with for the session cookie
(console_session.py); nothing else the console serves, beyond the empty page, is reachable without it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.config import Settings
from openstage.console.console_session import COOKIE, HEADER, ConsoleSessions
from openstage.control.app import addressed_here

FAILED_LOGIN_DELAY_SECONDS = 1.0  # slows down guessing; a person mistyping barely notices
MAX_LOGIN_BYTES = 4096


def message(status: int, text: str) -> JSONResponse:
    return JSONResponse({"message": text}, status, headers={"Cache-Control": "no-store"})


class ConsoleAuth:
    def __init__(self, settings: Settings, sessions: ConsoleSessions) -> None:
        self._settings = settings
        self.sessions = sessions

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/console/session", self.session, methods=["GET"]),
            Route("/api/console/login", self.login, methods=["POST"]),
            Route("/api/console/logout", self.logout, methods=["POST"]),
        ]

    def refusal(self, request: Request) -> Response | None:
        """The response refusing a request for console data, or None to let it through."""
        if self.sessions.dev_mode:
            host = request.headers.get("host", "")
            if not addressed_here(self._settings, host):
                return message(
                    403,
                    f"Host '{host}' is not this server: without credentials the console answers "
                    "only requests addressed to a loopback address or its public URL.",
                )
            return None
        if self.sessions.caller(request.cookies.get(COOKIE)) is None:
            return message(401, "Log in to the console with an access key id and secret access key of this server.")
        return None

    async def session(self, request: Request) -> Response:
        """What the page needs to decide between showing the console and asking for a login."""
        caller = None if self.sessions.dev_mode else self.sessions.caller(request.cookies.get(COOKIE))
        body = {"devMode": self.sessions.dev_mode, "accessKeyId": caller}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def login(self, request: Request) -> Response:
        if HEADER not in request.headers:
            return message(403, f"Log in from the console page (the {HEADER} header is missing).")
        if self.sessions.dev_mode:
            return message(400, "This server has no credentials configured (development mode): no login is needed.")
        given = await _credentials(request)
        if given is None:
            return message(400, 'Send JSON {"accessKeyId": "...", "secretAccessKey": "..."}.')
        cookie = self.sessions.login(*given)
        if cookie is None:
            await asyncio.sleep(FAILED_LOGIN_DELAY_SECONDS)
            return message(401, "The access key id or secret access key is not right.")
        response = JSONResponse({"devMode": False, "accessKeyId": given[0]}, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.sessions.lifetime_seconds,
            httponly=True,
            samesite="strict",
            secure=self._settings.resolved_public_url.startswith("https://"),
        )
        return response

    async def logout(self, request: Request) -> Response:
        if HEADER not in request.headers:
            return message(403, f"Log out from the console page (the {HEADER} header is missing).")
        response = Response(status_code=204)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict")
        return response


async def _credentials(request: Request) -> tuple[str, str] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BYTES:
            return None
    try:
        given: Any = json.loads(body)
    except ValueError:
        return None
    if not isinstance(given, dict):
        return None
    access_key, secret_key = given.get("accessKeyId"), given.get("secretAccessKey")
    if not isinstance(access_key, str) or not isinstance(secret_key, str) or not access_key or not secret_key:
        return None
    return access_key, secret_key
