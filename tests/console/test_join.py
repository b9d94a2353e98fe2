"""The join page at /join (issue 5 part 2), driven in Chromium against a real server.

Two pages join one stage (by link and by pasting), publish Chromium's fake camera and
microphone and see each other's tiles play; mute and camera-off reach the other side; leaving
removes the tile. Bad tokens (not a token, tampered, expired, disconnected) get words a person
understands.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from openstage.client.participant import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from openstage.console.join import ASSETS
from tests.browser import Namespace, poll, save_screenshot
from tests.server import Server

# Mean red, green and blue (0-255) of a tile's video as it plays now; null until it has a picture.
TILE_COLOUR = """user => {
  const video = document.querySelector(`.tile[data-user-id="${user}"] video`);
  if (!video || !video.videoWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext("2d");
  context.drawImage(video, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const sums = [0, 0, 0];
  for (let i = 0; i < pixels.length; i += 4) for (let c = 0; c < 3; c++) sums[c] += pixels[i + c];
  return sums.map((sum) => sum / (pixels.length / 4));
}"""
RED = (81, 90, 240)  # Y, U, V
# Listens to a tile's audio (from the first call on) and returns the loudest sample heard since (0-1);
# with reset=true, forgets what was heard so far.
LOUDEST = """([user, reset]) => {
  const video = document.querySelector(`.tile[data-user-id="${user}"] video`);
  if (!video || !video.srcObject || !video.srcObject.getAudioTracks().length) return 0;
  if (!video.listener) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    context.createMediaStreamSource(video.srcObject).connect(analyser);
    const listener = { loudest: 0, samples: new Float32Array(analyser.fftSize) };
    video.listener = listener;
    setInterval(() => {
      analyser.getFloatTimeDomainData(listener.samples);
      for (const sample of listener.samples) listener.loudest = Math.max(listener.loudest, Math.abs(sample));
    }, 20);
  }
  if (reset) video.listener.loudest = 0;
  return video.listener.loudest;
}"""
PLAYED = 'user => document.querySelector(`.tile[data-user-id="${user}"] video`)?.currentTime || 0'


def get(server: Server, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(server.url + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def token(ivs: Any, stage_arn: str, user_id: str, *capabilities: str) -> dict[str, str]:
    response = ivs.create_participant_token(stageArn=stage_arn, userId=user_id, capabilities=list(capabilities))
    return response["participantToken"]


def with_claims(jwt: str, **changes: Any) -> str:
    """The token with some claims changed (so its signature no longer matches)."""
    header, claims, signature = jwt.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    encoded = base64.urlsafe_b64encode(json.dumps({**decoded, **changes}).encode()).rstrip(b"=").decode()
    return f"{header}.{encoded}.{signature}"


def message(page: Any) -> str:
    poll(page, "() => !document.getElementById('message').hidden", what="a message")
    return str(page.text_content("#message"))


def join_by_pasting(page: Any, server: Server, jwt: str) -> None:
    page.goto(f"{server.url}/join")
    page.fill("#token", jwt)
    page.click("#join")


def assert_tile_plays(page: Any, user_id: str) -> None:
    """The tile exists, its video advances and shows a picture that is not black, and sound comes out."""
    page.wait_for_selector(f'.tile[data-user-id="{user_id}"]', timeout=60_000)
    poll(page, PLAYED, user_id, f"{user_id}'s video to start")
    before = page.evaluate(PLAYED, user_id)
    poll(page, f"user => ({PLAYED})(user) > {before} + 0.5", user_id, f"{user_id}'s video to advance")
    poll(page, f"user => Math.max(...(({TILE_COLOUR})(user) || [0])) > 20", user_id, f"a picture from {user_id}")
    assert_audio_flows(page, user_id)


def assert_audio_flows(page: Any, user_id: str) -> None:
    """Something louder than silence comes out of the tile (Chromium's fake microphone beeps)."""
    page.evaluate(LOUDEST, [user_id, True])
    poll(page, f"user => ({LOUDEST})([user, false]) > 0.01", user_id, f"sound from {user_id}")


def test_the_page_and_its_modules_are_served_from_this_server_only(ns_server: Server) -> None:
    assert f"{ns_server.url}/join#token=<participant token>" in "".join(ns_server.output)  # the banner says where
    status, headers, body = get(ns_server, "/join")
    assert status == 200 and headers["content-type"].startswith("text/html")
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    html = body.decode()
    assert 'src="/join/static/join.js"' in html and "https://" not in html
    for name, media_type in ASSETS.items():
        status, headers, body = get(ns_server, f"/join/static/{name}")
        assert status == 200 and headers["content-type"].startswith(media_type), name
        # No third-party runtime code: every import is one of our own modules.
        for line in body.decode().splitlines():
            if line.startswith("import "):
                assert line.split(" from ")[1].strip('";').startswith("./"), line
    status, _, body = get(ns_server, "/join/static/console.js")
    assert status == 404 and b"no asset named 'console.js'" in body


def test_two_participants_publish_see_each_other_mute_and_leave(
    ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any]
) -> None:
    stage_arn = ns_ivs.create_stage(name="join-page")["stage"]["arn"]
    alice_token = token(ns_ivs, stage_arn, "alice", "PUBLISH", "SUBSCRIBE")
    bob_token = token(ns_ivs, stage_arn, "bob", "PUBLISH", "SUBSCRIBE")
    alice, bob = new_page(viewport={"width": 1000, "height": 420}), new_page(viewport={"width": 1000, "height": 420})

    requested: list[str] = []  # everything alice's page fetches, to show it needs nothing from elsewhere
    alice.on("request", lambda request: requested.append(request.url))
    alice.goto(f"{ns_server.url}/join#token={alice_token['token']}")
    alice.wait_for_selector("body[data-state=joined]")
    assert alice.evaluate("location.hash") == ""  # the token left the address bar
    assert alice.text_content("#who") == "alice"
    poll(alice, "() => document.querySelectorAll('#camera option').length > 0", what="the camera list")
    assert alice.eval_on_selector_all("#microphone option", "options => options.length") > 0
    poll(alice, "() => document.querySelector('.tile.self .level').value > 0.01", what="the microphone level to move")
    alice.click("#publish")
    alice.wait_for_selector("body[data-state=publishing]")

    join_by_pasting(bob, ns_server, bob_token["token"])
    bob.wait_for_selector("body[data-state=joined]")
    bob.click("#publish")
    bob.wait_for_selector("body[data-state=publishing]")

    assert_tile_plays(alice, "bob")
    assert_tile_plays(bob, "alice")

    # Another microphone while publishing: the preview and what alice hears switch without a new offer.
    second = bob.eval_on_selector_all("#microphone option", "options => options.map(o => [o.value, o.text])")[1]
    bob.select_option("#microphone", second[0])
    self_audio = "() => document.querySelector('.tile.self video').srcObject.getAudioTracks().map(t => t.label)"
    poll(bob, f"label => ({self_audio})().join() === label", second[1], "the new microphone in the preview")
    assert_audio_flows(alice, "bob")

    bob.click("#mute")
    alice.wait_for_selector('.tile[data-user-id="bob"][data-audio-muted="true"] .muted-badge', state="visible")
    save_screenshot(alice, "join-page.png")
    bob.click("#camera-off")
    alice.wait_for_selector('.tile[data-user-id="bob"][data-video-stopped="true"] .camera-badge', state="visible")
    bob.click("#camera-off")
    alice.wait_for_selector('.tile[data-user-id="bob"][data-video-stopped="false"]')

    bob.click("#leave")
    alice.wait_for_selector('.tile[data-user-id="bob"]', state="detached")
    assert message(bob) == "You left the stage."
    assert alice.is_visible("#alone")

    assert requested and all(url.startswith((f"{ns_server.url}/", "data:")) for url in requested), requested

    # Back with the same token, then gone by closing the tab: the others see that too.
    bob.click("#join")
    bob.wait_for_selector("body[data-state=joined]")
    bob.click("#publish")
    alice.wait_for_selector('.tile[data-user-id="bob"]')
    bob.close(run_before_unload=True)
    alice.wait_for_selector('.tile[data-user-id="bob"]', state="detached")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda jwt: "not-a-token", "This is not a participant token: a token is three base64url parts"),
        (lambda jwt: with_claims(jwt, user_id="mallory"), "This token is not valid (token signature does not verify)"),
        (
            lambda jwt: with_claims(jwt, exp=1_000_000_000),
            "This token has expired (it expired at 2001-09-09T01:46:40.000Z). Ask for a new one.",
        ),
        (
            lambda jwt: with_claims(jwt, events_url="ws://127.0.0.1:9/events"),
            "The stage's events endpoint ws://127.0.0.1:9/events cannot be reached.",
        ),
    ],
    ids=["not-a-token", "tampered", "expired", "unreachable"],
)
def test_a_bad_token_is_refused_with_a_clear_message(
    ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any], make: Callable[[str], str], expected: str
) -> None:
    stage_arn = ns_ivs.create_stage(name="bad-tokens")["stage"]["arn"]
    page = new_page()
    join_by_pasting(page, ns_server, make(token(ns_ivs, stage_arn, "someone", "PUBLISH")["token"]))
    assert message(page).startswith(expected)
    assert page.get_attribute("body", "data-state") == "token"


def test_a_disconnected_participant_is_told_why_and_cannot_come_back(
    ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any]
) -> None:
    stage_arn = ns_ivs.create_stage(name="kick")["stage"]["arn"]
    kicked = token(ns_ivs, stage_arn, "carol", "PUBLISH", "SUBSCRIBE")
    page = new_page()
    join_by_pasting(page, ns_server, kicked["token"])
    page.wait_for_selector("body[data-state=joined]")

    ns_ivs.disconnect_participant(stageArn=stage_arn, participantId=kicked["participantId"], reason="off topic")
    assert message(page) == "You were removed from the stage: off topic. This token cannot be used again."
    page.wait_for_selector("body[data-state=token]")

    page.evaluate("() => { document.getElementById('message').hidden = true; }")
    page.click("#join")  # the token is still in the box
    assert message(page) == "This token was disconnected from the stage and cannot be used again. Ask for a new one."


def test_a_watch_only_token_plays_an_aiortc_publisher_and_sees_it_mute(
    netns: Namespace, ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any]
) -> None:
    stage_arn = ns_ivs.create_stage(name="watch-only")["stage"]["arn"]
    python = token(ns_ivs, stage_arn, "python", "PUBLISH")
    viewer = token(ns_ivs, stage_arn, "viewer", "SUBSCRIBE")
    page_done = threading.Event()
    mute = threading.Event()

    async def publish_red() -> None:
        async with Participant(python["token"], ice_addresses=["127.0.0.1"]) as participant:
            await participant.publish(PatternVideoTrack(colour=RED), ToneAudioTrack())
            await asyncio.to_thread(mute.wait, 120)
            await participant.set_state(audio_muted=True, video_stopped=False)
            await asyncio.to_thread(page_done.wait, 120)

    running = netns.spawn(publish_red)
    try:
        page = new_page()
        page.goto(f"{ns_server.url}/join#token={viewer['token']}")
        page.wait_for_selector("body[data-state=joined]")
        assert page.is_visible("#watch-only") and page.is_disabled("#publish")
        assert_tile_plays(page, "python")
        red, green, blue = poll(page, TILE_COLOUR, "python", "python's picture")
        assert red > green + 60 and red > blue + 60, (red, green, blue)
        mute.set()
        page.wait_for_selector('.tile[data-user-id="python"][data-audio-muted="true"] .muted-badge', state="visible")
        assert page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.userId)") == ["python"]
    finally:
        mute.set()
        page_done.set()
    running.result(timeout=60)


def test_a_token_taken_over_elsewhere_and_a_deleted_stage_are_explained(
    ns_server: Server, ns_ivs: Any, new_page: Callable[..., Any]
) -> None:
    stage_arn = ns_ivs.create_stage(name="reuse-and-delete")["stage"]["arn"]
    shared = token(ns_ivs, stage_arn, "dave", "PUBLISH", "SUBSCRIBE")["token"]
    first, second = new_page(), new_page()
    first.goto(f"{ns_server.url}/join#token={shared}")
    first.wait_for_selector("body[data-state=joined]")
    second.goto(f"{ns_server.url}/join#token={shared}")
    second.wait_for_selector("body[data-state=joined]")
    assert message(first) == "This token joined the stage from another page or device, which took over."

    ns_ivs.delete_stage(arn=stage_arn)
    assert message(second) == "The stage was deleted."
    assert second.get_attribute("body", "data-state") == "token"
