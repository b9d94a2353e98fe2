"""Admission and IVS's ingest rules, each with its participant event, against a real server and ffmpeg (docs 7.1)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.ingest.encoder import pushing
from tests.ingest.helpers import configuration, events, state, wait_for

BFRAMES = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2"]
OVER_BITRATE = [
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
    "-b:v", "12M", "-minrate", "12M", "-maxrate", "12M", "-bufsize", "2M", "-x264-params", "nal-hrd=cbr:filler=1",
]  # fmt: skip


def url(stage: dict[str, Any], config: dict[str, Any], protocol: str = "rtmps", key: str | None = None) -> str:
    return stage["endpoints"][protocol] + (config["streamKey"] if key is None else key)


def refused(link: str) -> int:
    """ffmpeg's exit status when the server turns it away (it must not keep publishing)."""
    with pushing(link, seconds=10) as encoder:
        return encoder.wait(timeout=30)


def error_codes(ivs: Any, stage: dict[str, Any], participant_id: str) -> list[str]:
    return [e["errorCode"] for e in events(ivs, stage, participant_id) if e["name"] == "PUBLISH_ERROR"]


def wait_error(ivs: Any, stage: dict[str, Any], participant_id: str, code: str) -> list[dict[str, Any]]:
    wait_for(lambda: code in error_codes(ivs, stage, participant_id), f"PUBLISH_ERROR {code}")
    return events(ivs, stage, participant_id)


def test_a_wrong_secret_is_an_invalid_stream_key(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage)
    wrong = config["streamKey"][:-4] + ("AAAA" if not config["streamKey"].endswith("AAAA") else "BBBB")
    assert refused(url(stage, config, key=wrong)) != 0
    wait_error(ivs, stage, config["participantId"], "INVALID_STREAM_KEY")
    assert state(ivs, config) == "INACTIVE"


def test_plain_rtmp_on_an_rtmps_configuration_is_an_invalid_protocol(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage, "RTMPS")
    assert refused(url(stage, config, "rtmp")) != 0
    found = wait_error(ivs, stage, config["participantId"], "INVALID_PROTOCOL")
    assert "PUBLISH_STARTED" not in [e["name"] for e in found]


def test_a_key_without_a_stage_is_unusable(ivs: Any, stage: dict[str, Any]) -> None:
    config = ivs.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"]
    assert config["stageArn"] == ""
    assert refused(url(stage, config)) != 0
    assert state(ivs, config) == "INACTIVE"
    assert ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"] == []


def test_a_second_encoder_on_a_publishing_key_is_refused(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage)
    with pushing(url(stage, config)):
        wait_for(lambda: state(ivs, config) == "ACTIVE", "the first encoder")
        assert refused(url(stage, config)) != 0
        wait_error(ivs, stage, config["participantId"], "REUSE_OF_STREAM_KEY")
        assert state(ivs, config) == "ACTIVE"  # the first encoder goes on


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"video": BFRAMES}, "B_FRAME_PRESENT"),
        ({"size": "1920x1080"}, "RESOLUTION_EXCEEDED"),
        ({"video": OVER_BITRATE}, "BITRATE_EXCEEDED"),
        ({"audio": False}, "INVALID_INPUT"),
    ],
    ids=["b-frames", "1080p", "12-mbps", "no-audio"],
)
def test_a_stream_breaking_a_rule_is_disconnected_with_its_error(
    ivs: Any, stage: dict[str, Any], options: dict[str, Any], code: str
) -> None:
    config = configuration(ivs, stage)
    with pushing(url(stage, config), **options) as encoder:
        found = wait_error(ivs, stage, config["participantId"], code)
        assert encoder.wait(timeout=30) != 0, "the encoder was not disconnected"
    wait_for(lambda: [e["name"] for e in events(ivs, stage, config["participantId"])][-1:] == ["LEFT"], "LEFT")
    found = events(ivs, stage, config["participantId"])
    assert [e["name"] for e in found] == ["JOINED", "PUBLISH_STARTED", "PUBLISH_ERROR", "PUBLISH_STOPPED", "LEFT"]
    wait_for(lambda: state(ivs, config) == "INACTIVE", "INACTIVE")


def test_an_active_configuration_cannot_be_updated_or_deleted_without_force(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage)
    with pushing(url(stage, config)) as encoder:
        wait_for(lambda: state(ivs, config) == "ACTIVE", "ACTIVE")
        with pytest.raises(ClientError) as updating:
            ivs.update_ingest_configuration(arn=config["arn"], stageArn="")
        with pytest.raises(ClientError) as deleting:
            ivs.delete_ingest_configuration(arn=config["arn"])
        assert (
            updating.value.response["Error"]["Code"] == deleting.value.response["Error"]["Code"] == "ConflictException"
        )
        ivs.delete_ingest_configuration(arn=config["arn"], force=True)
        assert encoder.wait(timeout=30) != 0, "the encoder was not disconnected"
    with pytest.raises(ClientError) as gone:
        ivs.get_ingest_configuration(arn=config["arn"])
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    wait_for(lambda: "PUBLISH_STOPPED" in [e["name"] for e in events(ivs, stage, config["participantId"])], "stop")


def test_disconnecting_the_encoder_clears_the_configurations_stage(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage)
    with pushing(url(stage, config)) as encoder:
        wait_for(lambda: state(ivs, config) == "ACTIVE", "ACTIVE")
        ivs.disconnect_participant(stageArn=stage["arn"], participantId=config["participantId"], reason="bye")
        assert encoder.wait(timeout=30) != 0, "the encoder was not disconnected"
    wait_for(lambda: state(ivs, config) == "INACTIVE", "INACTIVE")
    assert ivs.get_ingest_configuration(arn=config["arn"])["ingestConfiguration"]["stageArn"] == ""
    # With its stage back, the key works again: the participant id was not refused for good.
    ivs.update_ingest_configuration(arn=config["arn"], stageArn=stage["arn"])
    with pushing(url(stage, config)):
        wait_for(lambda: state(ivs, config) == "ACTIVE", "ACTIVE again")


def test_a_redundant_key_publishes_as_its_own_participant(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage, redundantIngest=True)
    (backup,) = config["redundantIngestCredentials"]
    with pushing(url(stage, config, key=backup["streamKey"])):
        wait_for(lambda: state(ivs, config) == "ACTIVE", "ACTIVE")
        session_id = ivs.get_stage(arn=stage["arn"])["stage"]["activeSessionId"]
        found = ivs.get_participant(stageArn=stage["arn"], sessionId=session_id, participantId=backup["participantId"])
        assert found["participant"]["ingestConfigurationArn"] == config["arn"]


def test_deleting_the_stage_disconnects_its_encoder(ivs: Any, stage: dict[str, Any]) -> None:
    config = configuration(ivs, stage)
    with pushing(url(stage, config)) as encoder:
        wait_for(lambda: state(ivs, config) == "ACTIVE", "ACTIVE")
        ivs.delete_stage(arn=stage["arn"])
        assert encoder.wait(timeout=30) != 0, "the encoder was not disconnected"
    wait_for(lambda: state(ivs, config) == "INACTIVE", "INACTIVE")
    assert ivs.get_ingest_configuration(arn=config["arn"])["ingestConfiguration"]["stageArn"] == ""
