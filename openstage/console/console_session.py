"""The console's login session: a signed, expiring cookie that stands in for SigV4 in the console's browser requests.

The cookie carries the access key id and an expiry, signed with a key derived from that access
key's secret, so it needs no server-side state, dies when the secret changes, and cannot be
made by anyone who could not sign SigV4 requests anyway. A browser request counts as a console
request only with the ``X-Openstage-Console`` header: a page on another origin cannot send it
without a CORS preflight the server never grants, so the cookie alone drives nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

COOKIE = "openstage_console"
HEADER = "x-openstage-console"  # lower case, as request header mappings are keyed here
LIFETIME_SECONDS = 8 * 3600  # a working day; then the console asks for the credentials again
_KEY_LABEL = b"openstage console session v1"


class ConsoleSessionError(Exception):
    """A console request that may not act; the message tells the user what to do."""


class ConsoleSessions:
    """Issues and checks console session cookies for the configured credentials (none: development mode)."""

    def __init__(self, credentials: Mapping[str, str], lifetime_seconds: int = LIFETIME_SECONDS) -> None:
        self._credentials = dict(credentials)
        self.lifetime_seconds = lifetime_seconds

    @property
    def dev_mode(self) -> bool:
        return not self._credentials

    def login(self, access_key: str, secret_key: str, now: float | None = None) -> str | None:
        """The cookie value for a correct access key id and secret, None otherwise."""
        secret = self._credentials.get(access_key)
        # compared even for unknown keys, so timing does not tell which keys exist
        matches = hmac.compare_digest((secret or "").encode(), secret_key.encode())
        if secret is None or not matches:
            return None
        expires = int(now if now is not None else time.time()) + self.lifetime_seconds
        payload = _b64(json.dumps({"k": access_key, "e": expires}, separators=(",", ":")).encode())
        return f"{payload}.{_sign(secret, payload)}"

    def caller(self, cookie: str | None, now: float | None = None) -> str | None:
        """The access key id a valid, unexpired cookie was issued to; None for anything else."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            access_key, expires = str(claims["k"]), int(claims["e"])
        except (ValueError, KeyError, TypeError):
            return None
        secret = self._credentials.get(access_key)
        if secret is None or not hmac.compare_digest(_sign(secret, payload), signature):
            return None
        if expires <= (now if now is not None else time.time()):
            return None
        return access_key

    def admits(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        """Whether a control-plane request is the console's and may skip SigV4.

        False for requests without the console header (they are checked as SigV4 calls);
        raises :class:`ConsoleSessionError` for a console request from another origin or
        without a valid session.
        """
        if HEADER not in headers:
            return False
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != headers.get("host", ""):
            raise ConsoleSessionError(f"Console requests must come from the console's own origin, not {origin}.")
        if self.dev_mode or self.caller(cookies.get(COOKIE)) is not None:
            return True
        raise ConsoleSessionError("The console session is missing or has expired: log in to the console again.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(secret: str, payload: str) -> str:
    key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
