"""Three real nodes on 127.0.0.1 sharing PostgreSQL and Redis act as one service (docs/cluster.md).

The stage is created through one node, participants hold tokens from another and land on the node
the cluster placed the stage on (WHIP 307, the events WebSocket relayed); commands sent to a third
node reach them; every event reaches the webhook once; a node killed with -9 has its sessions ended
by the others and its stage moves to a live node.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
import redis
from aiortc import RTCSessionDescription
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from openstage.client import JoinError, Participant, TokenClaims
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from openstage.cluster.backend import NodeInfo
from tests.cluster.conftest import NODE_TTL_SECONDS, REDIS_URL, WEBHOOK_SECRET, Nodes
from tests.dataplane.test_whip import arequest
from tests.sfu.peers import publisher

LOOPBACK = ["127.0.0.1"]


@pytest.fixture(scope="module")
def nodes(make_cluster: Callable[..., Nodes]) -> Nodes:
    return make_cluster()


def token(nodes: Nodes, via: str, stage_arn: str, user: str) -> str:
    """A participant token issued by node ``via``: its whip_url and events_url name that node."""
    created = nodes[via].client().create_participant_token(stageArn=stage_arn, userId=user)
    return created["participantToken"]["token"]  # type: ignore[no-any-return]


def run(scenario: Coroutine[Any, Any, None], timeout: float = 120.0) -> None:
    asyncio.run(asyncio.wait_for(scenario, timeout))


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def publish(participant: Participant) -> str:
    """Publishes colour bars and a tone; returns the WHIP resource URL, which names the node serving it."""
    publication = await participant.publish(video=PatternVideoTrack(), audio=ToneAudioTrack())
    return publication.location


async def watch(viewer: Participant, publisher_id: str) -> str:
    """Subscribes until video frames arrive; returns the subscription's WHIP resource URL."""
    subscription = await viewer.subscribe(publisher_id)
    frames = 0
    async for _ in subscription.video_frames():
        frames += 1
        if frames == 3:
            break
    return subscription.location


async def read_stream(url: str, into: list[dict[str, Any]]) -> None:
    """Appends every event of the node's live stream (``/api/events/stream``) to ``into``."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as http:
        async with http.stream("GET", url + "/api/events/stream") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    into.append(json.loads(line[6:]))


def stage_updates(nodes: Nodes, stage_arn: str) -> list[tuple[str, str]]:
    """(participant id, event name) of every accepted webhook delivery for the stage."""
    return [
        (event["detail"]["participant_id"], event["detail"]["event_name"])
        for event in nodes.receiver.accepted()
        if event["resources"] == [stage_arn]
    ]


def others(host: str) -> tuple[str, str]:
    first, second = (letter for letter in "abc" if letter != host)
    return first, second


def test_participants_land_on_the_hosting_node_and_commands_through_any_node_reach_them(nodes: Nodes) -> None:
    stage = nodes["a"].client().create_stage(name="cluster")["stage"]
    arn = stage["arn"]
    alice_token = token(nodes, "b", arn, "alice")
    kicked_after: list[float] = []

    async def scenario() -> None:
        async with Participant(alice_token, ice_addresses=LOOPBACK) as alice:
            host = nodes.host_of(arn, via="c")  # placed when alice, the first participant, arrived (through b)
            issuer, commander = others(host)
            assert (await publish(alice)).startswith(nodes[host].url + "/whip/resources/")
            viewer = Participant(token(nodes, issuer, arn, "viewer"), ice_addresses=LOOPBACK)
            assert viewer.claims.events_url.startswith(nodes[issuer].url.replace("http", "ws"))
            async with viewer:
                await wait_until(lambda: alice.participant_id in viewer.roster, "alice in the relayed roster")
                # WHIP answered 307 from the issuing node to the hosting one, where the media flows.
                assert (await watch(viewer, alice.participant_id)).startswith(nodes[host].url + "/whip/resources/")
                api = nodes[commander].client()
                sent = time.monotonic()
                api.disconnect_participant(stageArn=arn, participantId=viewer.participant_id, reason="cluster test")
                left = await asyncio.wait_for(viewer.wait_left(), 10)
                kicked_after.append(time.monotonic() - sent)
                assert left.code == "PARTICIPANT_DISCONNECTED"
            with pytest.raises(JoinError) as refused:  # its id is refused for good, through the relay too
                await Participant(viewer.token, ice_addresses=LOOPBACK).join()
            assert refused.value.code == "PARTICIPANT_DISCONNECTED"

    run(scenario())
    print(f"DisconnectParticipant through another node took effect after {kicked_after[0] * 1000:.0f} ms")
    assert len(kicked_after) == 1


def test_a_browser_s_whip_request_is_relayed_to_the_hosting_node_not_redirected(nodes: Nodes) -> None:
    """Browsers drop the token on a cross-origin redirect: a request with ``Origin`` gets the hosting node's
    answer through the node it reached, with a Location on the hosting node; other clients get the 307."""
    arn = nodes["a"].client().create_stage(name="browser")["stage"]["arn"]

    async def scenario() -> None:
        async with Participant(token(nodes, "a", arn, "anchor"), ice_addresses=LOOPBACK) as anchor:
            host = nodes.host_of(arn, via="a")
            issuer = others(host)[0]
            created = nodes[issuer].client().create_participant_token(stageArn=arn, userId="browser")
            browser = created["participantToken"]
            url = f"{nodes[issuer].url}/whip/publish/{browser['participantId']}"
            pc, offer = await publisher(["video/H264"])
            try:
                status, headers, _ = await arequest("POST", url, offer, browser["token"])
                assert (status, headers["location"]) == (307, nodes[host].url + url.removeprefix(nodes[issuer].url))
                origin = {"Origin": "https://app.example.com"}
                status, headers, answer = await arequest("POST", url, offer, browser["token"], **origin)
                assert status == 201, answer
                location = headers["location"]
                assert location.startswith(nodes[host].url + "/whip/resources/")
                assert headers["link"].startswith(f"<{location}>;")
                assert headers["access-control-allow-origin"] == "*"
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
                await wait_until(lambda: browser["participantId"] in anchor.roster, "the browser publishing")
                status, _, _ = await arequest("DELETE", location, None, browser["token"], **origin)
                assert status == 200
                await wait_until(lambda: browser["participantId"] not in anchor.roster, "the browser unpublished")
            finally:
                await pc.close()

    run(scenario())


def test_a_second_stage_goes_to_another_node_and_every_event_arrives_once(make_cluster: Callable[..., Nodes]) -> None:
    nodes = make_cluster()  # of its own: no stage of another test weighs on the placement, no event on the webhook
    first = nodes["c"].client().create_stage(name="first")["stage"]["arn"]
    second = nodes["c"].client().create_stage(name="second")["stage"]["arn"]

    async def scenario() -> None:
        async with (
            Participant(token(nodes, "a", first, "one"), ice_addresses=LOOPBACK) as one,
            Participant(token(nodes, "b", second, "two"), ice_addresses=LOOPBACK) as two,
        ):
            hosts = {nodes.host_of(first, via="a"), nodes.host_of(second, via="b")}
            assert len(hosts) == 2, "the least loaded node takes the second stage"
            [watcher] = set("abc") - hosts  # its live stream shows the events the two other nodes write
            streamed: list[dict[str, Any]] = []
            reading = asyncio.create_task(read_stream(nodes[watcher].url, streamed))
            await asyncio.sleep(1)  # the stream starts at the next event
            await publish(one)
            await publish(two)
            await wait_until(
                lambda: (
                    {(e["resources"][0], e["detail"]["event_name"]) for e in streamed}
                    >= {(first, "Participant Published"), (second, "Participant Published")}
                ),
                f"both stages' events on node {watcher}'s live stream",
            )
            reading.cancel()
            # DeleteStage through a node that does not host the stage: its participant is told there.
            deleter = next(letter for letter in "abc" if letter != nodes.host_of(second, via="a"))
            nodes[deleter].client().delete_stage(arn=second)
            left = await asyncio.wait_for(two.wait_left(), 10)
            assert left.code == "STAGE_DELETED"
            one_id = one.participant_id
        await wait_until(lambda: (one_id, "Participant Unpublished") in stage_updates(nodes, first), "unpublished")

    run(scenario())
    time.sleep(3 * NODE_TTL_SECONDS)  # long enough for any second delivery (another lease holder) to show
    deliveries = [d for d in nodes.receiver.deliveries if d.status == 200]
    ids = Counter(d.event["id"] for d in deliveries)
    assert ids and max(ids.values()) == 1, f"events delivered more than once: {[i for i, n in ids.items() if n > 1]}"
    assert all(d.signature_ok(WEBHOOK_SECRET) for d in deliveries)
    names = Counter(name for _, name in stage_updates(nodes, first))
    assert names == {"Participant Published": 1, "Participant Unpublished": 1}
    assert Counter(name for _, name in stage_updates(nodes, second))["Participant Published"] == 1


def test_a_node_joining_spares_live_sessions_and_a_lost_placement_is_claimed_again(nodes: Nodes) -> None:
    arn = nodes["a"].client().create_stage(name="steady")["stage"]["arn"]

    async def scenario() -> None:
        async with Participant(token(nodes, "b", arn, "alice"), ice_addresses=LOOPBACK) as alice:
            host = nodes.host_of(arn, via="a")
            session_id = nodes["c"].client().get_stage(arn=arn)["stage"]["activeSessionId"]
            await asyncio.to_thread(nodes.start, "d")  # its start-up closes abandoned sessions: not this one
            assert nodes["d"].client().get_stage(arn=arn)["stage"]["activeSessionId"] == session_id
            listed = nodes["d"].client().list_participants(stageArn=arn, sessionId=session_id)["participants"]
            assert [p["state"] for p in listed] == ["CONNECTED"]
            # Redis restarted empty, as far as this stage goes: its node places it on itself again.
            redis.Redis.from_url(REDIS_URL).hdel(f"openstage:{nodes.name}:placements", arn)
            assert nodes.host_of(arn, via="d") == host
            assert (await publish(alice)).startswith(nodes[host].url)
        nodes["d"].stop()

    run(scenario())


def test_a_node_stopping_ends_its_own_sessions_and_no_other(nodes: Nodes) -> None:
    leaving, staying = (nodes["a"].client().create_stage(name=name)["stage"]["arn"] for name in ("leaving", "staying"))
    nodes.start("e")
    shared = redis.Redis.from_url(REDIS_URL)
    shared.hset(
        f"openstage:{nodes.name}:placements", mapping={leaving: nodes.node_id("e"), staying: nodes.node_id("a")}
    )

    def session_of(arn: str) -> str:
        return nodes["b"].client().get_stage(arn=arn)["stage"]["activeSessionId"]  # type: ignore[no-any-return]

    async def scenario() -> None:
        async with (
            Participant(token(nodes, "b", leaving, "gone"), ice_addresses=LOOPBACK) as gone,
            Participant(token(nodes, "c", staying, "kept"), ice_addresses=LOOPBACK) as kept,
        ):
            ended, live = session_of(leaving), session_of(staying)
            assert await asyncio.to_thread(nodes["e"].stop) == 0  # SIGTERM: a clean stop
            assert (await asyncio.wait_for(gone.wait_left(), 15)).code == "CONNECTION_LOST"
            sessions = nodes["b"].client().list_stage_sessions(stageArn=leaving)["stageSessions"]
            assert [s.get("endTime") is not None for s in sessions if s["sessionId"] == ended] == [True]
            assert session_of(staying) == live
            listed = nodes["b"].client().list_participants(stageArn=staying, sessionId=live)["participants"]
            assert [(p["participantId"], p["state"]) for p in listed] == [(kept.participant_id, "CONNECTED")]
            assert not kept.left

    run(scenario())


def test_a_hosting_node_that_cannot_be_reached_makes_the_client_reconnect(nodes: Nodes) -> None:
    """A relayed events WebSocket closes with 1013 (try again later), which clients answer by reconnecting."""
    arn = nodes["a"].client().create_stage(name="ghost")["stage"]["arn"]
    ghost = NodeInfo("ghost", "http://127.0.0.1:9", 2, 0.0, 0, 1, time.time())
    prefix = f"openstage:{nodes.name}:"
    shared = redis.Redis.from_url(REDIS_URL)
    shared.set(prefix + "node:ghost", ghost.to_json(), px=60_000)  # alive, but nobody answers at its URL
    shared.sadd(prefix + "nodes", "ghost")
    shared.hset(prefix + "placements", arn, "ghost")
    participant = token(nodes, "b", arn, "alice")
    topic = arn.rsplit("/", 1)[1]

    async def scenario() -> None:
        url = f"{nodes['b'].url.replace('http', 'ws')}/events/{topic}"
        async with connect(url, subprotocols=[Subprotocol(participant)]) as socket:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 15)
            assert socket.close_code == 1013
            assert "cannot be reached" in (socket.close_reason or "")
        # WHIP: a browser's relayed request gets a 503 it can retry; other clients the 307 as ever.
        whip = f"{nodes['b'].url}/whip/publish/{TokenClaims.decode(participant).participant_id}"
        status, headers, body = await arequest("POST", whip, "v=0\r\n", participant, Origin="https://app.example.com")
        assert (status, json.loads(body)["code"], headers["access-control-allow-origin"]) == (503, 2001, "*")
        status, headers, _ = await arequest("POST", whip, "v=0\r\n", participant)
        assert (status, headers["location"]) == (307, ghost.url + whip.removeprefix(nodes["b"].url))

    try:
        run(scenario())
    finally:
        shared.delete(prefix + "node:ghost")
        shared.srem(prefix + "nodes", "ghost")

    async def reconnect() -> None:  # the ghost's heartbeat is gone: the stage goes to a live node
        async with Participant(participant, ice_addresses=LOOPBACK):
            assert nodes.host_of(arn, via="a") in ("a", "b", "c")

    run(reconnect())


def test_a_killed_node_s_sessions_end_and_its_stage_moves_to_a_live_node(make_cluster: Callable[..., Nodes]) -> None:
    nodes = make_cluster()
    arn = nodes["a"].client().create_stage(name="doomed")["stage"]["arn"]
    measured: dict[str, float] = {}

    async def scenario() -> None:
        alice = Participant(token(nodes, "a", arn, "alice"), ice_addresses=LOOPBACK)
        viewer = Participant(token(nodes, "b", arn, "viewer"), ice_addresses=LOOPBACK)
        await alice.join()
        host = nodes.host_of(arn, via="c")
        survivor = others(host)[0]
        await viewer.join()
        await publish(alice)
        await watch(viewer, alice.participant_id)
        session_id = nodes[survivor].client().get_stage(arn=arn)["stage"]["activeSessionId"]
        killed = time.monotonic()
        nodes.kill(host)

        def ended() -> bool:
            sessions = nodes[survivor].client().list_stage_sessions(stageArn=arn)["stageSessions"]
            return any(s["sessionId"] == session_id and s.get("endTime") for s in sessions)

        await wait_until(ended, "the dead node's session to end", timeout=30)
        measured["ended"] = time.monotonic() - killed
        listed = nodes[survivor].client().list_participants(stageArn=arn, sessionId=session_id)["participants"]
        assert {p["state"] for p in listed} == {"DISCONNECTED"}
        unpublished = (alice.participant_id, "Participant Unpublished")
        await wait_until(lambda: unpublished in stage_updates(nodes, arn), "alice's unpublish at the webhook")
        for participant in (alice, viewer):
            await participant.leave()  # its node is gone: the SDK drops its half

        # Rejoin through the survivor: the stage is placed on a live node and media flows there.
        async with (
            Participant(token(nodes, survivor, arn, "alice"), ice_addresses=LOOPBACK) as again,
            Participant(token(nodes, survivor, arn, "viewer"), ice_addresses=LOOPBACK) as watcher,
        ):
            new_host = nodes.host_of(arn, via=survivor)
            assert new_host != host
            assert (await publish(again)).startswith(nodes[new_host].url)
            await watch(watcher, again.participant_id)
            fresh = nodes[survivor].client().get_stage(arn=arn)["stage"]["activeSessionId"]
            assert fresh and fresh != session_id

    run(scenario())
    print(f"a killed node's session ended {measured['ended']:.1f} s after kill -9 (node TTL {NODE_TTL_SECONDS} s)")
    names = [name for _, name in stage_updates(nodes, arn)]
    assert names.count("Participant Unpublished") >= 1
