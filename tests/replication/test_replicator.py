"""Participant replication end to end: a WebRTC publisher in stage A, seen and heard by a subscriber in stage B.

SQLite only, like the other media tests; the API's checks run on both backends in
tests/control/handlers/test_replication.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.client.test_participant import BLUE, COLOUR_TOLERANCE, centre, frequency
from tests.events.receiver import Receiver
from tests.ingest.helpers import LOOPBACK, events, wait_for
from tests.server import Server

TONE = 660.0


@pytest.fixture(scope="module")
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server], webhook: Receiver) -> Server:
    args = ["--ice-addresses", "127.0.0.1", "--session-grace-seconds", "1"]
    return make_server("sqlite", args=[*args, "--webhook", webhook.url, "--webhook-secret", "s"])


@pytest.fixture
def ivs(media_server: Server) -> Any:
    return media_server.client()


def token(ivs: Any, stage: dict[str, Any], *capabilities: str, **extra: Any) -> dict[str, Any]:
    created = ivs.create_participant_token(stageArn=stage["arn"], capabilities=list(capabilities), **extra)
    return created["participantToken"]  # type: ignore[no-any-return]


def replicas(ivs: Any, source: dict[str, Any], participant_id: str) -> list[dict[str, Any]]:
    return ivs.list_participant_replicas(sourceStageArn=source["arn"], participantId=participant_id)["replicas"]  # type: ignore[no-any-return]


def participant(ivs: Any, stage: dict[str, Any], session_id: str, participant_id: str) -> dict[str, Any]:
    return ivs.get_participant(stageArn=stage["arn"], sessionId=session_id, participantId=participant_id)["participant"]  # type: ignore[no-any-return]


async def watch(viewer: Participant, publisher_id: str) -> tuple[list[Any], list[Any]]:
    deadline = time.monotonic() + 20
    while publisher_id not in viewer.roster:
        assert time.monotonic() < deadline, "the replica never appeared in the destination's roster"
        await asyncio.sleep(0.05)
    subscription = await viewer.subscribe(publisher_id)
    video: list[Any] = []
    audio: list[Any] = []

    async def take(frames: Any, into: list[Any], count: int) -> None:
        async for frame in frames:
            into.append(frame)
            if len(into) >= count:
                return

    await asyncio.gather(take(subscription.video_frames(), video, 15), take(subscription.audio_frames(), audio, 75))
    await viewer.unsubscribe(publisher_id)
    return video, audio


def test_a_replicated_publisher_is_received_in_the_destination_stage(ivs: Any, webhook: Receiver) -> None:
    source, destination = (ivs.create_stage(name=name)["stage"] for name in ("source", "destination"))
    publisher = token(ivs, source, "PUBLISH", userId="host", attributes={"role": "host", "seat": "1"})
    pid = publisher["participantId"]
    viewer = token(ivs, destination, "SUBSCRIBE")

    async def scenario() -> tuple[list[Any], list[Any], dict[str, Any], dict[str, Any]]:
        async with (
            Participant(publisher["token"], ice_addresses=LOOPBACK) as host,
            Participant(viewer["token"], ice_addresses=LOOPBACK) as watcher,
        ):
            await host.publish(video=PatternVideoTrack(colour=BLUE), audio=ToneAudioTrack(TONE))
            ivs.start_participant_replication(
                sourceStageArn=source["arn"],
                destinationStageArn=destination["arn"],
                participantId=pid,
                attributes={"seat": "guest"},
            )
            video, audio = await watch(watcher, pid)
            assert watcher.roster[pid].attributes == {"role": "host", "seat": "guest"}  # merged, overlapping replaced
            (listed,) = replicas(ivs, source, pid)
            replica = participant(ivs, destination, listed["destinationSessionId"], pid)
            original = participant(ivs, source, listed["sourceSessionId"], pid)
            ivs.stop_participant_replication(
                sourceStageArn=source["arn"], destinationStageArn=destination["arn"], participantId=pid
            )
            deadline = time.monotonic() + 20
            while pid in watcher.roster:
                assert time.monotonic() < deadline, "the replica stayed after StopParticipantReplication"
                await asyncio.sleep(0.05)
            return video, audio, replica, original

    video, audio, replica, original = asyncio.run(asyncio.wait_for(scenario(), 90))
    for frame in video[-3:]:
        assert max(abs(a - b) for a, b in zip(centre(frame), BLUE, strict=True)) <= COLOUR_TOLERANCE
    assert abs(frequency(audio[25:]) - TONE) < TONE * 0.05
    assert (replica["replicationType"], replica["replicationState"]) == ("REPLICA", "ACTIVE")
    assert (replica["sourceStageArn"], replica["userId"]) == (source["arn"], "host")
    assert (original["replicationType"], original["sourceStageArn"]) == ("SOURCE", "")
    (listed,) = wait_for(
        lambda: [r for r in replicas(ivs, source, pid) if r["replicationState"] == "STOPPED"], "STOPPED"
    )
    assert listed["sourceSessionId"] == replica["sourceSessionId"]
    assert listed["destinationStageArn"] == destination["arn"]
    wait_for(lambda: "REPLICATION_STOPPED" in [e["name"] for e in events(ivs, source, pid)], "REPLICATION_STOPPED")
    replication = [e for e in events(ivs, source, pid) if e["name"].startswith("REPLICATION_")]
    assert [e["name"] for e in replication] == ["REPLICATION_STARTED", "REPLICATION_STOPPED"]
    assert {(e["destinationStageArn"], e["destinationSessionId"]) for e in replication} == {
        (destination["arn"], listed["destinationSessionId"])
    }
    names = [e["name"] for e in events(ivs, destination, pid)]
    assert names[:2] == ["JOINED", "PUBLISH_STARTED"] and "PUBLISH_STOPPED" in names
    # The replica's own events, and the viewer's about it, say replica (docs 3.4); the source's do not.
    assert all(e.get("replica") is True for e in events(ivs, destination, pid))
    watched = [e for e in events(ivs, destination, viewer["participantId"]) if e.get("remoteParticipantId") == pid]
    assert [e["name"] for e in watched] == ["SUBSCRIBE_STARTED", "SUBSCRIBE_STOPPED"]
    assert all(e.get("replica") is True for e in watched)
    assert not any(e.get("replica") for e in events(ivs, source, pid))

    def announced() -> list[dict[str, Any]]:
        return [
            e["detail"] for e in webhook.accepted() if e["detail"].get("destination_stage_arn") == destination["arn"]
        ]

    wait_for(lambda: len(announced()) >= 2, "the EventBridge events")
    assert [(d["event_name"], d["participant_id"], d["destination_stage_arn"]) for d in announced()] == [
        ("Participant Replication Started", pid, destination["arn"]),
        ("Participant Replication Stopped", pid, destination["arn"]),
    ]
    assert {d["session_id"] for d in announced()} == {listed["sourceSessionId"]}


def test_the_reconnect_window_keeps_a_replication_across_a_republish_then_expires(ivs: Any) -> None:
    source, destination = (ivs.create_stage(name=name)["stage"] for name in ("source", "destination"))
    publisher = token(ivs, source, "PUBLISH")
    pid = publisher["participantId"]
    window = 4

    async def scenario() -> None:
        async with Participant(publisher["token"], ice_addresses=LOOPBACK) as host:
            await host.publish(video=PatternVideoTrack(160, 120))
            ivs.start_participant_replication(
                sourceStageArn=source["arn"], destinationStageArn=destination["arn"], participantId=pid,
                reconnectWindowSeconds=window,
            )  # fmt: skip
            await asyncio.sleep(1)
            await host.unpublish()
            await host.publish(video=PatternVideoTrack(160, 120))  # back within the window
            viewer = token(ivs, destination, "SUBSCRIBE")
            async with Participant(viewer["token"], ice_addresses=LOOPBACK) as watcher:
                deadline = time.monotonic() + 20
                while pid not in watcher.roster:
                    assert time.monotonic() < deadline, "the replica did not come back with its source"
                    await asyncio.sleep(0.05)
            assert replicas(ivs, source, pid)[0]["replicationState"] == "ACTIVE"

    asyncio.run(asyncio.wait_for(scenario(), 90))
    left = time.monotonic()  # the host left: the replication ends once the window has passed
    wait_for(lambda: replicas(ivs, source, pid)[0]["replicationState"] == "STOPPED", "the window to expire", 30)
    assert time.monotonic() - left >= window - 1
    names = [e["name"] for e in events(ivs, source, pid) if e["name"].startswith("REPLICATION_")]
    assert names == ["REPLICATION_STARTED", "REPLICATION_STOPPED"]


def test_without_a_window_the_replication_ends_with_the_publication(ivs: Any) -> None:
    source, destination = (ivs.create_stage(name=name)["stage"] for name in ("source", "destination"))
    publisher = token(ivs, source, "PUBLISH")
    pid = publisher["participantId"]

    async def scenario() -> None:
        async with Participant(publisher["token"], ice_addresses=LOOPBACK) as host:
            await host.publish(video=PatternVideoTrack(160, 120))
            ivs.start_participant_replication(
                sourceStageArn=source["arn"], destinationStageArn=destination["arn"], participantId=pid
            )
            wait_for(lambda: replicas(ivs, source, pid)[0]["destinationSessionId"], "the replica to join")
            await host.unpublish()
            wait_for(lambda: replicas(ivs, source, pid)[0]["replicationState"] == "STOPPED", "STOPPED")

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_disconnecting_the_replica_from_its_destination_ends_the_replication(ivs: Any) -> None:
    source, destination = (ivs.create_stage(name=name)["stage"] for name in ("source", "destination"))
    publisher = token(ivs, source, "PUBLISH")
    pid = publisher["participantId"]

    async def scenario() -> None:
        async with Participant(publisher["token"], ice_addresses=LOOPBACK) as host:
            await host.publish(video=PatternVideoTrack(160, 120))
            ivs.start_participant_replication(
                sourceStageArn=source["arn"], destinationStageArn=destination["arn"], participantId=pid,
                reconnectWindowSeconds=60,
            )  # fmt: skip
            wait_for(lambda: replicas(ivs, source, pid)[0]["destinationSessionId"], "the replica to join")
            ivs.disconnect_participant(stageArn=destination["arn"], participantId=pid)
            wait_for(lambda: replicas(ivs, source, pid)[0]["replicationState"] == "STOPPED", "STOPPED")
            assert host.publication is not None  # the source goes on publishing in its own stage

    asyncio.run(asyncio.wait_for(scenario(), 60))
