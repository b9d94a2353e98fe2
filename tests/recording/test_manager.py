"""Individual participant recording end to end: a real server, a real aiortc publisher, local folder buckets.

Each test publishes a test pattern and a tone through WHIP and reads the recording back from
the bucket folder (and over the server's read-only bucket route), decoding it with PyAV.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from tests.events.helpers import SECRET
from tests.events.receiver import Receiver
from tests.recording.media import (
    LOOPBACK,
    local_recording,
    publish_for,
    recording_config,
    run,
    session_id,
    state_is,
    token,
    wait_participant,
)
from tests.server import Server

SEGMENT = 2  # seconds, as recording_config asks
RED = (81, 90, 240)  # (Y, U, V)


@pytest.fixture(scope="module")
def receiver() -> Receiver:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server], receiver: Receiver) -> Server:
    args = ["--ice-addresses", "127.0.0.1", "--webhook", receiver.url, "--webhook-secret", SECRET]
    return make_server("sqlite", args=[*args, "--quota", "storage_configurations=100"])  # one per test


def recording_stage(server: Server, bucket: str, **overrides) -> str:
    ivs = server.client()
    storage = ivs.create_storage_configuration(s3={"bucketName": bucket})["storageConfiguration"]
    config = recording_config(storage["arn"], **overrides)
    return str(ivs.create_stage(name="recorded", autoParticipantRecordingConfiguration=config)["stage"]["arn"])


def recording_events(receiver: Receiver, participant_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while True:
        found = [
            event
            for event in receiver.accepted()
            if event["detail-type"] == "IVS Participant Recording State Change"
            and event["detail"]["participant_id"] == participant_id
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_publisher_is_recorded_as_hls_with_thumbnails_and_json(media_server: Server, receiver: Receiver, tmp_path):
    ivs = media_server.client()
    stage_arn = recording_stage(
        media_server,
        "recordings",
        thumbnailConfiguration={
            "recordingMode": "INTERVAL",
            "targetIntervalSeconds": 2,
            "storage": ["SEQUENTIAL", "LATEST"],
        },
    )
    alice = token(ivs, stage_arn)
    published = 10.0

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, published, colour=RED)

    run(scenario)
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    session = session_id(ivs, stage_arn)
    prefix = participant["recordingS3Prefix"]
    stage_id = stage_arn.rsplit("/", 1)[1]
    assert participant["recordingS3BucketName"] == "recordings"
    assert prefix.startswith(f"{stage_id}/{session}/{alice['participantId']}/")
    assert len(prefix.rsplit("/", 1)[1]) == len("2024-01-01T12-00-55Z")

    recording = local_recording(media_server.data_dir / "buckets" / "recordings", prefix)
    playlist = recording.playlist()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-DISCONTINUITY" not in playlist
    assert recording.segments() == [f"{n}.mp4" for n in range(1, len(recording.segments()) + 1)]
    decoded = recording.decode(tmp_path)
    assert (decoded["video_codec"], decoded["audio_codec"]) == ("h264", "aac")
    assert decoded["size"] == (320, 240)
    for kind in ("video", "audio"):
        assert abs(decoded[f"{kind}_seconds"] - published) <= SEGMENT + 1, decoded
    assert decoded["video_frames"] >= 20 * (published - SEGMENT)
    # What was published, not just something: the solid colour, and the tone through Opus and AAC.
    assert all(max(abs(a - b) for a, b in zip(c, RED, strict=True)) <= 16 for c in decoded["centre_colours"][5:])
    assert decoded["loud_audio_frames"] >= decoded["audio_frames"] * 0.8

    # A thumbnail every 2 s: about 5 in 10 s, the latest one too.
    assert 3 <= len(recording.thumbnails()) <= 7
    assert all(recording.objects[key][:2] == b"\xff\xd8" for key in recording.thumbnails())
    assert "media/latest_thumbnail/high/thumb.jpg" in recording.objects

    started, ended = recording.json("recording-started.json"), recording.json("recording-ended.json")
    assert "recording-failed.json" not in str(list(recording.objects))
    common = {"version": "v1", "stage_arn": stage_arn, "session_id": session, "participant_id": alice["participantId"]}
    assert started.items() >= common.items() and ended.items() >= common.items()
    assert started["recording_status"] == "RECORDING_STARTED" and ended["recording_status"] == "RECORDING_ENDED"
    assert ended["recording_started_at"] == started["recording_started_at"] < ended["recording_ended_at"]
    hls = ended["media"]["hls"]
    assert (hls["path"], hls["playlist"], hls["renditions"]) == (
        "media/hls",
        "multivariant.m3u8",
        [{"path": "high", "playlist": "playlist.m3u8"}],
    )
    assert abs(hls["duration_ms"] - published * 1000) <= (SEGMENT + 1) * 1000
    assert ended["media"]["thumbnails"] == {"path": "media/thumbnails", "renditions": [{"path": "high"}]}
    assert ended["media"]["latest_thumbnail"]["path"] == "media/latest_thumbnail"

    events = recording_events(receiver, alice["participantId"], 2)
    assert [event["detail"]["event_name"] for event in events] == ["Recording Start", "Recording End"]
    for event in events:
        assert event["resources"] == [stage_arn]
        assert event["detail"]["session_id"] == session
        assert event["detail"]["recording_s3_bucket_name"] == "recordings"
        assert event["detail"]["recording_s3_key_prefix"] == prefix
    assert events[1]["detail"]["recording_duration_ms"] == hls["duration_ms"]

    # The same files over HTTP, with the content types S3 would have.
    base = f"{media_server.url}/buckets/recordings/{prefix}"
    with httpx.Client() as http:
        for key, content_type in [
            ("media/hls/multivariant.m3u8", "application/vnd.apple.mpegurl"),
            ("media/hls/high/1.mp4", "video/mp4"),
            ("media/thumbnails/high/1.jpg", "image/jpeg"),
            ("events/recording-ended.json", "application/json"),
        ]:
            response = http.get(f"{base}/{key}")
            assert response.status_code == 200, key
            assert response.headers["content-type"].startswith(content_type)
            assert response.content == recording.objects[key]
        for bad in [f"{base}/../../../openstage.db", f"{media_server.url}/buckets/recordings/{prefix}/media"]:
            assert http.get(bad).status_code == 404


@pytest.mark.parametrize("media_types", ["AUDIO_ONLY", "NONE"])
def test_audio_only_and_thumbnails_only(media_server: Server, media_types: str, tmp_path: Path):
    """VP8 this time: audio-only never touches the video; NONE decodes keyframes for thumbnails only."""
    ivs = media_server.client()
    bucket = f"only-{media_types.lower().replace('_', '-')}"
    stage_arn = recording_stage(media_server, bucket, mediaTypes=[media_types])
    alice = token(ivs, stage_arn)

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, 6.0, codec="VP8")

    run(scenario)
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    recording = local_recording(media_server.data_dir / "buckets" / bucket, participant["recordingS3Prefix"])
    ended = recording.json("recording-ended.json")
    if media_types == "AUDIO_ONLY":
        decoded = recording.decode(tmp_path)
        assert (decoded["video_codec"], decoded["audio_codec"]) == (None, "aac")
        assert decoded["video_frames"] == 0 and abs(decoded["audio_seconds"] - 6.0) <= SEGMENT + 1
        assert "hls" in ended["media"]
    else:
        assert not any(key.startswith("media/hls") for key in recording.objects)
        assert "hls" not in ended["media"]
    assert len(recording.thumbnails()) >= 2


def test_reconnect_within_the_window_continues_and_after_it_starts_anew(media_server: Server, tmp_path: Path):
    ivs = media_server.client()
    stage_arn = recording_stage(media_server, "reconnects", recordingReconnectWindowSeconds=4)
    alice = token(ivs, stage_arn)

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, 4.0)
            await publish_for(participant, 4.0)  # back at once: the same recording

    run(scenario)
    stopping = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPING", "STOPPED"))
    first_prefix = stopping["recordingS3Prefix"]
    folder = media_server.data_dir / "buckets" / "reconnects"
    assert (
        not (folder / first_prefix / "events/recording-ended.json").exists() or stopping["recordingState"] == "STOPPED"
    )
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    assert participant["recordingS3Prefix"] == first_prefix
    recording = local_recording(folder, first_prefix)
    playlist = recording.playlist()
    assert playlist.count("#EXT-X-DISCONTINUITY") == 1
    assert '#EXT-X-MAP:URI="init.mp4"' in playlist and '#EXT-X-MAP:URI="init-1.mp4"' in playlist
    assert recording.segments() == [f"{n}.mp4" for n in range(1, len(recording.segments()) + 1)]
    thumbnails = recording.thumbnails()
    assert thumbnails == sorted(f"media/thumbnails/high/{n}.jpg" for n in range(1, len(thumbnails) + 1))
    decoded = recording.decode(tmp_path)
    assert abs(decoded["audio_seconds"] - 8.0) <= 2 * SEGMENT + 1, decoded

    # Later than the window: a new recording under a new prefix.
    async def again() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, 3.0)

    time.sleep(1.1)  # the prefix's timestamp has whole seconds
    run(again)
    later = wait_participant(
        ivs,
        stage_arn,
        alice["participantId"],
        lambda p: p["recordingS3Prefix"] != first_prefix and state_is("STOPPED")(p),
    )
    assert (folder / later["recordingS3Prefix"] / "events/recording-ended.json").exists()
    assert "#EXT-X-DISCONTINUITY" not in local_recording(folder, later["recordingS3Prefix"]).playlist()


def test_recording_states_through_boto3(media_server: Server):
    """STARTING/ACTIVE while publishing, ListParticipants filterByRecordingState, UpdateStage 409 meanwhile."""
    ivs = media_server.client()
    stage_arn = recording_stage(media_server, "states")
    storage_arn = ivs.get_stage(arn=stage_arn)["stage"]["autoParticipantRecordingConfiguration"][
        "storageConfigurationArn"
    ]
    alice, bob = token(ivs, stage_arn), token(ivs, stage_arn, "bob")
    checked: dict[str, object] = {}

    def while_recording() -> None:
        """Blocking boto3 calls: run in a thread so the publisher's media keeps flowing meanwhile."""
        participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("ACTIVE"))
        session = session_id(ivs, stage_arn)
        active = ivs.list_participants(stageArn=stage_arn, sessionId=session, filterByRecordingState="ACTIVE")
        checked["active"] = [p["participantId"] for p in active["participants"]]
        bob_row = ivs.get_participant(stageArn=stage_arn, sessionId=session, participantId=bob["participantId"])
        checked["bob"] = bob_row["participant"]["recordingState"]
        changed = recording_config(storage_arn, mediaTypes=["NONE"])
        with pytest.raises(ivs.exceptions.ConflictException):
            ivs.update_stage(arn=stage_arn, autoParticipantRecordingConfiguration=changed)
        ivs.update_stage(arn=stage_arn, name="renamed")  # the rest of the stage may change
        checked["prefix"] = participant["recordingS3Prefix"]

    async def scenario() -> None:
        async with (
            Participant(alice["token"], ice_addresses=LOOPBACK) as publisher,
            Participant(bob["token"], ice_addresses=LOOPBACK),
        ):
            await publisher.publish(video=PatternVideoTrack(160, 120), audio=ToneAudioTrack())
            await asyncio.to_thread(while_recording)
            await publisher.unpublish()

    run(scenario)
    assert checked["active"] == [alice["participantId"]]
    assert checked["bob"] == "DISABLED"  # never published: never recorded
    wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    session = session_id(ivs, stage_arn)
    stopped = ivs.list_participants(stageArn=stage_arn, sessionId=session, filterByRecordingState="STOPPED")
    assert [p["participantId"] for p in stopped["participants"]] == [alice["participantId"]]
    ivs.update_stage(
        arn=stage_arn, autoParticipantRecordingConfiguration=recording_config(storage_arn, mediaTypes=["NONE"])
    )


def test_replicas_are_recorded_unless_the_stage_says_not_to(media_server: Server):
    ivs = media_server.client()
    source = ivs.create_stage(name="source")["stage"]["arn"]
    recorded = recording_stage(media_server, "replicas")
    skipped = recording_stage(media_server, "no-replicas", recordParticipantReplicas=False)
    alice = token(ivs, source)
    pid = alice["participantId"]

    def replica_states() -> dict[str, str]:
        """The replica's recordingState in each destination, once it has joined both."""
        states = {}
        for stage_arn in (recorded, skipped):
            found = wait_participant(ivs, stage_arn, pid, lambda p: True)
            states[stage_arn] = found["recordingState"]
        return states

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await participant.publish(video=PatternVideoTrack(160, 120), audio=ToneAudioTrack())
            for destination in (recorded, skipped):
                ivs.start_participant_replication(
                    sourceStageArn=source, destinationStageArn=destination, participantId=pid
                )
            await asyncio.to_thread(wait_participant, ivs, recorded, pid, state_is("ACTIVE"))
            await asyncio.sleep(3.0)
            await participant.unpublish()

    run(scenario)
    states = replica_states()
    assert states[skipped] == "DISABLED"
    assert wait_participant(ivs, recorded, pid, state_is("STOPPED"))["recordingS3Prefix"]
    source_row = wait_participant(ivs, source, pid, lambda p: True)
    assert source_row["recordingState"] == "DISABLED"  # the source stage does not record
    assert not (media_server.data_dir / "buckets" / "no-replicas").exists() or not any(
        (media_server.data_dir / "buckets" / "no-replicas").rglob("*.json")
    )


def test_a_bucket_that_cannot_be_written_fails_the_start(media_server: Server, receiver: Receiver):
    ivs = media_server.client()
    stage_arn = recording_stage(media_server, "gone-bucket")
    folder = media_server.data_dir / "buckets" / "gone-bucket"
    folder.rmdir()
    folder.write_text("a file where the bucket folder was")
    alice = token(ivs, stage_arn)

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await participant.publish(video=PatternVideoTrack(160, 120), audio=ToneAudioTrack())
            await asyncio.to_thread(wait_participant, ivs, stage_arn, alice["participantId"], state_is("FAILED"))

    run(scenario)
    events = recording_events(receiver, alice["participantId"], 1)
    assert [event["detail"]["event_name"] for event in events] == ["Recording Start Failure"]


def test_a_storage_failure_while_recording_ends_it_with_a_failure(media_server: Server, receiver: Receiver):
    ivs = media_server.client()
    stage_arn = recording_stage(media_server, "breaks-midway")
    alice = token(ivs, stage_arn)

    def break_the_segment_folder() -> str:
        participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("ACTIVE"))
        segments = media_server.data_dir / "buckets/breaks-midway" / participant["recordingS3Prefix"] / "media/hls/high"
        deadline = time.monotonic() + 20
        while not (segments / "1.mp4").exists():
            assert time.monotonic() < deadline, "no first segment"
            time.sleep(0.1)
        shutil.rmtree(segments)
        segments.write_text("segments can no longer be written here")
        return str(participant["recordingS3Prefix"])

    async def scenario() -> str:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await participant.publish(video=PatternVideoTrack(160, 120), audio=ToneAudioTrack())
            prefix = await asyncio.to_thread(break_the_segment_folder)
            await asyncio.sleep(4.0)  # more segments try to go up, and fail
            await participant.unpublish()
        return prefix

    prefix = asyncio.run(asyncio.wait_for(scenario(), 60))
    wait_participant(ivs, stage_arn, alice["participantId"], state_is("FAILED"))
    recording = local_recording(media_server.data_dir / "buckets/breaks-midway", prefix)
    failed = recording.json("recording-failed.json")
    assert failed["recording_status"] == "RECORDING_ENDED_WITH_FAILURE"
    assert "cannot write" in failed["recording_status_message"]
    assert "events/recording-ended.json" not in recording.objects
    events = recording_events(receiver, alice["participantId"], 2)
    assert [event["detail"]["event_name"] for event in events] == ["Recording Start", "Recording End Failure"]


def test_a_clean_shutdown_ends_recordings_within_their_reconnect_window(make_server: Callable[..., Server]):
    server = make_server("sqlite", args=["--ice-addresses", "127.0.0.1"])
    ivs = server.client()
    stage_arn = recording_stage(server, "shutdown", recordingReconnectWindowSeconds=300)
    alice = token(ivs, stage_arn)

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, 4.0)

    run(scenario)
    prefix = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPING"))["recordingS3Prefix"]
    assert server.stop() == 0
    recording = local_recording(server.data_dir / "buckets/shutdown", prefix)
    assert recording.json("recording-ended.json")["recording_status"] == "RECORDING_ENDED"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in recording.playlist()
    server.start(port=server.port)
    session = session_id(ivs, stage_arn)
    after = ivs.get_participant(stageArn=stage_arn, sessionId=session, participantId=alice["participantId"])
    assert after["participant"]["recordingState"] == "STOPPED"


@pytest.mark.parametrize("kind", ["audio", "video"])
def test_a_publisher_of_one_kind_gets_a_recording_of_that_kind(media_server: Server, kind: str, tmp_path: Path):
    ivs = media_server.client()
    bucket = f"only-{kind}-published"
    stage_arn = recording_stage(media_server, bucket)
    alice = token(ivs, stage_arn)
    tracks = {"audio": ToneAudioTrack()} if kind == "audio" else {"video": PatternVideoTrack(160, 120)}

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await participant.publish(**tracks)
            await asyncio.sleep(5.0)
            await participant.unpublish()

    run(scenario)
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    recording = local_recording(media_server.data_dir / "buckets" / bucket, participant["recordingS3Prefix"])
    decoded = recording.decode(tmp_path)
    other = "video" if kind == "audio" else "audio"
    assert decoded[f"{other}_codec"] is None and decoded[f"{kind}_frames"] > 0
    assert abs(decoded[f"{kind}_seconds"] - 5.0) <= SEGMENT + 1, decoded


def test_vp8_is_transcoded_to_h264(media_server: Server, tmp_path: Path):
    ivs = media_server.client()
    stage_arn = recording_stage(media_server, "transcoded")
    alice = token(ivs, stage_arn)

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await publish_for(participant, 6.0, codec="VP8", colour=RED)

    run(scenario)
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED"))
    recording = local_recording(media_server.data_dir / "buckets/transcoded", participant["recordingS3Prefix"])
    decoded = recording.decode(tmp_path)
    assert (decoded["video_codec"], decoded["audio_codec"], decoded["size"]) == ("h264", "aac", (320, 240))
    assert abs(decoded["video_seconds"] - 6.0) <= SEGMENT + 1, decoded
    assert all(max(abs(a - b) for a, b in zip(c, RED, strict=True)) <= 16 for c in decoded["centre_colours"][5:])
    # Keyframes where segments start: the segments keep the asked length (the last one is cut short).
    lengths = [
        float(line[8:].split(",")[0]) for line in recording.playlist().splitlines() if line.startswith("#EXTINF")
    ]
    assert all(abs(length - SEGMENT) < 0.2 for length in lengths[:-1]), lengths
