"""The console page in Chromium, driven by Playwright: create a stage, mint a token, join, watch it live, disconnect.

One participant joins through the join page the console links to (Chromium's fake camera), a
second one with the Python SDK; the console must show both without a reload, from its live
feed. ``OPENSTAGE_SCREENSHOTS=1`` also writes the screenshots the docs show into ``docs/``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.browser import Namespace, start_server
from tests.events_client import claims_of
from tests.server import Server

TIMEOUT_MS = 60_000
DOCS = Path(__file__).parents[2] / "docs"
VIEWPORT = {"width": 1280, "height": 1000}


def screenshot(page: Any, name: str, folder: Path) -> None:
    page.screenshot(path=str(folder / name), full_page=True)
    if os.environ.get("OPENSTAGE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), full_page=True)


def until(page: Any, expression: str, what: str) -> None:
    """Polls ``expression`` with evaluate: wait_for_function would need eval, which the pages' CSP forbids."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(200)


async def publish_until_kicked(token: str) -> str:
    """Joins with the Python SDK, publishes a test pattern, and returns why the stage ended the participation."""
    async with Participant(token, ice_addresses=["127.0.0.1"]) as participant:
        await participant.publish(video=PatternVideoTrack(), audio=ToneAudioTrack())
        left = await asyncio.wait_for(participant.wait_left(), 120)
        return left.code


def test_a_stage_from_creation_to_disconnect(
    new_page: Callable[..., Any], ns_server: Server, netns: Namespace, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    console = new_page(viewport=VIEWPORT)
    console.goto(f"{ns_server.url}/console")
    expect(console.locator("#live")).to_have_text("live")
    expect(console.locator("#who")).to_have_text("development mode")

    console.fill("#create-stage input[name=name]", "friday-show")
    console.click("#create-stage button")
    expect(console.locator("#stage-name")).to_have_text("friday-show")
    arn = console.locator("#stage-arn").inner_text()
    assert arn.startswith("arn:aws:ivs:us-east-1:123456789012:stage/")

    console.fill("#token-form input[name=userId]", "dana")
    console.fill("#token-form textarea[name=attributes]", "role=host\nseat=1")
    console.fill("#token-form input[name=duration]", "30")
    console.click("#token-form button[type=submit]")
    expect(console.locator("#token-result")).to_be_visible()
    token = console.locator("#token-value").input_value()
    claims = claims_of(token)
    assert claims["user_id"] == "dana" and claims["attributes"] == {"role": "host", "seat": "1"}
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": True}
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert console.locator("#join-link").get_attribute("href") == f"/join#token={token}"
    dana = claims["jti"]

    with console.expect_popup() as popup:
        console.click("#join-link")
    join_page = popup.value
    until(join_page, "() => !!document.querySelector('#tiles video')?.srcObject", "the join page's preview")
    join_page.locator("#publish").click()
    expect(join_page.locator("body")).to_have_attribute("data-state", "publishing")

    viewer = console.locator("#token-form input[name=userId]")
    viewer.fill("erin")
    console.fill("#token-form textarea[name=attributes]", "")
    console.click("#token-form button[type=submit]")
    expect(console.locator("#token-value")).not_to_have_value(token)
    erin_token = console.locator("#token-value").input_value()
    erin = claims_of(erin_token)["jti"]
    erin_left = netns.spawn(lambda: publish_until_kicked(erin_token))

    for participant_id in (dana, erin):
        row = console.locator(f'#participants tr[data-participant="{participant_id}"]')
        expect(row).to_have_attribute("data-state", "CONNECTED")
        expect(row.locator(".publishing")).to_have_text("publishing")
    expect(console.locator("#stage-events li[data-name=JOINED]")).to_have_count(2)
    session = console.locator("#sessions tr[data-session]")
    expect(session).to_have_count(1)
    expect(console.locator("#stage-session")).to_have_text(session.get_attribute("data-session") or "?")
    screenshot(console, "console-stage.png", tmp_path)

    console.click("text=← all stages")
    stage_row = console.locator(f'#stages tr[data-arn="{arn}"]')
    expect(stage_row.locator(".participants")).to_have_text("2")
    expect(stage_row.locator(".publishers")).to_have_text("2")
    expect(
        console.locator(f'#timeline li.participant-event[data-participant="{erin}"][data-name=JOINED]')
    ).to_have_count(1)
    expect(console.locator('#timeline li.eventbridge-event[data-name="Participant Published"]').first).to_be_visible()
    screenshot(console, "console.png", tmp_path)

    # Disconnect erin (the SDK participant) from the stage page: it hears why, and the console shows it gone.
    stage_row.locator("a").click()
    erin_row = console.locator(f'#participants tr[data-participant="{erin}"]')
    console.once("dialog", lambda dialog: dialog.accept())
    erin_row.locator("button.disconnect").click()
    assert erin_left.result(60) == "PARTICIPANT_DISCONNECTED"
    expect(erin_row).to_have_attribute("data-state", "DISCONNECTED")
    expect(erin_row.locator("button.disconnect")).to_have_count(0)

    # Dana, on the join page, is told she was removed.
    dana_row = console.locator(f'#participants tr[data-participant="{dana}"]')
    console.once("dialog", lambda dialog: dialog.accept())
    dana_row.locator("button.disconnect").click()
    expect(dana_row).to_have_attribute("data-state", "DISCONNECTED")
    expect(join_page.locator("#message")).to_contain_text("removed")

    # Deleting the stage takes it off the list.
    console.once("dialog", lambda dialog: dialog.accept())
    console.click("#delete-stage")
    expect(console.locator("#stages-view")).to_be_visible()
    expect(console.locator(f'#stages tr[data-arn="{arn}"]')).to_have_count(0)
    assert arn not in [stage["arn"] for stage in ns_server.client().list_stages()["stages"]]

    # A bad name comes back with the API's own validation message.
    console.fill("#create-stage input[name=name]", "no spaces")
    console.click("#create-stage button")
    expect(console.locator("#toast")).to_contain_text("ValidationException: 1 validation error detected")


def test_with_credentials_the_page_asks_for_them_first(
    new_page: Callable[..., Any], netns: Namespace, tmp_path: Path
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    server, forwarder = start_server(netns, tmp_path / "data", ["--access-key", "AKIDPAGE", "--secret-key", "s3cret"])
    try:
        page = new_page(viewport=VIEWPORT)
        page.goto(f"{server.url}/")
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#stages-view")).to_be_hidden()
        page.fill("input[name=accessKeyId]", "AKIDPAGE")
        page.fill("input[name=secretAccessKey]", "wrong")
        page.click("#login-form button")
        expect(page.locator("#login-error")).to_have_text("The access key id or secret access key is not right.")
        page.fill("input[name=secretAccessKey]", "s3cret")
        page.click("#login-form button")
        expect(page.locator("#who")).to_have_text("signed in as AKIDPAGE")
        expect(page.locator("#live")).to_have_text("live")
        assert "openstage_console" not in page.evaluate("document.cookie")  # HttpOnly: scripts never see it
        page.fill("#create-stage input[name=name]", "secured")
        page.click("#create-stage button")
        expect(page.locator("#stage-name")).to_have_text("secured")
        assert [s["name"] for s in server.client("AKIDPAGE", "s3cret").list_stages()["stages"]] == ["secured"]
        page.click("#logout")
        expect(page.locator("#login-view")).to_be_visible()
        page.reload()
        expect(page.locator("#login-view")).to_be_visible()
    finally:
        server.stop()
        forwarder.close()
