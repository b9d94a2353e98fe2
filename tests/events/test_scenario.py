"""One scripted stage, every kind of event: exactly the expected events reach a webhook, signed, in causal order.

A publisher is recorded automatically and watched by a subscriber; a composition to the local
bucket starts and stops while it publishes; then everyone leaves. Joining and subscribing
announce nothing on EventBridge (docs 4), so the webhook must get exactly eight events, and
the outbox order (which the webhook keeps) must respect what caused what.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.events.helpers import SECRET
from tests.events.receiver import Receiver
from tests.server import Server

EXPECTED = {
    ("IVS Stage Update", "Participant Published"),
    ("IVS Participant Recording State Change", "Recording Start"),
    ("IVS Composition State Change", "Session Start"),
    ("IVS Composition State Change", "Destination Start"),
    ("IVS Composition State Change", "Destination End"),
    ("IVS Composition State Change", "Session End"),
    ("IVS Stage Update", "Participant Unpublished"),
    ("IVS Participant Recording State Change", "Recording End"),
}
# (earlier, later): each pair is cause and effect, or a step of the script and a later one.
CAUSAL_ORDER = [
    ("Participant Published", "Recording Start"),
    ("Participant Published", "Session Start"),
    ("Session Start", "Destination Start"),
    ("Destination Start", "Destination End"),
    ("Destination End", "Session End"),
    ("Session End", "Participant Unpublished"),
    ("Participant Unpublished", "Recording End"),
    ("Recording Start", "Recording End"),
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.close()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def test_a_scripted_stage_produces_exactly_the_expected_events_in_order(
    make_server: Callable[..., Server], receiver: Receiver
) -> None:
    args = ["--ice-addresses", "127.0.0.1", "--webhook", receiver.url, "--webhook-secret", SECRET]
    server = make_server("sqlite", args=args)
    ivs = server.client()
    storage = ivs.create_storage_configuration(s3={"bucketName": "scenario"})["storageConfiguration"]["arn"]
    video = {"width": 320, "height": 180, "framerate": 15.0, "bitrate": 300_000}
    encoder = ivs.create_encoder_configuration(video=video)["encoderConfiguration"]["arn"]
    recording = {"storageConfigurationArn": storage, "recordingReconnectWindowSeconds": 0}
    stage_arn = ivs.create_stage(name="scenario", autoParticipantRecordingConfiguration=recording)["stage"]["arn"]
    publisher = ivs.create_participant_token(stageArn=stage_arn, userId="host", capabilities=["PUBLISH"])
    viewer = ivs.create_participant_token(stageArn=stage_arn, userId="fan", capabilities=["SUBSCRIBE"])
    publisher_id = publisher["participantToken"]["participantId"]
    destination = {"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}}

    def composition_state(arn: str, state: str) -> bool:
        return ivs.get_composition(arn=arn)["composition"]["state"] == state

    async def script() -> str:
        async with Participant(publisher["participantToken"]["token"], ice_addresses=["127.0.0.1"]) as host:
            await host.publish(video=PatternVideoTrack(320, 240), audio=ToneAudioTrack())
            async with Participant(viewer["participantToken"]["token"]) as fan:
                subscription = await fan.subscribe(publisher_id)
                await asyncio.wait_for(anext(subscription.video_frames()), 30)
                composition = ivs.start_composition(stageArn=stage_arn, destinations=[destination])
                arn = composition["composition"]["arn"]
                await asyncio.to_thread(wait_for, lambda: composition_state(arn, "ACTIVE"), "composition ACTIVE")
                await asyncio.sleep(2)  # some media through the composition
                ivs.stop_composition(arn=arn)
                await asyncio.to_thread(wait_for, lambda: composition_state(arn, "STOPPED"), "composition STOPPED")
        return str(arn)

    composition_arn = asyncio.run(asyncio.wait_for(script(), 180))
    events = receiver.wait_for(len(EXPECTED), timeout=60)
    time.sleep(1.5)  # an unexpected extra event would arrive by now
    events = receiver.accepted()

    kinds = [(event["detail-type"], event["detail"]["event_name"]) for event in events]
    assert sorted(kinds) == sorted(EXPECTED), kinds
    assert len({event["id"] for event in events}) == len(events)
    assert all(delivery.signature_ok(SECRET) for delivery in receiver.deliveries)
    position = {name: index for index, (_, name) in enumerate(kinds)}
    for earlier, later in CAUSAL_ORDER:
        assert position[earlier] < position[later], f"{earlier} came after {later}: {kinds}"

    for event in events:
        detail = event["detail"]
        if event["detail-type"] == "IVS Composition State Change":
            assert event["resources"] == [composition_arn] and detail["stage_arn"] == stage_arn
        else:
            assert event["resources"] == [stage_arn] and detail["participant_id"] == publisher_id
    session_id = ivs.list_stage_sessions(stageArn=stage_arn)["stageSessions"][0]["sessionId"]
    recorded = ivs.get_participant(stageArn=stage_arn, sessionId=session_id, participantId=publisher_id)
    prefix = recorded["participant"]["recordingS3Prefix"]
    for event in events:
        if event["detail-type"] == "IVS Participant Recording State Change":
            assert event["detail"]["recording_s3_bucket_name"] == "scenario"
            assert event["detail"]["recording_s3_key_prefix"] == prefix
            assert event["detail"]["session_id"] == session_id
