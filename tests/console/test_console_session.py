"""The console session cookie: issued for the right credentials only; refused expired, forged or cross-origin."""

from __future__ import annotations

import base64
import json
import time

import pytest

from openstage.console.console_session import COOKIE, HEADER, ConsoleSessionError, ConsoleSessions

CREDENTIALS = {"AKIDCONSOLE": "right-secret", "AKIDOTHER": "other-secret"}
HOST = {"host": "127.0.0.1:8080"}


def test_login_needs_the_right_secret_for_the_key() -> None:
    sessions = ConsoleSessions(CREDENTIALS)
    assert sessions.login("AKIDCONSOLE", "wrong") is None
    assert sessions.login("AKIDCONSOLE", "other-secret") is None  # another key's secret
    assert sessions.login("AKIDUNKNOWN", "right-secret") is None
    cookie = sessions.login("AKIDCONSOLE", "right-secret")
    assert cookie is not None and sessions.caller(cookie) == "AKIDCONSOLE"


def test_a_cookie_expires_after_its_lifetime() -> None:
    sessions = ConsoleSessions(CREDENTIALS, lifetime_seconds=60)
    issued = time.time()
    cookie = sessions.login("AKIDCONSOLE", "right-secret", now=issued)
    assert sessions.caller(cookie, now=issued + 59) == "AKIDCONSOLE"
    assert sessions.caller(cookie, now=issued + 60) is None


def test_a_forged_or_altered_cookie_is_refused() -> None:
    sessions = ConsoleSessions(CREDENTIALS)
    cookie = sessions.login("AKIDOTHER", "other-secret")
    assert cookie is not None
    payload, signature = cookie.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for changed in ({**claims, "k": "AKIDCONSOLE"}, {**claims, "e": claims["e"] + 3600}):
        forged = base64.urlsafe_b64encode(json.dumps(changed).encode()).decode().rstrip("=")
        assert sessions.caller(f"{forged}.{signature}") is None
    assert sessions.caller(f"{payload}.{signature[:-2]}AA") is None
    for junk in ["", "no-dot", "a.b.c", "!!!.???", f"{payload}."]:
        assert sessions.caller(junk) is None
    # Issued by a server whose secret was since changed: useless.
    assert ConsoleSessions({"AKIDOTHER": "rotated"}).caller(cookie) is None


def test_only_requests_with_the_console_header_skip_sigv4() -> None:
    sessions = ConsoleSessions(CREDENTIALS)
    cookie = sessions.login("AKIDCONSOLE", "right-secret")
    assert cookie is not None
    assert sessions.admits(HOST, {COOKIE: cookie}) is False  # a cookie alone is not a console request
    assert sessions.admits({**HOST, HEADER: "1"}, {COOKIE: cookie}) is True
    with pytest.raises(ConsoleSessionError, match="log in to the console again"):
        sessions.admits({**HOST, HEADER: "1"}, {})
    with pytest.raises(ConsoleSessionError, match="own origin"):
        sessions.admits({**HOST, HEADER: "1", "origin": "http://evil.example"}, {COOKIE: cookie})
    assert sessions.admits({**HOST, HEADER: "1", "origin": "http://127.0.0.1:8080"}, {COOKIE: cookie}) is True


def test_development_mode_needs_no_session_but_still_checks_the_origin() -> None:
    sessions = ConsoleSessions({})
    assert sessions.dev_mode
    assert sessions.admits({**HOST, HEADER: "1"}, {}) is True
    assert sessions.login("anything", "anything") is None
    with pytest.raises(ConsoleSessionError, match="own origin"):
        sessions.admits({**HOST, HEADER: "1", "origin": "http://localhost:3000"}, {})
