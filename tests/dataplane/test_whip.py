"""WHIP over HTTP against a real ``openstage serve``: unmodified aiortc clients, IVS error codes, CORS.

Every peer, the server's included, uses 127.0.0.1 only (the server runs with --ice-addresses
127.0.0.1; importing tests.sfu.peers confines this process's peers).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.tokens import jws
from tests.server import Server
from tests.sfu.peers import (
    Subscriber,
    answer_codecs,
    candidate_hosts,
    candidate_ports,
    free_udp_ports,
    publisher,
    run,
    wait_until,
)

SDP = "application/sdp"
DELETE_REL = "urn:ietf:params:whip:ivs-stages:session-delete"


@pytest.fixture(scope="module")
def server(make_server: Callable[..., Server]) -> Server:
    return make_server(args=["--ice-addresses", "127.0.0.1"])


@pytest.fixture
def ivs(server: Server):
    return server.client()


@pytest.fixture
def stage(ivs) -> dict[str, Any]:
    return ivs.create_stage(name="whip")["stage"]


def token(ivs, stage: dict[str, Any], *capabilities: str) -> dict[str, str]:
    return ivs.create_participant_token(stageArn=stage["arn"], capabilities=list(capabilities))["participantToken"]


def request(
    method: str,
    url: str,
    body: str | bytes | None = None,
    bearer: str | None = None,
    content_type: str = SDP,
    **headers: str,
) -> tuple[int, dict[str, str], str]:
    """One HTTP request, redirects not followed; returns (status, lower-cased headers, body)."""
    sent = {"Content-Type": content_type, **headers}
    if bearer is not None:
        sent["Authorization"] = f"Bearer {bearer}"
    data = body.encode() if isinstance(body, str) else body
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, sent, method=method), timeout=15) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode()


async def arequest(*args: Any, **kwargs: Any) -> tuple[int, dict[str, str], str]:
    return await asyncio.to_thread(request, *args, **kwargs)


def events(ivs, stage: dict[str, Any], participant_id: str) -> list[tuple[str, str | None, str | None]]:
    session = ivs.get_stage(arn=stage["arn"])["stage"]["activeSessionId"]
    found = ivs.list_participant_events(stageArn=stage["arn"], sessionId=session, participantId=participant_id)
    return [(e["name"], e.get("remoteParticipantId"), e.get("errorCode")) for e in found["events"]]


def wait_for_event(ivs, stage, participant_id: str, wanted: tuple[str, str | None, str | None]) -> None:
    deadline = time.monotonic() + 5
    while wanted not in events(ivs, stage, participant_id):
        assert time.monotonic() < deadline, f"no {wanted} in {events(ivs, stage, participant_id)}"
        time.sleep(0.05)


def error_of(body: str) -> int:
    return json.loads(body)["code"]


async def publish_and_watch(
    whip: str, alice: dict[str, str], viewer: dict[str, str], pc: Any, offer: str, client: Subscriber
) -> str:
    """alice publishes over ``pc`` and viewer watches until frames flow; returns the publication's Location."""
    status, headers, answer = await arequest("POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"])
    assert status == 201, answer
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    url = f"{whip}/subscribe/{alice['participantId']}"
    status, _, answer = await arequest("POST", url, await client.offer(), viewer["token"])
    assert status == 201, answer
    await client.accept(answer)
    await client.video.wait_frames(3)
    return headers["location"]


def test_publish_and_subscribe_with_unmodified_answers(server, ivs, stage):
    whip = stage["endpoints"]["whip"]
    alice, viewer = token(ivs, stage, "PUBLISH", "SUBSCRIBE"), token(ivs, stage, "SUBSCRIBE")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8", "video/H264"])  # VP8 first, as the web SDK offers
        client = Subscriber()
        try:
            status, headers, answer = await arequest(
                "POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"]
            )
            assert status == 201, answer
            assert headers["content-type"].startswith(SDP)
            location = headers["location"]
            assert location.startswith("/whip/resources/")
            assert headers["link"] == f'<{location}>; rel="{DELETE_REL}"'
            assert headers["access-control-allow-origin"] == "*"
            assert headers["access-control-expose-headers"] == "Location, Link"
            assert candidate_hosts(answer) == [["127.0.0.1"], ["127.0.0.1"]]
            assert set(answer_codecs(answer)["video"]) == {"video/H264"}
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

            url = f"{whip}/subscribe/{alice['participantId']}"
            status, headers, answer = await arequest("POST", url, await client.offer(), viewer["token"])
            assert status == 201, answer
            await client.accept(answer)
            await client.video.wait_frames(20)
            await wait_until(lambda: client.audio.loud_frames >= 5, what="the tone")
            assert None not in client.video.colours and len(set(client.video.colours)) >= 2
            assert client.first_frame_delay() < 1.0

            status, _, _ = await arequest("DELETE", server.url + location, bearer=alice["token"])
            assert status == 200
            await wait_until(lambda: client.pc.connectionState == "closed", what="the subscription to end with it")
            status, _, body = await arequest("DELETE", server.url + location, bearer=alice["token"])
            assert status == 404 and error_of(body) == 2001
        finally:
            await asyncio.gather(pc.close(), client.close())

    run(scenario())
    assert ("PUBLISH_STARTED", None, None) in events(ivs, stage, alice["participantId"])
    assert ("PUBLISH_STOPPED", None, None) in events(ivs, stage, alice["participantId"])
    assert ("SUBSCRIBE_STARTED", alice["participantId"], None) in events(ivs, stage, viewer["participantId"])
    wait_for_event(ivs, stage, viewer["participantId"], ("SUBSCRIBE_STOPPED", alice["participantId"], None))


def test_a_bare_post_is_redirected_to_the_tokens_publish_url(server, ivs, stage):
    whip = stage["endpoints"]["whip"]
    obs = token(ivs, stage, "PUBLISH")

    async def scenario() -> None:
        pc, offer = await publisher(["video/H264"])
        try:
            status, headers, _ = await arequest("POST", whip, offer, obs["token"])
            assert status == 307 and headers["location"] == f"/whip/publish/{obs['participantId']}"
            status, headers, answer = await arequest("POST", server.url + headers["location"], offer, obs["token"])
            assert status == 201
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_until(lambda: pc.connectionState == "connected", what="the redirected publisher to connect")
            assert (await arequest("DELETE", server.url + headers["location"]))[0] == 200
        finally:
            await pc.close()

    run(scenario())
    status, _, body = request("POST", whip, "v=0")
    assert status == 401 and error_of(body) == 2001


def test_capabilities_are_enforced_with_2003(ivs, stage):
    whip = stage["endpoints"]["whip"]
    viewer, speaker = token(ivs, stage, "SUBSCRIBE"), token(ivs, stage, "PUBLISH")
    status, _, body = request("POST", f"{whip}/publish/{viewer['participantId']}", "v=0", viewer["token"])
    assert status == 403 and error_of(body) == 2003
    wait_for_event(ivs, stage, viewer["participantId"], ("PUBLISH_ERROR", None, "INSUFFICIENT_CAPABILITIES"))

    status, _, body = request("POST", f"{whip}/subscribe/{viewer['participantId']}", "v=0", speaker["token"])
    assert status == 403 and error_of(body) == 2003

    status, _, body = request("POST", f"{whip}/publish/{viewer['participantId']}", "v=0", speaker["token"])
    assert status == 403 and error_of(body) == 2003, "a token publishes only as its own participant"


def test_subscribing_to_someone_not_publishing_is_2004(ivs, stage):
    viewer = token(ivs, stage, "SUBSCRIBE")
    status, _, body = request("POST", f"{stage['endpoints']['whip']}/subscribe/nobodyHere12", "v=0", viewer["token"])
    assert status == 404 and error_of(body) == 2004
    wait_for_event(ivs, stage, viewer["participantId"], ("SUBSCRIBE_ERROR", "nobodyHere12", "PUBLISHER_NOT_FOUND"))


def test_a_remote_id_that_cannot_be_a_participant_is_2004_and_not_recorded(ivs, stage):
    viewer = token(ivs, stage, "SUBSCRIBE")
    whip = stage["endpoints"]["whip"]
    status, _, body = request("POST", f"{whip}/subscribe/{'x' * 2000}", "v=0", viewer["token"])
    assert status == 404 and error_of(body) == 2004
    status, _, body = request("POST", f"{whip}/subscribe/nobodyHere34", "v=0", viewer["token"])
    assert status == 404 and error_of(body) == 2004
    wait_for_event(ivs, stage, viewer["participantId"], ("SUBSCRIBE_ERROR", "nobodyHere34", "PUBLISHER_NOT_FOUND"))
    session = (
        ivs.get_stage(arn=stage["arn"])["stage"].get("activeSessionId")
        or ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"][0]["sessionId"]
    )
    events = ivs.list_participant_events(
        stageArn=stage["arn"], sessionId=session, participantId=viewer["participantId"]
    )
    remotes = [e.get("remoteParticipantId") for e in events["events"] if e["name"] == "SUBSCRIBE_ERROR"]
    assert remotes == ["nobodyHere34"]


def test_bad_tokens_are_refused(ivs, stage):
    url = f"{stage['endpoints']['whip']}/publish/someone"
    for bearer in (None, "not-a-jwt", token(ivs, stage, "PUBLISH")["token"][:-8] + "AAAAAAAA"):
        status, _, body = request("POST", url, "v=0", bearer)
        assert status == 401 and error_of(body) == 2001, (bearer, body)

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_arn = ivs.import_public_key(publicKeyMaterial=pem.decode(), name="whip-test")["publicKey"]["arn"]
    now = int(time.time())
    claims = {
        "exp": now - 60,
        "iat": now - 3600,
        "jti": "expiredOne01",
        "resource": stage["arn"],
        "topic": stage["arn"].rsplit("/", 1)[1],
        "events_url": stage["endpoints"]["events"],
        "whip_url": stage["endpoints"]["whip"],
        "capabilities": {"allow_publish": True},
        "attributes": {},
        "version": "1.0",
    }
    expired = jws.sign({"alg": "ES384", "typ": "JWT", "kid": key_arn}, claims, key)
    status, _, body = request("POST", url, "v=0", expired)
    assert status == 401 and error_of(body) == 2002
    ivs.delete_public_key(arn=key_arn)


def test_offers_that_cannot_be_served(ivs, stage):
    whip = stage["endpoints"]["whip"]
    alice, viewer = token(ivs, stage, "PUBLISH"), token(ivs, stage, "SUBSCRIBE")

    async def scenario() -> None:
        audio_pc, audio_only = await publisher([], video=False)
        pc, offer = await publisher(["video/H264"])
        client = Subscriber(video_codecs=["video/VP8"])
        try:
            status, _, body = await arequest(
                "POST", f"{whip}/publish/{alice['participantId']}", audio_only, alice["token"]
            )
            assert status == 400 and error_of(body) == 2001 and "video" in json.loads(body)["message"]
            status, _, body = await arequest(
                "POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"], content_type="text/plain"
            )
            assert status == 415

            status, headers, answer = await arequest(
                "POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"]
            )
            assert status == 201
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            url = f"{whip}/subscribe/{alice['participantId']}"
            status, _, body = await arequest("POST", url, await client.offer(), viewer["token"])
            assert status == 400 and error_of(body) == 2014
            await arequest("DELETE", stage["endpoints"]["whip"].rsplit("/whip", 1)[0] + headers["location"])
        finally:
            await asyncio.gather(audio_pc.close(), pc.close(), client.close())

    run(scenario())
    wait_for_event(ivs, stage, alice["participantId"], ("PUBLISH_ERROR", None, "INVALID_VIDEO_CODEC"))
    wait_for_event(
        ivs, stage, viewer["participantId"], ("SUBSCRIBE_ERROR", alice["participantId"], "INVALID_VIDEO_CODEC")
    )


def test_cors_preflight_and_headers(stage):
    url = f"{stage['endpoints']['whip']}/publish/someone"
    status, headers, _ = request(
        "OPTIONS",
        url,
        Origin="https://app.example",
        **{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,x-stages-new"},
    )
    assert status == 204
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-stages-sdk", "x-stages-request-id", "x-stages-new"} <= allowed
    assert "POST" in headers["access-control-allow-methods"] and "DELETE" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-origin"] == "*"
    status, headers, _ = request("POST", url, "v=0")
    assert status == 401 and headers["access-control-allow-origin"] == "*"


def test_the_sdks_unload_beacon_ends_the_session(server, ivs, stage):
    alice = token(ivs, stage, "PUBLISH")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        try:
            url = f"{stage['endpoints']['whip']}/publish/{alice['participantId']}"
            status, headers, answer = await arequest("POST", url, offer, alice["token"])
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_until(lambda: pc.connectionState == "connected", what="the publisher to connect")
            link = headers["link"].split(">", 1)[0].lstrip("<")
            beacon = json.dumps({"authorization": alice["token"]})
            status, _, _ = await arequest("POST", server.url + link, beacon, content_type="text/plain;charset=UTF-8")
            assert status == 200
            await wait_until(lambda: pc.connectionState == "closed", what="the beacon to close the publisher")
        finally:
            await pc.close()

    run(scenario())
    wait_for_event(ivs, stage, alice["participantId"], ("PUBLISH_STOPPED", None, None))


def test_disconnect_participant_closes_its_peer_connections(ivs, stage):
    whip = stage["endpoints"]["whip"]
    alice, viewer = token(ivs, stage, "PUBLISH"), token(ivs, stage, "SUBSCRIBE")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        client = Subscriber(kinds=("video",))
        try:
            await publish_and_watch(whip, alice, viewer, pc, offer, client)
            kicked_at = time.monotonic()
            await asyncio.to_thread(
                ivs.disconnect_participant, stageArn=stage["arn"], participantId=alice["participantId"]
            )
            await wait_until(lambda: pc.connectionState == "closed", timeout=2, what="the kicked publisher's peer")
            await wait_until(lambda: client.pc.connectionState == "closed", timeout=2, what="its subscriber's peer")
            assert time.monotonic() - kicked_at < 1.5
            status, _, body = await arequest("POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"])
            assert status == 403 and error_of(body) == 2003
        finally:
            await asyncio.gather(pc.close(), client.close())

    run(scenario())


def test_the_thirteenth_publisher_gets_2005(server, ivs, stage):
    whip = stage["endpoints"]["whip"]
    tokens = [token(ivs, stage, "PUBLISH") for _ in range(13)]

    async def scenario() -> None:
        peers = [await publisher(["video/VP8"], audio=False) for _ in tokens]
        locations = []
        try:
            for t, (_, offer) in zip(tokens[:12], peers, strict=False):
                status, headers, body = await arequest(
                    "POST", f"{whip}/publish/{t['participantId']}", offer, t["token"]
                )
                assert status == 201, body
                locations.append(headers["location"])
            last = tokens[12]
            status, _, body = await arequest(
                "POST", f"{whip}/publish/{last['participantId']}", peers[12][1], last["token"]
            )
            assert status == 403 and error_of(body) == 2005
        finally:
            for location in locations:
                await arequest("DELETE", server.url + location)
            await asyncio.gather(*(pc.close() for pc, _ in peers))

    run(scenario())
    wait_for_event(ivs, stage, tokens[12]["participantId"], ("PUBLISH_ERROR", None, "QUOTA_EXCEEDED"))


def test_the_servers_candidates_use_the_udp_port_range(make_server: Callable[..., Server]):
    first = free_udp_ports(10)
    ranged = make_server(
        args=["--ice-addresses", "127.0.0.1", "--udp-port-min", str(first), "--udp-port-max", str(first + 9)]
    )
    ivs = ranged.client()
    stage = ivs.create_stage(name="ports")["stage"]
    alice = token(ivs, stage, "PUBLISH")

    async def scenario() -> None:
        pc, offer = await publisher(["video/H264"])
        try:
            url = f"{stage['endpoints']['whip']}/publish/{alice['participantId']}"
            status, _, answer = await arequest("POST", url, offer, alice["token"])
            assert status == 201, answer
            ports = candidate_ports(answer)
            assert ports and all(first <= port <= first + 9 for port in ports), ports
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await wait_until(lambda: pc.connectionState == "connected", what="the publisher to connect")
        finally:
            await pc.close()

    run(scenario())


def test_delete_stage_closes_every_peer_connection_on_it(ivs, stage):
    whip = stage["endpoints"]["whip"]
    alice, viewer = token(ivs, stage, "PUBLISH"), token(ivs, stage, "SUBSCRIBE")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        client = Subscriber(kinds=("video",))
        try:
            await publish_and_watch(whip, alice, viewer, pc, offer, client)
            await asyncio.to_thread(ivs.delete_stage, arn=stage["arn"])
            await wait_until(lambda: pc.connectionState == "closed", timeout=2, what="the publisher's peer to close")
            await wait_until(lambda: client.pc.connectionState == "closed", timeout=2, what="the subscriber's peer")
            status, _, body = await arequest("POST", f"{whip}/publish/{alice['participantId']}", offer, alice["token"])
            assert status == 403 and error_of(body) == 2003 and "STAGE_DELETED" in body
        finally:
            await asyncio.gather(pc.close(), client.close())

    run(scenario())


def test_a_disconnected_participants_token_can_no_longer_subscribe(ivs, stage):
    whip = stage["endpoints"]["whip"]
    alice, viewer = token(ivs, stage, "PUBLISH"), token(ivs, stage, "SUBSCRIBE")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        client, again = Subscriber(kinds=("video",)), Subscriber(kinds=("video",))
        try:
            location = await publish_and_watch(whip, alice, viewer, pc, offer, client)
            await asyncio.to_thread(
                ivs.disconnect_participant, stageArn=stage["arn"], participantId=viewer["participantId"]
            )
            await wait_until(lambda: client.pc.connectionState == "closed", timeout=2, what="the kicked viewer's peer")
            assert pc.connectionState == "connected", "the publisher is not the one kicked"
            url = f"{whip}/subscribe/{alice['participantId']}"
            status, _, body = await arequest("POST", url, await again.offer(), viewer["token"])
            assert status == 403 and error_of(body) == 2003 and "PARTICIPANT_DISCONNECTED" in body
            await arequest("DELETE", whip.rsplit("/whip", 1)[0] + location)
        finally:
            await asyncio.gather(pc.close(), client.close(), again.close())

    run(scenario())


def test_a_token_reaches_only_its_own_stages_publishers(ivs, stage):
    other = ivs.create_stage(name="whip-other")["stage"]
    alice, outsider = token(ivs, other, "PUBLISH"), token(ivs, stage, "PUBLISH", "SUBSCRIBE")

    async def scenario() -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        client = Subscriber(kinds=("video",))
        try:
            status, headers, answer = await arequest(
                "POST", f"{other['endpoints']['whip']}/publish/{alice['participantId']}", offer, alice["token"]
            )
            assert status == 201, answer
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            # Same server, same /whip URL: the stage comes from the token, so alice is not found from the other stage.
            url = f"{stage['endpoints']['whip']}/subscribe/{alice['participantId']}"
            status, _, body = await arequest("POST", url, await client.offer(), outsider["token"])
            assert status == 404 and error_of(body) == 2004
            url = f"{stage['endpoints']['whip']}/publish/{alice['participantId']}"
            status, _, body = await arequest("POST", url, offer, outsider["token"])
            assert status == 403 and error_of(body) == 2003
            await arequest("DELETE", other["endpoints"]["whip"].rsplit("/whip", 1)[0] + headers["location"])
        finally:
            await asyncio.gather(pc.close(), client.close())

    run(scenario())
