"""The participant SDK against a real ``openstage serve``: media both ways, the roster, kicks, the event log.

The server and every SDK peer use 127.0.0.1 only. SQLite only: the media plane does not
depend on the database backend, and these tests are the slow ones.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from openstage.client import JoinError, Participant, RemoteParticipant, StageLeft, Subscription, WhipError, whip_http
from openstage.client.ice import restrict_ice
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.server import Server

LOOPBACK = ["127.0.0.1"]
RED, BLUE = (81, 90, 240), (41, 240, 110)  # (Y, U, V)
COLOUR_TOLERANCE = 40
TONES = {"alice": 440.0, "bob": 660.0}
COLOURS = {"alice": RED, "bob": BLUE}


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite", args=["--ice-addresses", "127.0.0.1", "--session-grace-seconds", "1"])


@pytest.fixture
def ivs(media_server: Server) -> Any:
    return media_server.client()


@pytest.fixture
def stage(ivs: Any) -> dict[str, Any]:
    return ivs.create_stage(name="participants")["stage"]  # type: ignore[no-any-return]


def token(ivs: Any, stage: dict[str, Any], user: str, *capabilities: str) -> dict[str, str]:
    caps = list(capabilities) or ["PUBLISH", "SUBSCRIBE"]
    created = ivs.create_participant_token(stageArn=stage["arn"], userId=user, capabilities=caps)
    return created["participantToken"]  # type: ignore[no-any-return]


def run(scenario: Coroutine[Any, Any, None], timeout: float = 45.0) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout))


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def centre(frame: av.VideoFrame) -> tuple[int, int, int]:
    """The (Y, U, V) of the frame's centre pixel."""
    values = []
    for index, plane in enumerate(frame.planes[:3]):
        scale = 1 if index == 0 else 2
        row, col = frame.height // 2 // scale, frame.width // 2 // scale
        values.append(bytes(plane)[plane.line_size * row + col])
    return values[0], values[1], values[2]


def frequency(frames: list[av.AudioFrame]) -> float:
    """The dominant frequency of interleaved s16 audio, from the left channel's zero crossings."""
    samples: list[int] = []
    for frame in frames:
        assert frame.format.name == "s16" and frame.layout.nb_channels == 2
        samples.extend(memoryview(bytes(frame.planes[0])).cast("h")[: frame.samples * 2 : 2])  # planes are padded
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / frames[0].sample_rate)


async def received(subscription: Subscription) -> tuple[list[av.VideoFrame], list[av.AudioFrame], float]:
    """Ten video frames, then twenty audio frames after the first half-second; and the time to the first frame."""
    video: list[av.VideoFrame] = []
    audio: list[av.AudioFrame] = []
    first_frame = 0.0

    async def read_video() -> None:
        nonlocal first_frame
        async for frame in subscription.video_frames():
            if not video:
                first_frame = time.monotonic() - subscription.answered_at
            video.append(frame)
            if len(video) == 10:
                return

    async def read_audio() -> None:
        skipped = 0
        async for frame in subscription.audio_frames():
            skipped += 1
            if skipped > 25:  # the decoder's start and any resync are over
                audio.append(frame)
            if len(audio) == 20:
                return

    await asyncio.wait_for(asyncio.gather(read_video(), read_audio()), 20)
    return video, audio, first_frame


@pytest.mark.parametrize("codec", ["H264", "VP8"])
def test_two_publishers_and_a_viewer_see_and_hear_each_other(ivs: Any, stage: dict[str, Any], codec: str) -> None:
    tokens = {user: token(ivs, stage, user) for user in ("alice", "bob")}
    tokens["viewer"] = token(ivs, stage, "viewer", "SUBSCRIBE")
    ids = {user: t["participantId"] for user, t in tokens.items()}
    first_frames: list[float] = []

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            people = {user: Participant(t["token"], ice_addresses=LOOPBACK) for user, t in tokens.items()}
            joined: list[str] = []
            people["viewer"].on_participant_joined(lambda remote: joined.append(remote.id))
            for user in ("alice", "bob", "viewer"):
                await stack.enter_async_context(people[user])
            for user in ("alice", "bob"):
                publication = await people[user].publish(
                    video=PatternVideoTrack(colour=COLOURS[user]), audio=ToneAudioTrack(TONES[user]), video_codec=codec
                )
                assert publication.codecs == {"audio": "audio/opus", "video": f"video/{codec}"}

            pairs = [("alice", "bob"), ("bob", "alice"), ("viewer", "alice"), ("viewer", "bob")]
            subscriptions = await asyncio.gather(*(people[who].subscribe(ids[whom]) for who, whom in pairs))
            results = await asyncio.gather(*(received(s) for s in subscriptions))
            for (who, whom), subscription, result in zip(pairs, subscriptions, results, strict=True):
                video, audio, first_frame = result
                assert subscription.codecs == {"audio": "audio/opus", "video": f"video/{codec}"}, (who, whom)
                for frame in video[-3:]:
                    colour = centre(frame)
                    assert max(abs(a - b) for a, b in zip(colour, COLOURS[whom], strict=True)) <= COLOUR_TOLERANCE, (
                        f"{who} sees {colour} from {whom}, expected {COLOURS[whom]}"
                    )
                heard = frequency(audio)
                assert abs(heard - TONES[whom]) < TONES[whom] * 0.05, f"{who} hears {heard:.0f} Hz from {whom}"
                first_frames.append(first_frame)
            assert joined == [ids["alice"], ids["bob"]]
            assert set(people["alice"].roster) == {ids["bob"]}, "the roster is about the others"

    run(scenario())
    print(f"\n{codec}: first video frame {', '.join(f'{d * 1000:.0f}' for d in first_frames)} ms after the answer")

    # The session's participant event log, through boto3, once everyone has LEFT (3 s after leaving).
    session_id = ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"][0]["sessionId"]

    def log(user: str) -> list[tuple[str, str]]:
        found = ivs.list_participant_events(stageArn=stage["arn"], sessionId=session_id, participantId=ids[user])
        return [(e["name"], e.get("remoteParticipantId", "")) for e in found["events"]]

    deadline = time.monotonic() + 15
    while not all(("LEFT", "") in log(user) for user in ids):
        assert time.monotonic() < deadline, {user: log(user) for user in ids}
        time.sleep(0.2)
    assert log("alice") == [
        ("JOINED", ""),
        ("PUBLISH_STARTED", ""),
        ("SUBSCRIBE_STARTED", ids["bob"]),
        ("SUBSCRIBE_STOPPED", ids["bob"]),
        ("PUBLISH_STOPPED", ""),
        ("LEFT", ""),
    ]
    viewer = log("viewer")
    assert viewer[0] == ("JOINED", "") and viewer[-1] == ("LEFT", "")
    assert sorted(viewer[1:3]) == sorted([("SUBSCRIBE_STARTED", ids["alice"]), ("SUBSCRIBE_STARTED", ids["bob"])])
    assert sorted(viewer[3:5]) == sorted([("SUBSCRIBE_STOPPED", ids["alice"]), ("SUBSCRIBE_STOPPED", ids["bob"])])
    participant = ivs.get_participant(stageArn=stage["arn"], sessionId=session_id, participantId=ids["alice"])
    assert participant["participant"]["published"] is True and participant["participant"]["userId"] == "alice"
    deadline = time.monotonic() + 10
    while "endTime" not in ivs.get_stage_session(stageArn=stage["arn"], sessionId=session_id)["stageSession"]:
        assert time.monotonic() < deadline, "the session did not end after everyone left"
        time.sleep(0.2)


def test_the_roster_follows_publishing_muting_and_leaving(ivs: Any, stage: dict[str, Any]) -> None:
    alice, bob = token(ivs, stage, "alice", "PUBLISH"), token(ivs, stage, "bob", "PUBLISH")
    viewer = Participant(token(ivs, stage, "viewer", "SUBSCRIBE")["token"], ice_addresses=LOOPBACK)
    seen: list[tuple[str, str, bool, int]] = []

    def record(kind: str) -> Callable[[RemoteParticipant], None]:
        return lambda remote: seen.append((kind, remote.id, remote.audio_muted, viewer.sequence_number))

    viewer.on_participant_joined(record("joined"))
    viewer.on_participant_updated(record("updated"))
    viewer.on_participant_left(record("left"))

    async def scenario() -> None:
        async with (
            viewer,
            Participant(alice["token"], ice_addresses=LOOPBACK) as a,
            Participant(bob["token"], ice_addresses=LOOPBACK) as b,
        ):
            assert viewer.roster == {}
            await a.publish(video=PatternVideoTrack(160, 120))
            await wait_until(lambda: len(seen) == 1, "alice to appear")
            await b.publish(video=PatternVideoTrack(160, 120))
            await wait_until(lambda: len(seen) == 2, "bob to appear")
            assert set(viewer.roster) == {alice["participantId"], bob["participantId"]}
            await a.set_state(audio_muted=True, video_stopped=False)
            await wait_until(lambda: len(seen) == 3, "alice's mute")
            await a.leave()
            await wait_until(lambda: len(seen) == 4, "alice to leave")
            await b.unpublish()
            await wait_until(lambda: len(seen) == 5, "bob to stop publishing")
            assert viewer.roster == {}

    run(scenario())
    assert [(kind, who, muted) for kind, who, muted, _ in seen] == [
        ("joined", alice["participantId"], False),
        ("joined", bob["participantId"], False),
        ("updated", alice["participantId"], True),
        ("left", alice["participantId"], True),
        ("left", bob["participantId"], False),
    ]
    numbers = [number for *_, number in seen]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)


def test_disconnect_participant_ends_the_participation_and_the_token(ivs: Any, stage: dict[str, Any]) -> None:
    alice = token(ivs, stage, "alice")

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await participant.publish(video=PatternVideoTrack(160, 120))
            asked = time.monotonic()
            await asyncio.to_thread(
                ivs.disconnect_participant, stageArn=stage["arn"], participantId=alice["participantId"], reason="bye"
            )
            left = await asyncio.wait_for(participant.wait_left(), 5)
            print(f"\nkicked {1000 * (time.monotonic() - asked):.0f} ms after DisconnectParticipant was sent")
            assert (left.code, left.reason) == ("PARTICIPANT_DISCONNECTED", "bye")
            with pytest.raises(StageLeft):
                await participant.subscribe("anyone")
        with pytest.raises(JoinError) as refused:
            async with Participant(alice["token"]):
                pass
        assert refused.value.code == "PARTICIPANT_DISCONNECTED"

    run(scenario())


def test_refusals_are_typed(ivs: Any, stage: dict[str, Any]) -> None:
    viewer = token(ivs, stage, "viewer", "SUBSCRIBE")
    header, claims, signature = viewer["token"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    expired = base64.urlsafe_b64encode(json.dumps({**decoded, "exp": 1}).encode()).decode().rstrip("=")
    tampered = base64.urlsafe_b64encode(json.dumps({**decoded, "user_id": "x"}).encode()).decode().rstrip("=")

    async def refused(bad_token: str) -> str:
        with pytest.raises(JoinError) as error:
            async with Participant(bad_token):
                pass
        return error.value.code

    async def scenario() -> None:
        assert await refused("not-a-token") == "TOKEN_INVALID"
        assert await refused(f"{header}.{expired}.{signature}") == "TOKEN_EXPIRED"  # checked before connecting
        assert (await refused(f"{header}.{tampered}.{signature}")).startswith("TOKEN_INVALID")
        async with Participant(viewer["token"], ice_addresses=LOOPBACK) as participant:
            with pytest.raises(WhipError) as error:
                await participant.publish(video=PatternVideoTrack(160, 120))
            assert (error.value.status, error.value.code) == (403, 2003)
            with pytest.raises(WhipError) as error:
                await participant.subscribe("nobodyHere12")
            assert (error.value.status, error.value.code) == (404, 2004)

    run(scenario())


def test_a_bare_whip_post_is_followed_with_the_token(ivs: Any, stage: dict[str, Any]) -> None:
    """What OBS-style clients do (docs 2.4): POST to whip_url itself, follow the 307 keeping Authorization."""
    obs = token(ivs, stage, "obs", "PUBLISH")

    async def scenario() -> None:
        restrict_ice(LOOPBACK)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTransceiver(PatternVideoTrack(160, 120), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            answer = await whip_http.post_offer(stage["endpoints"]["whip"], obs["token"], pc.localDescription.sdp)
            assert answer.location.startswith(stage["endpoints"]["whip"] + "/resources/")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            await wait_until(lambda: pc.connectionState == "connected", "the redirected publisher to connect")
            await whip_http.delete(answer.location, obs["token"])
            await whip_http.delete(answer.location, obs["token"])  # already gone: fine
        finally:
            await pc.close()

    run(scenario())
