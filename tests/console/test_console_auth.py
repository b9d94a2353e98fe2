"""Console access: open on a development server, behind a login with credentials configured, SigV4 unchanged."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from openstage.console.console_session import COOKIE, ConsoleSessions
from tests.events.test_stream_auth import open_stream
from tests.server import Server

ACCESS_KEY, SECRET = "AKIDCONSOLE", "console-secret"
CONSOLE = {"X-Openstage-Console": "1"}
# Everything that shows console data or changes state, as the page requests it.
GUARDED_READS = ["/api/console/stages", "/api/console/stage?arn=x", "/api/console/feed"]


@pytest.fixture(scope="module")
def secured(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite", args=["--access-key", ACCESS_KEY, "--secret-key", SECRET])


@pytest.fixture(scope="module")
def dev(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite")


@pytest.fixture
def browser(secured: Server) -> Iterator[httpx.Client]:
    """A client that keeps cookies, like the console page's browser."""
    with httpx.Client(base_url=secured.url, timeout=10) as client:
        yield client


def log_in(client: httpx.Client, secret: str = SECRET) -> httpx.Response:
    return client.post(
        "/api/console/login", json={"accessKeyId": ACCESS_KEY, "secretAccessKey": secret}, headers=CONSOLE
    )


def test_without_a_login_nothing_but_the_empty_page_is_served(browser: httpx.Client, secured: Server) -> None:
    page = browser.get("/")
    assert page.status_code == 200 and "openstage console" in page.text
    assert browser.get("/api/console/session").json() == {"devMode": False, "accessKeyId": None}
    for path in GUARDED_READS:
        refused = browser.get(path)
        assert refused.status_code == 401, path
        assert "Log in to the console" in refused.json()["message"]
    stream = browser.get("/api/events/stream")
    assert stream.status_code == 403 and "Missing Authentication Token" in stream.text
    for operation, body in [
        ("CreateStage", {"name": "nope"}),
        ("CreateParticipantToken", {"stageArn": "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEfGhIjKl"}),
    ]:
        refused = browser.post(f"/{operation}", json=body, headers=CONSOLE)
        assert refused.status_code == 403
        assert refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
        assert "log in to the console again" in refused.json()["message"]
    assert secured.client(ACCESS_KEY, SECRET).list_stages()["stages"] == []  # and nothing was created


def test_a_wrong_secret_gets_no_session(browser: httpx.Client) -> None:
    started = time.monotonic()
    refused = log_in(browser, "wrong")
    assert (
        refused.status_code == 401
        and refused.json()["message"] == "The access key id or secret access key is not right."
    )
    assert time.monotonic() - started >= 1.0  # guesses are slowed down
    assert COOKIE not in browser.cookies
    assert browser.get("/api/console/stages").status_code == 401
    bad = browser.post("/api/console/login", content=b"{not json", headers=CONSOLE)
    assert bad.status_code == 400 and "accessKeyId" in bad.json()["message"]
    no_header = browser.post("/api/console/login", json={"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET})
    assert no_header.status_code == 403 and COOKIE not in browser.cookies


def test_a_login_gives_an_httponly_expiring_cookie_that_opens_the_console(
    browser: httpx.Client, secured: Server
) -> None:
    answer = log_in(browser)
    assert answer.status_code == 200 and answer.json() == {"devMode": False, "accessKeyId": ACCESS_KEY}
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie and "path=/" in cookie
    assert browser.get("/api/console/session").json() == {"devMode": False, "accessKeyId": ACCESS_KEY}
    created = browser.post("/CreateStage", json={"name": "from-the-console"}, headers=CONSOLE)
    assert created.status_code == 200, created.text
    arn = created.json()["stage"]["arn"]
    stages = browser.get("/api/console/stages").json()["stages"]
    assert [(stage["arn"], stage["name"]) for stage in stages] == [(arn, "from-the-console")]
    token = browser.post("/CreateParticipantToken", json={"stageArn": arn, "userId": "alice"}, headers=CONSOLE)
    assert token.status_code == 200 and token.json()["participantToken"]["userId"] == "alice"
    with browser.stream("GET", "/api/events/stream") as stream:
        assert stream.status_code == 200
    # The API still takes SigV4 from SDKs, and the console's cookie is no use without its header.
    assert [stage["arn"] for stage in secured.client(ACCESS_KEY, SECRET).list_stages()["stages"]] == [arn]
    plain = browser.post("/ListStages", json={})
    assert plain.status_code == 403 and plain.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    foreign = browser.post("/ListStages", json={}, headers={**CONSOLE, "Origin": "http://evil.example"})
    assert foreign.status_code == 403 and "own origin" in foreign.json()["message"]
    assert browser.post("/DeleteStage", json={"arn": arn}, headers=CONSOLE).status_code == 200


def test_logout_and_expiry_end_the_session(browser: httpx.Client, secured: Server) -> None:
    assert log_in(browser).status_code == 200
    assert browser.post("/api/console/logout", headers=CONSOLE).status_code == 204
    assert COOKIE not in browser.cookies
    assert browser.get("/api/console/stages").status_code == 401
    stale = ConsoleSessions({ACCESS_KEY: SECRET}).login(ACCESS_KEY, SECRET, now=time.time() - 8 * 3600 - 1)
    browser.cookies.set(COOKIE, stale or "")
    assert browser.get("/api/console/stages").status_code == 401
    assert browser.post("/ListStages", json={}, headers=CONSOLE).status_code == 403
    status, _ = open_stream(f"{secured.url}/api/events/stream", {"Cookie": f"{COOKIE}={stale}"})
    assert status == 403


def test_development_mode_needs_no_login_on_this_machine(dev: Server) -> None:
    with httpx.Client(base_url=dev.url, timeout=10) as client:
        assert client.get("/api/console/session").json() == {"devMode": True, "accessKeyId": None}
        created = client.post("/CreateStage", json={"name": "dev"}, headers=CONSOLE)
        assert created.status_code == 200, created.text
        assert [stage["name"] for stage in client.get("/api/console/stages").json()["stages"]] == ["dev"]
        login = client.post("/api/console/login", json={"accessKeyId": "a", "secretAccessKey": "b"}, headers=CONSOLE)
        assert login.status_code == 400 and "development mode" in login.json()["message"]
        # A name re-bound to 127.0.0.1 (DNS rebinding) reaches neither the data nor the API.
        rebound = {"Host": "attacker.example"}
        refused = client.get("/api/console/stages", headers=rebound)
        assert refused.status_code == 403 and "not this server" in refused.json()["message"]
        assert client.post("/ListStages", json={}, headers={**CONSOLE, **rebound}).status_code == 403
