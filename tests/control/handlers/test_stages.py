"""CreateStage, GetStage, UpdateStage, DeleteStage, ListStages through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import update

from openstage.store.models import Participant
from tests.seed import participant, run_in_db, seed, stage_session
from tests.shapes import assert_matches_output

DEFAULT_RECORDING = {
    "storageConfigurationArn": "",
    "mediaTypes": ["AUDIO_VIDEO"],
    "thumbnailConfiguration": {"targetIntervalSeconds": 60, "storage": ["SEQUENTIAL"], "recordingMode": "DISABLED"},
    "recordingReconnectWindowSeconds": 0,
    "hlsConfiguration": {"targetSegmentDurationSeconds": 6},
    "recordParticipantReplicas": True,
}


def test_create_stage_echoes_defaults_and_endpoints(ivs, server):
    response = ivs.create_stage(name="demo")
    assert_matches_output("CreateStage", response)
    stage = response["stage"]
    assert stage["arn"].startswith("arn:aws:ivs:us-east-1:123456789012:stage/")
    stage_id = stage["arn"].rsplit("/", 1)[1]
    assert len(stage_id) == 12 and stage_id.isalnum()
    assert stage["name"] == "demo"
    assert stage["tags"] == {}
    assert "activeSessionId" not in stage
    assert stage["autoParticipantRecordingConfiguration"] == DEFAULT_RECORDING
    host = server.url.split("://", 1)[1]
    assert stage["endpoints"] == {
        "events": f"ws://{host}/events",
        "whip": f"{server.url}/whip",
        "rtmp": f"rtmp://{host.split(':')[0]}:{server.rtmp_ports[0]}/app/",
        "rtmps": f"rtmps://{host.split(':')[0]}:{server.rtmp_ports[1]}/app/",
    }
    assert response["participantTokens"] == []


def test_create_stage_with_token_configurations_returns_tokens_in_order(ivs):
    configs = [{"userId": f"user-{i}", "duration": 10 + i} for i in range(12)]
    response = ivs.create_stage(name="many", participantTokenConfigurations=configs)
    assert_matches_output("CreateStage", response)
    tokens = response["participantTokens"]
    assert [t["userId"] for t in tokens] == [c["userId"] for c in configs]
    assert [t["duration"] for t in tokens] == [c["duration"] for c in configs]
    assert len({t["participantId"] for t in tokens}) == 12


def test_create_stage_rejects_thirteen_token_configurations(ivs):
    with pytest.raises(ClientError) as error:
        ivs.create_stage(participantTokenConfigurations=[{"userId": "u"}] * 13)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "participantTokenConfigurations" in error.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"tags": {"aws:reserved": "x"}}, "aws:"),
        ({"participantTokenConfigurations": [{"attributes": {"k": "v" * 1100}}]}, "attributes"),
        ({"participantTokenConfigurations": [{"duration": 20161}]}, "duration"),
        ({"participantTokenConfigurations": [{"duration": 0}]}, "duration"),
        ({"participantTokenConfigurations": [{"userId": "u" * 129}]}, "userId"),
        ({"name": 5}, "name"),
        ({"participantTokenConfigurations": [{"capabilities": ["ADMIN"]}]}, "capabilities"),
        (
            {"autoParticipantRecordingConfiguration": {"storageConfigurationArn": "not-an-arn"}},
            "storageConfigurationArn",
        ),
    ],
)
def test_create_stage_validation(raw_ivs, kwargs, field):
    with pytest.raises(ClientError) as error:
        raw_ivs.create_stage(**kwargs)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert field in error.value.response["Error"]["Message"]


def test_create_stage_with_unknown_storage_configuration_is_not_found(ivs):
    arn = "arn:aws:ivs:us-east-1:123456789012:storage-configuration/AbCdEf123456"
    with pytest.raises(ClientError) as error:
        ivs.create_stage(autoParticipantRecordingConfiguration={"storageConfigurationArn": arn})
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert arn in error.value.response["Error"]["Message"]


def test_get_stage_round_trip_and_not_found(ivs):
    created = ivs.create_stage(name="get-me", tags={"team": "video"})["stage"]
    fetched = ivs.get_stage(arn=created["arn"])
    assert_matches_output("GetStage", fetched)
    assert fetched["stage"] == created
    with pytest.raises(ClientError) as error:
        ivs.get_stage(arn=created["arn"][:-1] + ("x" if created["arn"][-1] != "x" else "y"))
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_update_stage_changes_only_what_is_given(ivs):
    created = ivs.create_stage(name="before", tags={"k": "v"})["stage"]
    updated = ivs.update_stage(arn=created["arn"], name="after")
    assert_matches_output("UpdateStage", updated)
    assert updated["stage"]["name"] == "after"
    assert updated["stage"]["tags"] == {"k": "v"}
    assert updated["stage"]["autoParticipantRecordingConfiguration"] == DEFAULT_RECORDING
    assert ivs.get_stage(arn=created["arn"])["stage"]["name"] == "after"
    with pytest.raises(ClientError) as error:
        ivs.update_stage(arn=created["arn"].replace("stage/", "stage/zz"), name="x")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_delete_stage_returns_empty_and_removes_it(ivs):
    arn = ivs.create_stage(name="doomed")["stage"]["arn"]
    response = ivs.delete_stage(arn=arn)
    assert_matches_output("DeleteStage", response)
    assert {k for k in response if k != "ResponseMetadata"} == set()
    with pytest.raises(ClientError) as error:
        ivs.get_stage(arn=arn)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as error:
        ivs.delete_stage(arn=arn)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_list_stages_paginates_in_creation_order(ivs):
    mine = [ivs.create_stage(name=f"page-{i}", tags={"i": str(i)})["stage"]["arn"] for i in range(5)]
    seen: list[dict] = []
    kwargs: dict = {"maxResults": 2}
    pages = 0
    while True:
        page = ivs.list_stages(**kwargs)
        assert_matches_output("ListStages", page)
        assert len(page["stages"]) <= 2
        seen += page["stages"]
        pages += 1
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    arns = [s["arn"] for s in seen]
    assert len(arns) == len(set(arns))
    assert [a for a in arns if a in mine] == mine
    assert pages >= 3
    summary = next(s for s in seen if s["arn"] == mine[3])
    assert summary == {"arn": mine[3], "name": "page-3", "tags": {"i": "3"}}


@pytest.mark.parametrize("max_results", [0, 101])
def test_list_stages_max_results_range(raw_ivs, max_results):
    with pytest.raises(ClientError) as error:
        raw_ivs.list_stages(maxResults=max_results)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "maxResults" in error.value.response["Error"]["Message"]


def test_list_stages_rejects_forged_next_token(ivs):
    with pytest.raises(ClientError) as error:
        ivs.list_stages(nextToken="bm90LWEtdG9rZW4=")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "nextToken" in error.value.response["Error"]["Message"]


def test_stage_quota_is_402(make_server):
    server = make_server(args=["--quota", "stages=2"])
    ivs = server.client()
    ivs.create_stage()
    ivs.create_stage()
    with pytest.raises(ClientError) as error:
        ivs.create_stage()
    assert error.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert "2" in error.value.response["Error"]["Message"]


def test_update_stage_refuses_recording_changes_while_a_recording_is_active(ivs, server):
    """docs 6: the configuration a recording started with holds until it ends (409); other fields may change."""
    storage = ivs.create_storage_configuration(s3={"bucketName": "update-while-recording"})["storageConfiguration"]
    config = {"storageConfigurationArn": storage["arn"], "mediaTypes": ["AUDIO_ONLY"]}
    stage_arn = ivs.create_stage(autoParticipantRecordingConfiguration=config)["stage"]["arn"]
    session = stage_session(stage_arn, minutes=None)
    recorded = participant(session, published=True, recording_state="ACTIVE")
    seed(server, session, recorded)
    with pytest.raises(ClientError) as refused:
        ivs.update_stage(arn=stage_arn, autoParticipantRecordingConfiguration={**config, "mediaTypes": ["NONE"]})
    error = refused.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("ConflictException", 409)
    assert recorded.participant_id in error["Error"]["Message"]
    assert ivs.update_stage(arn=stage_arn, name="renamed")["stage"]["name"] == "renamed"
    unchanged = ivs.update_stage(arn=stage_arn, autoParticipantRecordingConfiguration=config)  # the same: no change
    assert unchanged["stage"]["autoParticipantRecordingConfiguration"]["mediaTypes"] == ["AUDIO_ONLY"]

    run_in_db(server, lambda db: _set_recording_state(db, recorded.participant_id, "STOPPED"))
    updated = ivs.update_stage(arn=stage_arn, autoParticipantRecordingConfiguration={**config, "mediaTypes": ["NONE"]})
    assert updated["stage"]["autoParticipantRecordingConfiguration"]["mediaTypes"] == ["NONE"]


async def _set_recording_state(session, participant_id: str, state: str) -> None:
    await session.execute(
        update(Participant).where(Participant.participant_id == participant_id).values(recording_state=state)
    )
