"""The official ``amazon-ivs-web-broadcast`` SDK, unmodified, in Chromium, against openstage (issue 5 part 1).

The page (``official_sdk_page.html``) is a web app on its own origin, so every call to openstage
is cross-origin as it is for IVS customers; it uses only the SDK's documented ``Stage`` API with
an openstage token and no ``IVS_CLIENT_OVERRIDES``. Media is checked from the receiving side:
inbound-rtp counters growing, the video element advancing, and frames that are not black.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from openstage.client.participant import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.browser import IVS_WEB_SDK_VERSION, Namespace, Site, installed_version, poll
from tests.server import Server

PAGE = Path(__file__).with_name("official_sdk_page.html")
# Chromium's fake camera draws a bright green picture; black frames average near 0.
NOT_BLACK = 20


@pytest.fixture(scope="module")
def app(netns: Namespace, ivs_web_sdk: Path) -> Iterator[Site]:
    """The web app: the page and the SDK bundle on their own origin."""
    site = Site(netns, {"/": PAGE, "/amazon-ivs-web-broadcast.js": ivs_web_sdk})
    yield site
    site.close()


def open_app(new_page: Callable[..., Any], app: Site) -> Any:
    page = new_page()
    page.goto(f"{app.url}/")
    return page


def token(ivs: Any, stage_arn: str, user_id: str, *capabilities: str) -> dict[str, str]:
    return ivs.create_participant_token(stageArn=stage_arn, userId=user_id, capabilities=list(capabilities))[
        "participantToken"
    ]


def wait_event(page: Any, *entry: str | bool) -> None:
    """Waits until ``window.events`` holds an entry starting with ``entry``."""
    found = "wanted => window.events.some(e => wanted.every((value, i) => e[i] === value))"
    poll(page, found, list(entry), f"event {entry}")


def assert_plays(page: Any, remote_id: str) -> None:
    """Frames decoded and audio packets received keep growing, playback advances, and the picture is not black."""
    poll(page, "id => window.remote[id] !== undefined", remote_id, f"streams of {remote_id}")
    flowing = "async id => { const c = await window.inbound(id); return c.video > 0 && c.audio > 0 && c; }"
    before = poll(page, flowing, remote_id, f"media from {remote_id}")
    played = page.evaluate("id => window.remote[id].video.currentTime", remote_id)
    poll(
        page,
        "async ([id, frames, packets, played]) => { const c = await window.inbound(id); "
        "return c.video >= frames + 20 && c.audio > packets && window.remote[id].video.currentTime > played; }",
        [remote_id, before["video"], before["audio"], played],
        f"20 more frames from {remote_id}",
    )
    poll(page, f"id => window.brightness(id) > {NOT_BLACK}", remote_id, f"a picture from {remote_id} that is not black")


def brightness(frame: av.VideoFrame) -> float:
    """Mean over pixels of the brightest channel: Chromium's fake camera is pure green, so luma alone undersells it."""
    return float(frame.to_ndarray(format="rgb24").max(axis=2).mean())


def test_the_sdk_bundle_comes_from_npm(ivs_web_sdk: Path) -> None:
    assert ivs_web_sdk.stat().st_size > 100_000
    assert installed_version(ivs_web_sdk) == IVS_WEB_SDK_VERSION or IVS_WEB_SDK_VERSION == "latest"
    assert "IVSBroadcastClient" in ivs_web_sdk.read_text()[:2000]


def test_two_pages_exchange_media_then_one_leaves_and_the_other_is_disconnected(
    ns_ivs: Any, new_page: Callable[..., Any], app: Site
) -> None:
    stage_arn = ns_ivs.create_stage(name="official-sdk")["stage"]["arn"]
    alice_token = token(ns_ivs, stage_arn, "alice", "PUBLISH", "SUBSCRIBE")
    bob_token = token(ns_ivs, stage_arn, "bob", "PUBLISH", "SUBSCRIBE")
    alice, bob = open_app(new_page, app), open_app(new_page, app)

    alice.evaluate("token => window.joinStage(token)", alice_token["token"])
    wait_event(alice, "connection", "connected")
    wait_event(alice, "publish", "local", "published")
    bob.evaluate("token => window.joinStage(token)", bob_token["token"])
    wait_event(bob, "publish", "local", "published")

    alice_id, bob_id = alice_token["participantId"], bob_token["participantId"]
    wait_event(alice, "joined", bob_id, "bob")
    wait_event(bob, "joined", alice_id, "alice")
    wait_event(alice, "streams", bob_id, "audio,video")
    assert_plays(alice, bob_id)
    assert_plays(bob, alice_id)
    participants = ns_ivs.list_participants(
        stageArn=stage_arn, sessionId=ns_ivs.get_stage(arn=stage_arn)["stage"]["activeSessionId"]
    )["participants"]
    assert {(p["userId"], p["state"], p["published"]) for p in participants} == {
        ("alice", "CONNECTED", True),
        ("bob", "CONNECTED", True),
    }

    bob.evaluate("window.setMuted('audio', true)")
    wait_event(alice, "mute", bob_id, "audio", True)
    bob.evaluate("window.setMuted('video', true)")
    wait_event(alice, "mute", bob_id, "video", True)

    bob.evaluate("window.stage.leave()")
    wait_event(alice, "left", bob_id)

    ns_ivs.disconnect_participant(stageArn=stage_arn, participantId=alice_id, reason="test over")
    wait_event(alice, "stage-left", "participant-disconnected")
    for page in (alice, bob):
        assert [e for e in page.evaluate("window.events") if e[0] == "error"] == []


def test_a_page_and_an_aiortc_participant_see_each_other(
    netns: Namespace, ns_ivs: Any, new_page: Callable[..., Any], app: Site
) -> None:
    stage_arn = ns_ivs.create_stage(name="sdk-and-aiortc")["stage"]["arn"]
    web_token = token(ns_ivs, stage_arn, "web", "PUBLISH", "SUBSCRIBE")
    python_token = token(ns_ivs, stage_arn, "python", "PUBLISH", "SUBSCRIBE")
    page = open_app(new_page, app)
    page.evaluate("token => window.joinStage(token)", web_token["token"])
    wait_event(page, "publish", "local", "published")

    web_id = web_token["participantId"]
    page_done = threading.Event()  # the participant stays (and publishes) until the page has checked playback

    async def python_participant() -> list[tuple[int, int, float]]:
        """Publishes a pattern and a tone; returns (width, height, brightness) of the page's first 30 frames."""
        async with Participant(python_token["token"], ice_addresses=["127.0.0.1"]) as participant:
            await participant.publish(PatternVideoTrack(), ToneAudioTrack())
            deadline = time.monotonic() + 60
            while web_id not in participant.roster and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            subscription = await participant.subscribe(web_id)
            frames = []
            async for frame in subscription.video_frames():
                frames.append((frame.width, frame.height, brightness(frame)))
                if len(frames) == 30:
                    break
            await asyncio.to_thread(page_done.wait, 120)
            return frames

    running = netns.spawn(python_participant)
    try:
        wait_event(page, "joined", python_token["participantId"], "python")
        assert_plays(page, python_token["participantId"])
    finally:
        page_done.set()
    frames = running.result(timeout=120)
    assert len(frames) == 30
    assert all(width > 0 and height > 0 for width, height, _ in frames)
    assert frames[-1][2] > NOT_BLACK


def test_closing_the_tab_is_leaving(ns_ivs: Any, new_page: Callable[..., Any], app: Site) -> None:
    """The SDK's unload beacon and the closed socket end the participation; the others see it leave."""
    stage_arn = ns_ivs.create_stage(name="tab-closed")["stage"]["arn"]
    stays, goes = (token(ns_ivs, stage_arn, user, "PUBLISH", "SUBSCRIBE") for user in ("stays", "goes"))
    staying, going = open_app(new_page, app), open_app(new_page, app)
    staying.evaluate("token => window.joinStage(token)", stays["token"])
    going.evaluate("token => window.joinStage(token)", goes["token"])
    wait_event(staying, "streams", goes["participantId"], "audio,video")

    going.close(run_before_unload=True)
    wait_event(staying, "left", goes["participantId"])
    session_id = ns_ivs.get_stage(arn=stage_arn)["stage"]["activeSessionId"]
    deadline = time.monotonic() + 60
    while True:  # the closed socket is noticed on its own schedule
        gone = ns_ivs.get_participant(stageArn=stage_arn, sessionId=session_id, participantId=goes["participantId"])
        if gone["participant"]["state"] == "DISCONNECTED" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert gone["participant"]["state"] == "DISCONNECTED"
    assert gone["participant"]["published"] is True


def test_the_sdk_hears_its_token_was_reused_and_its_stage_deleted(
    ns_ivs: Any, new_page: Callable[..., Any], app: Site
) -> None:
    stage_arn = ns_ivs.create_stage(name="reused-then-deleted")["stage"]["arn"]
    shared = token(ns_ivs, stage_arn, "twice", "PUBLISH", "SUBSCRIBE")["token"]
    first, second = open_app(new_page, app), open_app(new_page, app)
    first.evaluate("token => window.joinStage(token)", shared)
    wait_event(first, "publish", "local", "published")
    second.evaluate("token => window.joinStage(token)", shared)
    wait_event(first, "stage-left", "token-reused")
    wait_event(second, "publish", "local", "published")

    ns_ivs.delete_stage(arn=stage_arn)
    wait_event(second, "stage-left", "stage-deleted")


def test_the_sdk_and_the_join_page_share_a_stage(
    ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any], app: Site
) -> None:
    """AWS's client and openstage's own (``/join``) meet only through the protocol, and see each other."""
    stage_arn = ns_ivs.create_stage(name="sdk-and-join-page")["stage"]["arn"]
    sdk_token = token(ns_ivs, stage_arn, "sdk", "PUBLISH", "SUBSCRIBE")
    join_token = token(ns_ivs, stage_arn, "join-page", "PUBLISH", "SUBSCRIBE")
    sdk_page = open_app(new_page, app)
    sdk_page.evaluate("token => window.joinStage(token)", sdk_token["token"])
    wait_event(sdk_page, "publish", "local", "published")

    join_page = new_page()
    join_page.goto(f"{ns_server.url}/join#token={join_token['token']}")
    join_page.wait_for_selector("body[data-state=joined]")
    join_page.click("#publish")
    wait_event(sdk_page, "joined", join_token["participantId"], "join-page")
    assert_plays(sdk_page, join_token["participantId"])
    poll(join_page, "() => document.querySelector('.tile[data-user-id=\"sdk\"] video')?.currentTime > 1", what="sdk")

    join_page.click("#camera-off")
    wait_event(sdk_page, "mute", join_token["participantId"], "video", True)
    join_page.click("#leave")
    wait_event(sdk_page, "left", join_token["participantId"])


def test_a_viewer_watches_without_being_announced(ns_ivs: Any, new_page: Callable[..., Any], app: Site) -> None:
    """A subscribe-only SDK page plays the publisher, whose roster never shows it: IVS announces publishers only."""
    stage_arn = ns_ivs.create_stage(name="viewer")["stage"]["arn"]
    host = token(ns_ivs, stage_arn, "host", "PUBLISH", "SUBSCRIBE")
    viewer = token(ns_ivs, stage_arn, "viewer", "SUBSCRIBE")
    host_page, viewer_page = open_app(new_page, app), open_app(new_page, app)
    host_page.evaluate("token => window.joinStage(token)", host["token"])
    wait_event(host_page, "publish", "local", "published")
    viewer_page.evaluate("token => window.joinStage(token, false)", viewer["token"])
    wait_event(viewer_page, "joined", host["participantId"], "host")
    assert_plays(viewer_page, host["participantId"])

    viewer_page.evaluate("window.stage.leave()")
    host_page.evaluate("window.stage.leave()")
    wait_event(host_page, "stage-left", "user-initiated")
    host_events = host_page.evaluate("window.events")
    assert not [e for e in host_events if e[0] in ("joined", "left") and e[1] == viewer["participantId"]]
    assert [e for e in viewer_page.evaluate("window.events") if e[0] in ("publish", "error")] == []
