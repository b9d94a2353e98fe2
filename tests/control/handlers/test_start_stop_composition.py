"""StartComposition and StopComposition through boto3: every documented rule, the states, the events, cleanup.

No media here (tests/composition/test_compositor.py has that): a composition without
publishers stays STARTING, which is what most rules need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openstage.composition import channels
from tests.composition.helpers import CHANNEL_URL, channel, composition_events, error_of, wait_for
from tests.seed import arn
from tests.server import ACCOUNT, REGION, Server
from tests.shapes import assert_matches_output


@pytest.fixture(scope="module")
def composer(backend: str, make_server: Callable[..., Server]) -> Server:
    return make_server(backend, args=["--quota", "compositions_per_stage=3", "--quota", "compositions=4"])


@pytest.fixture(scope="module")
def quick(make_server: Callable[..., Server]) -> Server:
    """Idle auto-stop after 2 s and cleanup 3 s after the end, so the timers can be watched."""
    env = {"OPENSTAGE_COMPOSITION_IDLE_SECONDS": "2", "OPENSTAGE_COMPOSITION_RETENTION_SECONDS": "3"}
    return make_server("sqlite", env=env)


@pytest.fixture
def ivs(composer: Server) -> Any:
    return composer.client()


@pytest.fixture
def stage_arn(ivs: Any) -> str:
    return ivs.create_stage(name="show")["stage"]["arn"]


@pytest.fixture
def encoder_arn(ivs: Any) -> str:
    return ivs.create_encoder_configuration(video={"width": 640, "height": 360})["encoderConfiguration"]["arn"]


@pytest.fixture
def storage_arn(ivs: Any) -> str:
    return ivs.create_storage_configuration(s3={"bucketName": "composites"})["storageConfiguration"]["arn"]


def test_start_echoes_every_default_like_aws(ivs, composer, stage_arn, encoder_arn, storage_arn):
    channel_arn = channel(composer)
    response = ivs.start_composition(
        stageArn=stage_arn,
        destinations=[
            {"channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn}},
            {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}},
        ],
    )
    got = response["composition"]  # not shape-checked: like AWS it echoes videoFillMode "", outside the enum
    assert got["state"] == "STARTING" and got["stageArn"] == stage_arn and got["tags"] == {}
    assert got["arn"].startswith(f"arn:aws:ivs:{REGION}:{ACCOUNT}:composition/")
    assert got["layout"] == {
        "grid": {
            "featuredParticipantAttribute": "",
            "gridGap": 2,
            "omitStoppedVideo": False,
            "participantOrderAttribute": "",
            "videoAspectRatio": "VIDEO",
            "videoFillMode": "",
        }
    }
    to_channel, to_s3 = got["destinations"]
    assert to_channel["state"] == to_s3["state"] == "STARTING"
    assert to_channel["configuration"] == {
        "name": "",
        "channel": {"channelArn": channel_arn, "encoderConfigurationArn": encoder_arn},
    }
    assert "detail" not in to_channel
    assert to_s3["configuration"] == {
        "name": "",
        "s3": {
            "storageConfigurationArn": storage_arn,
            "encoderConfigurationArns": [encoder_arn],
            "recordingConfiguration": {"format": "HLS", "hlsConfiguration": {"targetSegmentDurationSeconds": 2}},
        },
    }
    composition_id = got["arn"].rsplit("/", 1)[1]
    stage_id = stage_arn.rsplit("/", 1)[1]
    assert to_s3["detail"]["s3"]["recordingPrefix"] == f"{stage_id}/{composition_id}/{to_s3['id']}/composite"
    assert "startTime" in got and "endTime" not in got
    again = ivs.get_composition(arn=got["arn"])["composition"]
    assert {k: again[k] for k in ("arn", "state", "layout", "destinations")} == {
        k: got[k] for k in ("arn", "state", "layout", "destinations")
    }
    ivs.stop_composition(arn=got["arn"])


def test_pip_layout_and_thumbnails_get_their_defaults(ivs, stage_arn, encoder_arn, storage_arn):
    response = ivs.start_composition(
        stageArn=stage_arn,
        layout={"pip": {"pipParticipantAttribute": "guest", "pipWidth": 320}},
        destinations=[
            {
                "name": "archive",
                "s3": {
                    "storageConfigurationArn": storage_arn,
                    "encoderConfigurationArns": [encoder_arn],
                    "recordingConfiguration": {"hlsConfiguration": {"targetSegmentDurationSeconds": 6}},
                    "thumbnailConfigurations": [{"storage": ["LATEST"]}],
                },
            }
        ],
        tags={"show": "evening"},
    )
    assert_matches_output("StartComposition", response)
    got = response["composition"]
    assert got["layout"] == {
        "pip": {
            "featuredParticipantAttribute": "",
            "gridGap": 0,
            "omitStoppedVideo": False,
            "participantOrderAttribute": "",
            "pipBehavior": "STATIC",
            "pipOffset": 0,
            "pipParticipantAttribute": "guest",
            "pipPosition": "BOTTOM_RIGHT",
            "pipWidth": 320,
            "videoFillMode": "COVER",
        }
    }
    (destination,) = got["destinations"]
    s3 = destination["configuration"]["s3"]
    assert destination["configuration"]["name"] == "archive"
    assert s3["recordingConfiguration"] == {"format": "HLS", "hlsConfiguration": {"targetSegmentDurationSeconds": 6}}
    assert s3["thumbnailConfigurations"] == [{"targetIntervalSeconds": 60, "storage": ["LATEST"]}]
    assert got["tags"] == {"show": "evening"}
    assert ivs.list_tags_for_resource(resourceArn=got["arn"])["tags"] == {"show": "evening"}
    ivs.stop_composition(arn=got["arn"])


def test_destination_rules(ivs, composer, stage_arn, encoder_arn, storage_arn):
    s3 = {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}}
    cases = [
        ([{"channel": {"channelArn": channel(composer)}, **s3}], "exactly one of channel or s3"),
        ([{"name": "nothing"}], "exactly one of channel or s3"),
        ([{"channel": {"channelArn": channel(composer)}}, {"channel": {"channelArn": channel(composer)}}], "2 channel"),
        ([s3, s3], "2 s3"),
    ]
    for destinations, message in cases:
        status, code, text = error_of(ivs.start_composition, stageArn=stage_arn, destinations=destinations)
        assert (status, code) == (400, "ValidationException")
        assert message in text
    status, code, text = error_of(
        ivs.start_composition,
        stageArn=stage_arn,
        layout={"grid": {}, "pip": {}},
        destinations=[s3],
    )
    assert (status, code) == (400, "ValidationException") and "grid or pip" in text


def test_missing_resources_are_404s(ivs, composer, stage_arn, encoder_arn, storage_arn):
    missing_encoder, missing_storage, missing_channel = (
        arn("encoder-configuration"),
        arn("storage-configuration"),
        arn("channel"),
    )
    cases = [
        (arn("stage"), [{"channel": {"channelArn": channel(composer)}}], "Stage"),
        (
            stage_arn,
            [{"channel": {"channelArn": channel(composer), "encoderConfigurationArn": missing_encoder}}],
            missing_encoder,
        ),
        (
            stage_arn,
            [{"s3": {"storageConfigurationArn": missing_storage, "encoderConfigurationArns": [encoder_arn]}}],
            missing_storage,
        ),
        (
            stage_arn,
            [{"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [missing_encoder]}}],
            missing_encoder,
        ),
        (stage_arn, [{"channel": {"channelArn": missing_channel}}], f"Channel not found: {missing_channel}"),
    ]
    for stage, destinations, message in cases:
        status, code, text = error_of(ivs.start_composition, stageArn=stage, destinations=destinations)
        assert (status, code) == (404, "ResourceNotFoundException")
        assert message in text


def test_channel_of_another_region_is_refused(ivs, composer, stage_arn):
    foreign = "arn:aws:ivs:eu-west-1:123456789012:channel/AbCdEf123456"
    channels.add(composer.data_dir, foreign, CHANNEL_URL)
    status, code, text = error_of(
        ivs.start_composition, stageArn=stage_arn, destinations=[{"channel": {"channelArn": foreign}}]
    )
    assert (status, code) == (400, "ValidationException") and "region" in text


def test_a_live_channel_cannot_take_a_second_composition(ivs, composer, stage_arn):
    channel_arn = channel(composer)
    first = ivs.start_composition(stageArn=stage_arn, destinations=[{"channel": {"channelArn": channel_arn}}])
    status, code, text = error_of(
        ivs.start_composition, stageArn=stage_arn, destinations=[{"channel": {"channelArn": channel_arn}}]
    )
    assert (status, code) == (409, "ConflictException") and "already live" in text
    ivs.stop_composition(arn=first["composition"]["arn"])


def test_idempotency_token(ivs, composer, stage_arn):
    destinations = [{"channel": {"channelArn": channel(composer)}}]
    first = ivs.start_composition(stageArn=stage_arn, destinations=destinations, idempotencyToken="db1i782f1g9")
    same = ivs.start_composition(stageArn=stage_arn, destinations=destinations, idempotencyToken="db1i782f1g9")
    assert same["composition"]["arn"] == first["composition"]["arn"]
    status, code, text = error_of(
        ivs.start_composition,
        stageArn=stage_arn,
        destinations=destinations,
        idempotencyToken="db1i782f1g9",
        tags={"changed": "yes"},
    )
    assert (status, code) == (409, "ConflictException") and "db1i782f1g9" in text
    ivs.stop_composition(arn=first["composition"]["arn"])


def test_quotas_per_stage_and_account_are_402(ivs, composer):
    stage, other = (ivs.create_stage()["stage"]["arn"] for _ in range(2))
    started = [
        ivs.start_composition(stageArn=stage, destinations=[{"channel": {"channelArn": channel(composer)}}])
        for _ in range(3)
    ]
    status, code, text = error_of(
        ivs.start_composition, stageArn=stage, destinations=[{"channel": {"channelArn": channel(composer)}}]
    )
    assert (status, code) == (402, "ServiceQuotaExceededException") and "compositions_per_stage" in text
    started.append(ivs.start_composition(stageArn=other, destinations=[{"channel": {"channelArn": channel(composer)}}]))
    status, code, text = error_of(
        ivs.start_composition, stageArn=other, destinations=[{"channel": {"channelArn": channel(composer)}}]
    )
    assert (status, code) == (402, "ServiceQuotaExceededException") and "quotas.compositions" in text
    for composition in started:
        ivs.stop_composition(arn=composition["composition"]["arn"])
    # Stopped compositions no longer count.
    wait_for(
        lambda: all(
            ivs.get_composition(arn=c["composition"]["arn"])["composition"]["state"] == "STOPPED" for c in started
        ),
        "the compositions to stop",
    )
    again = ivs.start_composition(stageArn=stage, destinations=[{"channel": {"channelArn": channel(composer)}}])
    ivs.stop_composition(arn=again["composition"]["arn"])


def test_configurations_in_use_cannot_be_deleted(ivs, stage_arn, encoder_arn, storage_arn):
    composition = ivs.start_composition(
        stageArn=stage_arn,
        destinations=[{"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}}],
    )["composition"]
    for call, used in (
        (ivs.delete_encoder_configuration, encoder_arn),
        (ivs.delete_storage_configuration, storage_arn),
    ):
        status, code, text = error_of(call, arn=used)
        assert (status, code) == (409, "ConflictException")
        assert composition["arn"] in text
    listed = ivs.list_compositions(filterByEncoderConfigurationArn=encoder_arn)["compositions"]
    assert [c["arn"] for c in listed] == [composition["arn"]]
    ivs.stop_composition(arn=composition["arn"])


def test_stop_ends_with_events_in_order(ivs, composer, stage_arn):
    composition = ivs.start_composition(
        stageArn=stage_arn,
        layout={"grid": {"videoFillMode": "CONTAIN"}},
        destinations=[{"channel": {"channelArn": channel(composer)}}],
    )["composition"]
    assert set(ivs.stop_composition(arn=composition["arn"])) == {"ResponseMetadata"}  # {} on the wire
    assert set(ivs.stop_composition(arn=composition["arn"])) == {"ResponseMetadata"}  # stopping twice is fine
    stopped = wait_for(
        lambda: (c := ivs.get_composition(arn=composition["arn"])["composition"])["state"] == "STOPPED" and c,
        "STOPPED",
    )
    assert_matches_output("GetComposition", {"composition": stopped})
    assert "endTime" in stopped
    (destination,) = stopped["destinations"]
    assert destination["state"] == "STOPPED" and "endTime" in destination
    events = composition_events(composer, composition["arn"])
    assert [e["detail"]["event_name"] for e in events] == ["Destination End", "Session End"]
    for event in events:
        assert event["detail-type"] == "IVS Composition State Change"
        assert event["resources"] == [composition["arn"]]
        assert event["detail"]["stage_arn"] == stage_arn
    assert events[0]["detail"]["id"] == destination["id"]


def test_stopping_a_missing_composition_is_404(ivs):
    status, code, _ = error_of(ivs.stop_composition, arn=arn("composition"))
    assert (status, code) == (404, "ResourceNotFoundException")


def test_delete_stage_stops_its_compositions(ivs, composer):
    stage = ivs.create_stage()["stage"]["arn"]
    composition = ivs.start_composition(stageArn=stage, destinations=[{"channel": {"channelArn": channel(composer)}}])
    ivs.delete_stage(arn=stage)
    wait_for(
        lambda: ivs.get_composition(arn=composition["composition"]["arn"])["composition"]["state"] == "STOPPED",
        "the composition of the deleted stage to stop",
    )


def test_no_publishers_auto_stops_and_ended_compositions_disappear(quick):
    ivs = quick.client()
    stage = ivs.create_stage()["stage"]["arn"]
    composition_arn = ivs.start_composition(stageArn=stage, destinations=[{"channel": {"channelArn": channel(quick)}}])[
        "composition"
    ]["arn"]
    wait_for(lambda: ivs.get_composition(arn=composition_arn)["composition"]["state"] == "STOPPED", "the idle stop")
    assert [c["arn"] for c in ivs.list_compositions(filterByStageArn=stage)["compositions"]] == [composition_arn]
    names = [e["detail"]["event_name"] for e in composition_events(quick, composition_arn)]
    assert names == ["Destination End", "Session End"]

    def gone() -> bool:
        try:
            ivs.get_composition(arn=composition_arn)
        except ClientError as error:
            return error.response["Error"]["Code"] == "ResourceNotFoundException"
        return False

    wait_for(gone, "the stopped composition to be cleaned up")
    assert ivs.list_compositions(filterByStageArn=stage)["compositions"] == []
    status, code, _ = error_of(ivs.stop_composition, arn=composition_arn)
    assert (status, code) == (404, "ResourceNotFoundException")
