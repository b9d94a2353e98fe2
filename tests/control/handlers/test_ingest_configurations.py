"""CreateIngestConfiguration, GetIngestConfiguration, UpdateIngestConfiguration, DeleteIngestConfiguration,
ListIngestConfigurations."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.control.errors import SECURITY_HEADERS
from openstage.control.model import service_model
from openstage.store.models import IngestConfiguration, Tag
from tests.seed import run_in_db
from tests.server import Server
from tests.shapes import assert_matches_output

ARN_RE = re.compile(r"arn:aws:ivs:us-east-1:123456789012:ingest-configuration/(?P<id>[A-Za-z0-9]{12})")
ID_RE = re.compile(r"[A-Za-z0-9]{12}")
MISSING = "arn:aws:ivs:us-east-1:123456789012:ingest-configuration/NoSuchThing1"
MISSING_STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/NoSuchStage1"
STREAM_KEY_MODEL_RE = re.compile(r"rt_[0-9]+_[a-z0-9-]+_[a-zA-Z0-9-]+_.+")


def key_re(config_arn: str) -> re.Pattern[str]:
    config_id = ARN_RE.fullmatch(config_arn)["id"]  # type: ignore[index]
    return re.compile(rf"rt_123456789012_us-east-1_{config_id}_[A-Za-z0-9]{{32}}")


def assert_output(operation: str, response: dict) -> None:
    """Checks the body's shape, and the modelled response headers boto3 lifts into the result (docs 0)."""
    members = service_model().operation_model(operation).output_shape.members
    headers = {n: m.serialization["name"] for n, m in members.items() if m.serialization.get("location") == "header"}
    assert {n: response.get(n) for n in headers} == {n: SECURITY_HEADERS[h] for n, h in headers.items()}
    assert_matches_output(operation, {k: v for k, v in response.items() if k not in headers})


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def set_state(server: Server, arn: str, state: str) -> None:
    async def change(session: AsyncSession) -> None:
        await session.execute(update(IngestConfiguration).where(IngestConfiguration.arn == arn).values(state=state))

    run_in_db(server, change)


def summary_of(config: dict) -> dict:
    keys = ("name", "arn", "ingestProtocol", "stageArn", "participantId", "state", "userId", "redundantIngest")
    return {k: config[k] for k in keys}


def test_create_minimal_echoes_defaults(ivs):
    response = ivs.create_ingest_configuration(ingestProtocol="RTMPS")
    assert_output("CreateIngestConfiguration", response)
    config = response["ingestConfiguration"]
    assert ARN_RE.fullmatch(config["arn"])
    assert key_re(config["arn"]).fullmatch(config["streamKey"])
    assert STREAM_KEY_MODEL_RE.fullmatch(config["streamKey"])
    assert ID_RE.fullmatch(config["participantId"])
    assert config == {
        "name": "",
        "arn": config["arn"],
        "ingestProtocol": "RTMPS",
        "streamKey": config["streamKey"],
        "stageArn": "",
        "participantId": config["participantId"],
        "state": "INACTIVE",
        "userId": "",
        "redundantIngest": False,
        "tags": {},
    }


def test_create_full_round_trips_through_get(ivs):
    stage = ivs.create_stage(name="ingest-target")["stage"]["arn"]
    response = ivs.create_ingest_configuration(
        name="camera_1",
        stageArn=stage,
        userId="camera operator",
        attributes={"role": "main-cam", "café": "ü"},
        ingestProtocol="RTMP",
        insecureIngest=True,
        redundantIngest=True,
        tags={"team": "video"},
    )
    assert_output("CreateIngestConfiguration", response)
    config = response["ingestConfiguration"]
    assert {k: v for k, v in config.items() if k not in ("arn", "streamKey", "participantId")} == {
        "name": "camera_1",
        "ingestProtocol": "RTMP",
        "stageArn": stage,
        "state": "INACTIVE",
        "userId": "camera operator",
        "attributes": {"role": "main-cam", "café": "ü"},
        "redundantIngest": True,
        "redundantIngestCredentials": config["redundantIngestCredentials"],
        "tags": {"team": "video"},
    }
    [backup] = config["redundantIngestCredentials"]
    assert ID_RE.fullmatch(backup["participantId"]) and backup["participantId"] != config["participantId"]
    assert key_re(config["arn"]).fullmatch(backup["streamKey"]) and backup["streamKey"] != config["streamKey"]
    fetched = ivs.get_ingest_configuration(arn=config["arn"])
    assert_output("GetIngestConfiguration", fetched)
    assert fetched["ingestConfiguration"] == config


def test_every_configuration_gets_its_own_ids_and_keys(ivs):
    configs = [ivs.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"] for _ in range(3)]
    for field in ("arn", "participantId", "streamKey"):
        assert len({c[field] for c in configs}) == 3


def test_create_with_empty_stage_arn_is_allowed(ivs):
    response = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn="")
    assert_output("CreateIngestConfiguration", response)
    assert response["ingestConfiguration"]["stageArn"] == ""


def test_create_with_unknown_stage_is_not_found(ivs):
    with pytest.raises(ClientError) as excinfo:
        ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=MISSING_STAGE)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert MISSING_STAGE in message


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"ingestProtocol": "RTMP"}, "insecureIngest"),
        ({"ingestProtocol": "RTMP", "insecureIngest": False}, "insecureIngest"),
        ({"ingestProtocol": "SRT"}, "ingestProtocol"),
        ({}, "ingestProtocol"),
        ({"ingestProtocol": "RTMPS", "attributes": {"k": "v" * 1100}}, "attributes"),
        ({"ingestProtocol": "RTMPS", "stageArn": "arn:aws:ivs:us-east-1:123456789012:channel/abc"}, "stageArn"),
        ({"ingestProtocol": "RTMPS", "stageArn": "stage/abc"}, "stageArn"),
        ({"ingestProtocol": "RTMPS", "userId": "u" * 129}, "userId"),
        ({"ingestProtocol": "RTMPS", "name": "no spaces"}, "name"),
        ({"ingestProtocol": "RTMPS", "redundantIngest": "yes"}, "redundantIngest"),
        ({"ingestProtocol": "RTMPS", "tags": {"aws:x": "y"}}, "aws:"),
    ],
)
def test_create_validation(raw_ivs, kwargs, field):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.create_ingest_configuration(**kwargs)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert field in message


def test_attributes_of_exactly_one_kilobyte_are_accepted(ivs):
    attributes = {"k": "v" * 1023}
    response = ivs.create_ingest_configuration(ingestProtocol="RTMPS", attributes=attributes)
    assert_output("CreateIngestConfiguration", response)
    assert response["ingestConfiguration"]["attributes"] == attributes


@pytest.mark.parametrize(
    "operation, kwargs",
    [
        ("get_ingest_configuration", {}),
        ("update_ingest_configuration", {"stageArn": ""}),
        ("delete_ingest_configuration", {}),
        ("delete_ingest_configuration", {"force": True}),
    ],
)
def test_unknown_arn_is_not_found(ivs, operation, kwargs):
    with pytest.raises(ClientError) as excinfo:
        getattr(ivs, operation)(arn=MISSING, **kwargs)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert MISSING in message


def test_update_moves_between_stages_and_keeps_the_key(ivs):
    first, second = (ivs.create_stage()["stage"]["arn"] for _ in range(2))
    created = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=first, userId="u")["ingestConfiguration"]
    moved = ivs.update_ingest_configuration(arn=created["arn"], stageArn=second)
    assert_output("UpdateIngestConfiguration", moved)
    assert moved["ingestConfiguration"] == {**created, "stageArn": second}
    detached = ivs.update_ingest_configuration(arn=created["arn"], stageArn="")
    assert_output("UpdateIngestConfiguration", detached)
    assert detached["ingestConfiguration"] == {**created, "stageArn": ""}
    fetched = ivs.get_ingest_configuration(arn=created["arn"])
    assert_output("GetIngestConfiguration", fetched)
    assert fetched["ingestConfiguration"] == {**created, "stageArn": ""}


def test_update_without_changes_returns_it_unchanged(ivs):
    created = ivs.create_ingest_configuration(ingestProtocol="RTMPS", tags={"a": "b"})["ingestConfiguration"]
    response = ivs.update_ingest_configuration(arn=created["arn"])
    assert_output("UpdateIngestConfiguration", response)
    assert response["ingestConfiguration"] == created


def test_update_to_unknown_stage_is_not_found_and_changes_nothing(ivs):
    stage = ivs.create_stage()["stage"]["arn"]
    created = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage)["ingestConfiguration"]
    with pytest.raises(ClientError) as excinfo:
        ivs.update_ingest_configuration(arn=created["arn"], stageArn=MISSING_STAGE)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert MISSING_STAGE in message
    assert ivs.get_ingest_configuration(arn=created["arn"])["ingestConfiguration"]["stageArn"] == stage


def test_update_rejects_malformed_stage_arn(raw_ivs):
    arn = raw_ivs.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"]["arn"]
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.update_ingest_configuration(arn=arn, stageArn="arn:aws:ivs:us-east-1:123456789012:stage/")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "stageArn" in message


def test_update_redundant_ingest_issues_and_withdraws_the_second_key(ivs):
    created = ivs.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"]
    on = ivs.update_ingest_configuration(arn=created["arn"], redundantIngest=True)
    assert_output("UpdateIngestConfiguration", on)
    config = on["ingestConfiguration"]
    assert config["redundantIngest"] is True
    [backup] = config["redundantIngestCredentials"]
    assert key_re(created["arn"]).fullmatch(backup["streamKey"]) and backup["streamKey"] != created["streamKey"]
    assert config["streamKey"] == created["streamKey"]
    # Asking again for what is already on keeps the issued key.
    again = ivs.update_ingest_configuration(arn=created["arn"], redundantIngest=True)
    assert again["ingestConfiguration"]["redundantIngestCredentials"] == [backup]
    off = ivs.update_ingest_configuration(arn=created["arn"], redundantIngest=False)
    assert_output("UpdateIngestConfiguration", off)
    assert off["ingestConfiguration"] == {**created, "redundantIngest": False}


def test_active_configuration_cannot_be_updated_or_deleted_without_force(ivs, server):
    stage = ivs.create_stage()["stage"]["arn"]
    created = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage, tags={"k": "v"})
    arn = created["ingestConfiguration"]["arn"]
    set_state(server, arn, "ACTIVE")
    fetched = ivs.get_ingest_configuration(arn=arn)
    assert_output("GetIngestConfiguration", fetched)
    assert fetched["ingestConfiguration"]["state"] == "ACTIVE"

    with pytest.raises(ClientError) as excinfo:
        ivs.update_ingest_configuration(arn=arn, stageArn="")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ConflictException", 409)
    assert arn in message and "ACTIVE" in message
    assert ivs.get_ingest_configuration(arn=arn)["ingestConfiguration"]["stageArn"] == stage

    for kwargs in ({}, {"force": False}):
        with pytest.raises(ClientError) as excinfo:
            ivs.delete_ingest_configuration(arn=arn, **kwargs)
        code, status, message = error_of(excinfo)
        assert (code, status) == ("ConflictException", 409)
        assert "force" in message

    response = ivs.delete_ingest_configuration(arn=arn, force=True)
    assert_output("DeleteIngestConfiguration", response)
    with pytest.raises(ClientError) as excinfo:
        ivs.get_ingest_configuration(arn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"

    async def tags(session: AsyncSession) -> list[str]:
        return list((await session.scalars(select(Tag.key).where(Tag.resource_arn == arn))).all())

    assert run_in_db(server, tags) == []


def test_delete_inactive_returns_empty(ivs):
    arn = ivs.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"]["arn"]
    response = ivs.delete_ingest_configuration(arn=arn)
    assert_output("DeleteIngestConfiguration", response)
    assert {k for k in response if k != "ResponseMetadata"} == set()
    with pytest.raises(ClientError) as excinfo:
        ivs.delete_ingest_configuration(arn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"


def test_list_by_stage_paginates_exactly_that_stages_configurations(ivs):
    stage, elsewhere = (ivs.create_stage()["stage"]["arn"] for _ in range(2))
    mine = [
        ivs.create_ingest_configuration(name=f"cam-{i}", ingestProtocol="RTMPS", stageArn=stage)["ingestConfiguration"]
        for i in range(3)
    ]
    ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=elsewhere)
    seen: list[dict] = []
    kwargs: dict = {"filterByStageArn": stage, "maxResults": 1}
    while True:
        page = ivs.list_ingest_configurations(**kwargs)
        assert_output("ListIngestConfigurations", page)
        seen += page["ingestConfigurations"]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert seen == [summary_of(c) for c in mine]


def test_list_by_state(ivs, server):
    stage = ivs.create_stage()["stage"]["arn"]
    active, idle = (
        ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage)["ingestConfiguration"] for _ in range(2)
    )
    set_state(server, active["arn"], "ACTIVE")

    def listed(state: str) -> list[dict]:
        """Every page: other tests share this server, so ours may be past the first."""
        found: list[dict] = []
        kwargs: dict = {"filterByState": state, "maxResults": 100}
        while True:
            response = ivs.list_ingest_configurations(**kwargs)
            assert_output("ListIngestConfigurations", response)
            found += response["ingestConfigurations"]
            if "nextToken" not in response:
                return found
            kwargs["nextToken"] = response["nextToken"]

    active_list = listed("ACTIVE")
    assert {c["state"] for c in active_list} == {"ACTIVE"}
    assert summary_of({**active, "state": "ACTIVE"}) in active_list
    assert idle["arn"] not in [c["arn"] for c in active_list]
    inactive_list = listed("INACTIVE")
    assert {c["state"] for c in inactive_list} == {"INACTIVE"}
    assert summary_of(idle) in inactive_list
    assert active["arn"] not in [c["arn"] for c in inactive_list]


def test_list_with_both_filters_is_rejected(ivs):
    stage = ivs.create_stage()["stage"]["arn"]
    with pytest.raises(ClientError) as excinfo:
        ivs.list_ingest_configurations(filterByStageArn=stage, filterByState="ACTIVE")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "filterByStageArn" in message and "filterByState" in message


def test_next_token_is_bound_to_its_filter(ivs):
    stage = ivs.create_stage()["stage"]["arn"]
    for _ in range(2):
        ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage)
    token = ivs.list_ingest_configurations(filterByStageArn=stage, maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as excinfo:
        ivs.list_ingest_configurations(filterByState="INACTIVE", nextToken=token)
    code, _, message = error_of(excinfo)
    assert code == "ValidationException"
    assert "nextToken" in message


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"filterByState": "PAUSED"}, "filterByState"),
        ({"filterByStageArn": ""}, "filterByStageArn"),
        ({"filterByStageArn": "arn:aws:ivs:us-east-1:123456789012:channel/x"}, "filterByStageArn"),
        ({"maxResults": 0}, "maxResults"),
        ({"maxResults": 101}, "maxResults"),
    ],
)
def test_list_validation(raw_ivs, kwargs, field):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.list_ingest_configurations(**kwargs)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert field in message


def test_list_default_page_is_50(ivs, server):
    stage = ivs.create_stage()["stage"]["arn"]
    config_id = stage.rsplit("/", 1)[1]

    async def seed(session: AsyncSession) -> None:
        await session.execute(
            insert(IngestConfiguration),
            [
                {
                    "arn": f"arn:aws:ivs:us-east-1:123456789012:ingest-configuration/{config_id}{i:02d}",
                    "stage_arn": stage,
                    "participant_id": f"{config_id}{i:02d}",
                    "ingest_protocol": "RTMPS",
                    "stream_key": f"rt_123456789012_us-east-1_{config_id}{i:02d}_secret",
                }
                for i in range(51)
            ],
        )

    run_in_db(server, seed)
    first = ivs.list_ingest_configurations(filterByStageArn=stage)
    assert_output("ListIngestConfigurations", first)
    assert len(first["ingestConfigurations"]) == 50
    rest = ivs.list_ingest_configurations(filterByStageArn=stage, nextToken=first["nextToken"])
    assert_output("ListIngestConfigurations", rest)
    assert len(rest["ingestConfigurations"]) == 1
    assert "nextToken" not in rest
    assert len({c["arn"] for c in first["ingestConfigurations"] + rest["ingestConfigurations"]}) == 51


def test_quota_is_402(backend, make_server):
    ivs = make_server(backend, args=["--quota", "ingest_configurations=1"]).client()
    ivs.create_ingest_configuration(ingestProtocol="RTMPS")
    with pytest.raises(ClientError) as excinfo:
        ivs.create_ingest_configuration(ingestProtocol="RTMPS")
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert "1 ingest configurations" in message
