"""Compositions of real publishers: aiortc participants send solid colours and tones, a real nginx-rtmp
receives the channel destination, the local bucket the s3 one; both are decoded with PyAV.

Each tile's colour is checked at the rectangle layout.py computes for the same participants,
so these tests hold the compositor to the layout's geometry. SQLite only: the media path does
not depend on the database, and these tests are the slow ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from openstage.composition import channels
from openstage.composition.layout import Member, Rect, layout, with_defaults
from tests.composition.helpers import composition_events, wait_for
from tests.composition.rtmp_target import RtmpTarget, available, nginx_rtmp
from tests.dataplane.test_events import self_signed
from tests.events_client import claims_of
from tests.seed import arn
from tests.server import Server

pytestmark = pytest.mark.skipif(not available(), reason="needs Debian's nginx-light and libnginx-mod-rtmp")

LOOPBACK = ["127.0.0.1"]
# (Y, U, V) of solid colours, and the tones that go with them
COLOURS = {"red": (81, 90, 240), "green": (145, 54, 34), "blue": (41, 240, 110)}
TONES = {"red": 440.0, "green": 660.0, "blue": 880.0}
TOLERANCE = 40
VIDEO = {"width": 640, "height": 360, "framerate": 15.0, "bitrate": 800_000}
PUBLISHED = (320, 240)  # PatternVideoTrack's default size


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server]) -> Server:
    return make_server(
        "sqlite",
        args=["--ice-addresses", "127.0.0.1", "--session-grace-seconds", "1"],
        env={"OPENSTAGE_COMPOSITION_RECONNECT_SECONDS": "3"},
    )


@pytest.fixture(scope="module")
def rtmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtmpTarget]:
    with nginx_rtmp(tmp_path_factory.mktemp("nginx")) as target:
        yield target


@pytest.fixture
def ivs(media_server: Server) -> Any:
    return media_server.client()


def colour_at(frame: av.VideoFrame, rect: Rect) -> tuple[int, int, int]:
    """The median (Y, U, V) of the middle half of ``rect``: far from edges, scaling blur and compression noise."""
    data = frame.reformat(format="yuv420p").to_ndarray()
    height, width = frame.height, frame.width
    y = data[:height]
    u = data[height : height + height // 4].reshape(height // 2, width // 2)
    v = data[height + height // 4 :].reshape(height // 2, width // 2)
    x0, x1 = rect.x + rect.width // 4, rect.x + 3 * rect.width // 4
    y0, y1 = rect.y + rect.height // 4, rect.y + 3 * rect.height // 4
    return (
        int(np.median(y[y0:y1, x0:x1])),
        int(np.median(u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])),
        int(np.median(v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2])),
    )


def assert_colour(frame: av.VideoFrame, rect: Rect, colour: str, where: str) -> None:
    found = colour_at(frame, rect)
    expected = COLOURS[colour]
    assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) <= TOLERANCE, (
        f"{where}: {found} at {rect}, expected {colour} {expected}"
    )


def last_frame(path: Path) -> tuple[av.VideoFrame, float, int, bool]:
    """The last picture of a recording, its video stream's frame rate, its frame count, and whether it has sound."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(video=0))
        rate = float(stream.average_rate or stream.guessed_rate or 0)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0] if container.streams.audio else None
        loud = False
        if audio is not None:
            samples = [frame.to_ndarray() for frame in container.decode(audio=0)]
            loud = bool(samples) and float(np.abs(np.concatenate(samples, axis=1)).max()) > 0.05
    return frames[-1], rate, len(frames), loud


def token(ivs: Any, stage_arn: str, user: str, attributes: dict[str, str] | None = None) -> str:
    created = ivs.create_participant_token(
        stageArn=stage_arn, userId=user, capabilities=["PUBLISH"], attributes=attributes or {}
    )
    return str(created["participantToken"]["token"])


def state(ivs: Any, composition_arn: str) -> dict[str, Any]:
    return dict(ivs.get_composition(arn=composition_arn)["composition"])


async def on_stage(
    ivs: Any,
    stage_arn: str,
    users: dict[str, dict[str, str]],
    while_publishing: Callable[[dict[str, str]], Any],
) -> None:
    """``users`` (colour -> attributes) join one after the other and publish; then ``while_publishing(ids)``."""
    async with AsyncExitStack() as stack:
        ids: dict[str, str] = {}
        for colour, attributes in users.items():
            participant = Participant(token(ivs, stage_arn, colour, attributes), ice_addresses=LOOPBACK)
            await stack.enter_async_context(participant)
            await participant.publish(
                video=PatternVideoTrack(*PUBLISHED, colour=COLOURS[colour]), audio=ToneAudioTrack(TONES[colour])
            )
            ids[colour] = participant.participant_id
        await asyncio.to_thread(while_publishing, ids)


def expected_tiles(
    ids: dict[str, str], users: dict[str, dict[str, str]], layout_config: dict[str, Any]
) -> dict[str, Rect]:
    """Colour -> slot, as layout.py places these participants (arrival order = the order they joined)."""
    members = [Member(ids[colour], attributes, PUBLISHED) for colour, attributes in users.items()]
    tiles = layout(members, with_defaults(layout_config), VIDEO["width"], VIDEO["height"])
    by_id = {tile.participant_id: tile.dest or tile.slot for tile in tiles}
    return {colour: by_id[ids[colour]] for colour in users}


def compose_for(ivs: Any, server: Server, stage_arn: str, destinations: list[dict[str, Any]], **request: Any) -> str:
    """Starts a composition, waits until it is ACTIVE and has run a few seconds, stops it and waits for STOPPED."""
    composition_arn = str(
        ivs.start_composition(stageArn=stage_arn, destinations=destinations, **request)["composition"]["arn"]
    )
    wait_for(lambda: state(ivs, composition_arn)["state"] == "ACTIVE", "ACTIVE")
    time.sleep(5)
    ivs.stop_composition(arn=composition_arn)
    wait_for(lambda: state(ivs, composition_arn)["state"] == "STOPPED", "STOPPED", timeout=60)
    return composition_arn


def read_bucket(server: Server, bucket: str, prefix: str) -> dict[str, bytes]:
    root = server.data_dir / "buckets" / bucket / prefix
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_grid_of_three_to_rtmp_and_hls(ivs: Any, media_server: Server, rtmp: RtmpTarget, tmp_path: Path) -> None:
    stage_arn = ivs.create_stage(name="grid")["stage"]["arn"]
    encoder_arn = ivs.create_encoder_configuration(video=VIDEO)["encoderConfiguration"]["arn"]
    storage_arn = ivs.create_storage_configuration(s3={"bucketName": "composites"})["storageConfiguration"]["arn"]
    channel_arn = arn("channel")
    channels.add(media_server.data_dir, channel_arn, rtmp.url("grid"))
    users: dict[str, dict[str, str]] = {"red": {}, "green": {}, "blue": {}}
    outcome: dict[str, Any] = {}

    def compose(ids: dict[str, str]) -> None:
        outcome["ids"] = ids
        outcome["arn"] = compose_for(
            ivs,
            media_server,
            stage_arn,
            [
                {"channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn}},
                {
                    "s3": {
                        "storageConfigurationArn": storage_arn,
                        "encoderConfigurationArns": [encoder_arn],
                        "thumbnailConfigurations": [{"targetIntervalSeconds": 1, "storage": ["SEQUENTIAL", "LATEST"]}],
                    }
                },
            ],
        )

    asyncio.run(asyncio.wait_for(on_stage(ivs, stage_arn, users, compose), 150))
    tiles = expected_tiles(outcome["ids"], users, {})

    frame, rate, count, loud = last_frame(rtmp.recording("grid"))
    assert (frame.width, frame.height) == (640, 360)
    assert abs(rate - 15) < 1, f"RTMP frame rate {rate}"
    assert count >= 15 * 3
    assert loud, "the RTMP stream has no sound"
    for colour, rect in tiles.items():
        assert_colour(frame, rect, colour, "RTMP")

    composition = state(ivs, outcome["arn"])
    assert [d["state"] for d in composition["destinations"]] == ["STOPPED", "STOPPED"]
    assert all("startTime" in d and "endTime" in d for d in composition["destinations"])
    prefix = composition["destinations"][1]["detail"]["s3"]["recordingPrefix"]
    objects = read_bucket(media_server, "composites", prefix)
    started = json.loads(objects["events/recording-started.json"])
    ended = json.loads(objects["events/recording-ended.json"])
    assert started["recording_status"] == "RECORDING_STARTED" and started["stage_arn"] == stage_arn
    assert ended["recording_status"] == "RECORDING_ENDED" and ended["media"]["hls"]["duration_ms"] > 3000
    (rendition,) = ended["media"]["hls"]["renditions"]
    assert rendition["path"].startswith("360p15-") and len(rendition["path"]) == len("360p15-") + 12
    assert (rendition["resolution_width"], rendition["resolution_height"]) == (640, 360)
    assert ended["media"]["thumbnails"] == {
        "path": "media/thumbnails",
        "resolutions": [{"path": "640x360", "resolution_width": 640, "resolution_height": 360}],
    }
    assert "media/hls/multivariant.m3u8" in objects
    playlist = objects[f"media/hls/{rendition['path']}/playlist.m3u8"].decode()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and "#EXT-X-ENDLIST" in playlist
    assert "media/thumbnails/640x360/1.jpg" in objects
    assert "media/latest_thumbnail/640x360/thumb.jpg" in objects

    hls = tmp_path / "composite.mp4"  # the init segment and the media segments, joined, decode as one file
    segments = [line for line in playlist.splitlines() if line.endswith(".mp4") and not line.startswith("#")]
    hls.write_bytes(
        objects[f"media/hls/{rendition['path']}/init.mp4"]
        + b"".join(objects[f"media/hls/{rendition['path']}/{name}"] for name in segments)
    )
    frame, _, _, loud = last_frame(hls)
    assert (frame.width, frame.height) == (640, 360) and loud
    for colour, rect in tiles.items():
        assert_colour(frame, rect, colour, "HLS")

    names = [e["detail"]["event_name"] for e in composition_events(media_server, outcome["arn"])]
    assert names == [
        "Session Start",
        "Destination Start",
        "Destination Start",
        "Destination End",
        "Destination End",
        "Session End",
    ]


def test_pip_featured_and_order_attributes_place_the_participants(
    ivs: Any, media_server: Server, rtmp: RtmpTarget
) -> None:
    stage_arn = ivs.create_stage(name="layouts")["stage"]["arn"]
    # Arrival: red, green, blue; the order attribute puts blue first and red last.
    users = {"red": {"seat": "3"}, "green": {"seat": "2", "guest": "true"}, "blue": {"seat": "1"}}
    layouts = {
        "ordered": {"grid": {"participantOrderAttribute": "seat"}},
        "featured": {"grid": {"featuredParticipantAttribute": "guest", "participantOrderAttribute": "seat"}},
        "pip": {"pip": {"pipParticipantAttribute": "guest", "pipPosition": "TOP_LEFT", "pipOffset": 16}},
    }
    seen: dict[str, dict[str, str]] = {}

    def compose(ids: dict[str, str]) -> None:
        seen["ids"] = ids
        for name, layout_config in layouts.items():
            channel_arn = arn("channel")
            channels.add(media_server.data_dir, channel_arn, rtmp.url(name))
            destination = {"channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn}}
            compose_for(ivs, media_server, stage_arn, [destination], layout=layout_config)

    encoder_arn = ivs.create_encoder_configuration(video=VIDEO)["encoderConfiguration"]["arn"]
    asyncio.run(asyncio.wait_for(on_stage(ivs, stage_arn, users, compose), 200))
    for name, layout_config in layouts.items():
        tiles = expected_tiles(seen["ids"], users, layout_config)
        frame, _, _, _ = last_frame(rtmp.recording(name))
        for colour, rect in tiles.items():
            assert_colour(frame, rect, colour, name)
    ordered = expected_tiles(seen["ids"], users, layouts["ordered"])
    assert ordered["blue"].x < ordered["green"].x and ordered["red"].y > ordered["blue"].y  # the attribute, not arrival
    featured = expected_tiles(seen["ids"], users, layouts["featured"])
    assert featured["green"].width > featured["red"].width  # the featured participant is the large one
    pip = expected_tiles(seen["ids"], users, layouts["pip"])
    assert (pip["green"].x, pip["green"].y) == (16, 16)


def test_rtmp_target_down_reconnects_then_fails_while_s3_goes_on(ivs: Any, media_server: Server) -> None:
    stage_arn = ivs.create_stage(name="down")["stage"]["arn"]
    storage_arn = ivs.create_storage_configuration(s3={"bucketName": "survivors"})["storageConfiguration"]["arn"]
    encoder_arn = ivs.create_encoder_configuration(video=VIDEO)["encoderConfiguration"]["arn"]
    channel_arn = arn("channel")
    closed_port = 9  # discard: nothing listens on it here, so every connection is refused
    channels.add(media_server.data_dir, channel_arn, f"rtmp://127.0.0.1:{closed_port}/live/nobody")
    seen: dict[str, Any] = {}

    def compose(ids: dict[str, str]) -> None:
        composition_arn = ivs.start_composition(
            stageArn=stage_arn,
            destinations=[
                {"channel": {"channelArn": channel_arn}},
                {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}},
            ],
        )["composition"]["arn"]
        seen["arn"] = composition_arn
        wait_for(lambda: state(ivs, composition_arn)["destinations"][0]["state"] == "FAILED", "the channel to fail")
        seen["while_failed"] = state(ivs, composition_arn)
        ivs.stop_composition(arn=composition_arn)
        wait_for(lambda: state(ivs, composition_arn)["state"] == "STOPPED", "STOPPED", timeout=60)

    asyncio.run(asyncio.wait_for(on_stage(ivs, stage_arn, {"red": {}}, compose), 150))
    during = seen["while_failed"]
    assert during["state"] == "ACTIVE"
    assert [d["state"] for d in during["destinations"]] == ["FAILED", "ACTIVE"]
    final = state(ivs, seen["arn"])
    assert [d["state"] for d in final["destinations"]] == ["FAILED", "STOPPED"]
    events = composition_events(media_server, seen["arn"])
    channel_id = final["destinations"][0]["id"]
    channel_events = [e["detail"]["event_name"] for e in events if e["detail"].get("id") == channel_id]
    assert channel_events == ["Destination Reconnecting", "Destination Failure"]
    failure = next(e for e in events if e["detail"]["event_name"] == "Destination Failure")
    assert "RTMP push" in failure["detail"]["reason"] and "nobody" not in failure["detail"]["reason"]
    assert [e["detail"]["event_name"] for e in events][0] == "Session Start"
    assert [e["detail"]["event_name"] for e in events][-1] == "Session End"
    prefix = final["destinations"][1]["detail"]["s3"]["recordingPrefix"]
    objects = read_bucket(media_server, "survivors", prefix)
    assert json.loads(objects["events/recording-ended.json"])["recording_status"] == "RECORDING_ENDED"


def test_stopped_video_is_relaid_out_live(ivs: Any, media_server: Server, rtmp: RtmpTarget) -> None:
    """SET_STATE videoStopped during the composition: with omitStoppedVideo the others take the canvas."""
    stage_arn = ivs.create_stage(name="relayout")["stage"]["arn"]
    channel_arn = arn("channel")
    channels.add(media_server.data_dir, channel_arn, rtmp.url("relayout"))
    encoder_arn = ivs.create_encoder_configuration(video=VIDEO)["encoderConfiguration"]["arn"]
    layout_config = {"grid": {"omitStoppedVideo": True}}
    done: dict[str, Any] = {}

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            people = {}
            for colour in ("red", "blue"):
                person = Participant(token(ivs, stage_arn, colour), ice_addresses=LOOPBACK)
                await stack.enter_async_context(person)
                await person.publish(video=PatternVideoTrack(*PUBLISHED, colour=COLOURS[colour]))
                people[colour] = person
            composition_arn = ivs.start_composition(
                stageArn=stage_arn,
                layout=layout_config,
                destinations=[{"channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn}}],
            )["composition"]["arn"]
            await asyncio.to_thread(wait_for, lambda: state(ivs, composition_arn)["state"] == "ACTIVE", "ACTIVE")
            await asyncio.sleep(2)
            await people["red"].set_state(audio_muted=False, video_stopped=True)
            await asyncio.sleep(3)
            ivs.stop_composition(arn=composition_arn)
            await asyncio.to_thread(wait_for, lambda: state(ivs, composition_arn)["state"] == "STOPPED", "STOPPED")
            done["ids"] = {colour: person.participant_id for colour, person in people.items()}

    asyncio.run(asyncio.wait_for(scenario(), 120))
    frame, _, _, _ = last_frame(rtmp.recording("relayout"))
    alone = layout([Member(done["ids"]["blue"], video=PUBLISHED)], with_defaults(layout_config), 640, 360)
    assert_colour(frame, alone[0].dest or alone[0].slot, "blue", "after red stopped its video")
    both = expected_tiles(done["ids"], {"red": {}, "blue": {}}, layout_config)
    assert both["blue"] != alone[0].slot  # the picture really changed layout


def test_a_token_exchange_relays_out_live(ivs: Any, media_server: Server, rtmp: RtmpTarget) -> None:
    """A publisher swaps in a token with the featured attribute mid-composition: it becomes the large tile."""
    stage = ivs.create_stage(name="exchange")["stage"]
    channel_arn = arn("channel")
    channels.add(media_server.data_dir, channel_arn, rtmp.url("exchange"))
    encoder_arn = ivs.create_encoder_configuration(video=VIDEO)["encoderConfiguration"]["arn"]
    layout_config = {"grid": {"featuredParticipantAttribute": "guest"}}
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = ivs.import_public_key(publicKeyMaterial=pem.decode(), name="exchange")["publicKey"]["arn"]
    before = self_signed(key, kid, stage, user_id="blue")
    claims = claims_of(before)
    same = {name: claims[name] for name in ("jti", "iat", "exp")}
    featured = self_signed(key, kid, stage, user_id="blue", attributes={"guest": "true"}, **same)
    ids: dict[str, str] = {}

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            people = {"red": Participant(token(ivs, stage["arn"], "red"), ice_addresses=LOOPBACK)}
            people["blue"] = Participant(before, ice_addresses=LOOPBACK)
            for colour, person in people.items():
                await stack.enter_async_context(person)
                await person.publish(video=PatternVideoTrack(*PUBLISHED, colour=COLOURS[colour]))
                ids[colour] = person.participant_id
            composition_arn = ivs.start_composition(
                stageArn=stage["arn"],
                layout=layout_config,
                destinations=[{"channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn}}],
            )["composition"]["arn"]
            await asyncio.to_thread(wait_for, lambda: state(ivs, composition_arn)["state"] == "ACTIVE", "ACTIVE")
            await asyncio.sleep(2)
            await people["blue"].exchange_token(featured)
            await asyncio.sleep(3)
            ivs.stop_composition(arn=composition_arn)
            await asyncio.to_thread(wait_for, lambda: state(ivs, composition_arn)["state"] == "STOPPED", "STOPPED")

    asyncio.run(asyncio.wait_for(scenario(), 120))
    frame, _, _, _ = last_frame(rtmp.recording("exchange"))
    after = expected_tiles(ids, {"red": {}, "blue": {"guest": "true"}}, layout_config)
    for colour, rect in after.items():
        assert_colour(frame, rect, colour, "after blue's token exchange")
    plain = expected_tiles(ids, {"red": {}, "blue": {}}, layout_config)
    assert after["blue"].width > after["red"].width and after["blue"] != plain["blue"]  # the layout really changed
