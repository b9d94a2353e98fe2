"""A recording into an S3-compatible server (moto_server) through a proxy that fails for real mid-recording."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from openstage.client import Participant
from tests.moto import CREDENTIALS, MotoServer
from tests.recording.media import (
    LOOPBACK,
    Recording,
    publish_for,
    recording_config,
    run,
    state_is,
    token,
    wait_participant,
)
from tests.server import Server
from tests.storage.proxy import FlakyProxy

PUBLISHED = 10.0


@pytest.fixture
def proxy(moto_server: MotoServer):
    proxy = FlakyProxy(moto_server.port)
    yield proxy
    proxy.close()


@pytest.fixture
def s3_server(make_server: Callable[..., Server], proxy: FlakyProxy) -> Server:
    args = ["--ice-addresses", "127.0.0.1", "--s3-endpoint", proxy.url, "--s3-region", "us-east-1"]
    args += ["--s3-access-key-id", CREDENTIALS["AWS_ACCESS_KEY_ID"]]
    args += ["--s3-secret-access-key", CREDENTIALS["AWS_SECRET_ACCESS_KEY"]]
    return make_server("sqlite", args=args)


def s3_recording(moto_server: MotoServer, bucket: str, prefix: str) -> tuple[Recording, dict[str, str]]:
    """The recording's objects, and each one's content type."""
    client = moto_server.client("s3")
    objects: dict[str, bytes] = {}
    types: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            got = client.get_object(Bucket=bucket, Key=item["Key"])
            relative = item["Key"][len(prefix) + 1 :]
            objects[relative], types[relative] = got["Body"].read(), got["ContentType"]
    return Recording(objects), types


def test_a_missing_bucket_is_refused_like_aws(s3_server: Server):
    ivs = s3_server.client()
    with pytest.raises(ivs.exceptions.ValidationException, match="does not exist"):
        ivs.create_storage_configuration(s3={"bucketName": "not-created"})
    assert ivs.list_storage_configurations()["storageConfigurations"] == []


def test_recording_survives_an_s3_outage(s3_server: Server, moto_server: MotoServer, proxy: FlakyProxy, tmp_path: Path):
    moto_server.client("s3").create_bucket(Bucket="s3-recordings")
    ivs = s3_server.client()
    storage = ivs.create_storage_configuration(s3={"bucketName": "s3-recordings"})["storageConfiguration"]
    stage = ivs.create_stage(name="s3", autoParticipantRecordingConfiguration=recording_config(storage["arn"]))
    stage_arn = stage["stage"]["arn"]
    alice = token(ivs, stage_arn)

    async def outage() -> None:
        await asyncio.sleep(4.0)
        proxy.fail()  # cuts uploads in flight, refuses new ones
        await asyncio.sleep(3.0)
        proxy.recover()

    async def scenario() -> None:
        async with Participant(alice["token"], ice_addresses=LOOPBACK) as participant:
            await asyncio.gather(publish_for(participant, PUBLISHED), outage())

    run(scenario)
    assert proxy.refused >= 1, "no upload met the outage"
    participant = wait_participant(ivs, stage_arn, alice["participantId"], state_is("STOPPED", "FAILED"), timeout=60)
    assert participant["recordingState"] == "STOPPED"
    recording, types = s3_recording(moto_server, "s3-recordings", participant["recordingS3Prefix"])
    segments = recording.segments()
    assert all(f"media/hls/high/{name}" in recording.objects for name in segments), "a listed segment is missing"
    assert len(segments) == len({recording.objects[f"media/hls/high/{name}"] for name in segments})
    decoded = recording.decode(tmp_path)
    assert abs(decoded["video_seconds"] - PUBLISHED) <= 3, decoded
    assert abs(decoded["audio_seconds"] - PUBLISHED) <= 3, decoded
    ended = recording.json("recording-ended.json")
    assert ended["recording_status"] == "RECORDING_ENDED"
    assert types["media/hls/high/playlist.m3u8"] == "application/vnd.apple.mpegurl"
    assert types["media/hls/multivariant.m3u8"] == "application/vnd.apple.mpegurl"
    assert types["media/hls/high/1.mp4"] == "video/mp4"
    assert types["media/thumbnails/high/1.jpg"] == "image/jpeg"
    assert types["events/recording-ended.json"] == "application/json"
