"""What the console shows, from a real stage: counts, publish and subscribe status, events, sessions, compositions.

A publisher and a subscriber join with the Python participant SDK (media on 127.0.0.1), so
every number comes from what the media plane recorded, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from openstage.store.models import Composition
from tests.seed import EPOCH, arn, seed
from tests.server import Server

LOOPBACK = ["127.0.0.1"]


@pytest.fixture(scope="module")
def media_server(backend: str, make_server: Callable[..., Server]) -> Server:
    return make_server(backend, args=["--ice-addresses", "127.0.0.1", "--session-grace-seconds", "1"])


def stages(server: Server) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{server.url}/api/console/stages", timeout=10)
    assert answer.status_code == 200
    return {stage["arn"]: stage for stage in answer.json()["stages"]}


def stage_page(server: Server, stage_arn: str, session: str = "") -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/api/console/stage", params={"arn": stage_arn, "session": session}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def test_a_live_stage_shows_who_publishes_and_who_watches(media_server: Server) -> None:
    ivs = media_server.client()
    stage_arn = ivs.create_stage(name="views", tags={"show": "friday"})["stage"]["arn"]
    quiet_arn = ivs.create_stage(name="quiet")["stage"]["arn"]
    alice = ivs.create_participant_token(stageArn=stage_arn, userId="alice", attributes={"role": "host"})
    bob = ivs.create_participant_token(stageArn=stage_arn, userId="bob", capabilities=["SUBSCRIBE"])
    alice_id, bob_id = alice["participantToken"]["participantId"], bob["participantToken"]["participantId"]

    async def scenario() -> None:
        async with (
            Participant(alice["participantToken"]["token"], ice_addresses=LOOPBACK) as publisher,
            Participant(bob["participantToken"]["token"], ice_addresses=LOOPBACK) as viewer,
        ):
            await publisher.publish(video=PatternVideoTrack(), audio=ToneAudioTrack())
            await viewer.subscribe(alice_id)
            await until(lambda: stages(media_server)[stage_arn]["publishers"] == 1, "alice publishing")
            overview = stages(media_server)
            assert overview[stage_arn]["participants"] == 2 and overview[stage_arn]["sessions"] == 1
            assert overview[stage_arn]["tags"] == {"show": "friday"} and overview[stage_arn]["activeSessionId"]
            assert overview[quiet_arn] | {"createdAt": None} == {
                "arn": quiet_arn,
                "name": "quiet",
                "createdAt": None,
                "activeSessionId": None,
                "participants": 0,
                "publishers": 0,
                "sessions": 0,
                "tags": {},
            }
            page = stage_page(media_server, stage_arn)
            assert page["sessionId"] == page["stage"]["activeSessionId"] == overview[stage_arn]["activeSessionId"]
            people = {p["userId"]: p for p in page["participants"]}
            assert people["alice"]["publishing"] and people["alice"]["attributes"] == {"role": "host"}
            assert people["alice"]["state"] == people["bob"]["state"] == "CONNECTED"
            assert not people["bob"]["publishing"] and people["bob"]["subscribedTo"] == [alice_id]
            seen = [(event["userId"], event["name"]) for event in page["events"]]
            for expected in [("alice", "JOINED"), ("alice", "PUBLISH_STARTED"), ("bob", "SUBSCRIBE_STARTED")]:
                assert expected in seen
            subscribed = next(e for e in page["events"] if e["name"] == "SUBSCRIBE_STARTED")
            assert subscribed["remoteParticipantId"] == alice_id and subscribed["participantId"] == bob_id

    asyncio.run(asyncio.wait_for(scenario(), 60))

    async def after() -> None:
        await until(lambda: stages(media_server)[stage_arn]["activeSessionId"] is None, "the session to end")

    asyncio.run(after())
    final = stages(media_server)[stage_arn]
    assert (final["participants"], final["publishers"], final["sessions"]) == (0, 0, 1)
    page = stage_page(media_server, stage_arn)  # no active session: the newest one is shown
    assert page["stage"]["activeSessionId"] is None and page["sessionId"] == page["sessions"][0]["sessionId"]
    assert page["sessions"][0]["endTime"] is not None and page["sessions"][0]["participants"] == 2
    assert {p["state"] for p in page["participants"]} == {"DISCONNECTED"}
    assert not any(p["publishing"] or p["subscribedTo"] for p in page["participants"])
    assert [event["name"] for event in page["events"]].count("LEFT") == 2
    assert [event["sequence"] for event in page["events"]] == sorted(event["sequence"] for event in page["events"])


def test_compositions_show_with_their_destinations(media_server: Server) -> None:
    stage_arn = media_server.client().create_stage(name="composed")["stage"]["arn"]
    composition_arn = arn("composition")
    destinations = [
        {"id": "AbCdEfGhIjKl", "state": "ACTIVE", "configuration": {"channel": {"channelArn": "arn:x"}}},
        {"id": "MnOpQrStUvWx", "state": "STOPPED", "configuration": {"s3": {"storageConfigurationArn": "arn:y"}}},
    ]
    seed(
        media_server,
        Composition(
            arn=composition_arn,
            stage_arn=stage_arn,
            state="ACTIVE",
            start_time=EPOCH,
            layout={"grid": {"featuredParticipantAttribute": ""}},
            destinations=destinations,
        ),
    )
    page = stage_page(media_server, stage_arn)
    assert page["sessionId"] is None and page["participants"] == [] and page["events"] == []
    assert page["compositions"] == [
        {
            "arn": composition_arn,
            "state": "ACTIVE",
            "startTime": "2024-04-26T20:30:29Z",
            "endTime": None,
            "layout": {"grid": {"featuredParticipantAttribute": ""}},
            "destinations": [
                {"id": "AbCdEfGhIjKl", "state": "ACTIVE", "kind": "channel"},
                {"id": "MnOpQrStUvWx", "state": "STOPPED", "kind": "s3"},
            ],
        }
    ]


def test_unknown_stages_and_foreign_sessions_are_404s(media_server: Server) -> None:
    ivs = media_server.client()
    stage_arn = ivs.create_stage(name="lonely")["stage"]["arn"]
    missing = arn("stage")
    answer = httpx.get(f"{media_server.url}/api/console/stage", params={"arn": missing})
    assert answer.status_code == 404 and answer.json()["message"] == f"Stage not found: {missing}"
    answer = httpx.get(
        f"{media_server.url}/api/console/stage", params={"arn": stage_arn, "session": "st-AbCdEfGhIjKlM"}
    )
    assert answer.status_code == 404 and "Stage session not found: st-AbCdEfGhIjKlM" in answer.json()["message"]
    answer = httpx.get(f"{media_server.url}/api/console/stage")
    assert answer.status_code == 400 and "?arn=" in answer.json()["message"]
