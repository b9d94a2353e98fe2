"""CreateEncoderConfiguration, GetEncoderConfiguration, DeleteEncoderConfiguration, ListEncoderConfigurations."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.models import EncoderConfiguration, ResourceReference, Tag
from tests.seed import run_in_db
from tests.shapes import assert_matches_output

ARN_RE = re.compile(r"arn:aws:ivs:us-east-1:123456789012:encoder-configuration/[A-Za-z0-9]{12}")
DEFAULT_VIDEO = {"width": 1280, "height": 720, "framerate": 30.0, "bitrate": 2500000}
COMPOSITION = "arn:aws:ivs:us-east-1:123456789012:composition/CompAbc12345"
MISSING = "arn:aws:ivs:us-east-1:123456789012:encoder-configuration/NoSuchThing1"


@pytest.fixture(scope="module")
def server(backend, make_server):
    """Own server: the account quota of 20 is too small to share with every other module's tests."""
    return make_server(backend, args=["--quota", "encoder_configurations=1000"])


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_create_with_nothing_echoes_every_default(ivs):
    response = ivs.create_encoder_configuration()
    assert_matches_output("CreateEncoderConfiguration", response)
    config = response["encoderConfiguration"]
    assert ARN_RE.fullmatch(config["arn"])
    assert config == {"arn": config["arn"], "name": "", "video": DEFAULT_VIDEO, "tags": {}}


@pytest.mark.parametrize(
    "video, expected",
    [
        ({"width": 1920, "height": 1080}, {**DEFAULT_VIDEO, "width": 1920, "height": 1080}),
        ({"height": 1920, "width": 1080}, {**DEFAULT_VIDEO, "width": 1080, "height": 1920}),
        ({"bitrate": 6000000}, {**DEFAULT_VIDEO, "bitrate": 6000000}),
        ({"framerate": 29.97}, {**DEFAULT_VIDEO, "framerate": 29.97}),
        (
            {"width": 2, "height": 2, "framerate": 1, "bitrate": 1},
            {"width": 2, "height": 2, "framerate": 1.0, "bitrate": 1},
        ),
    ],
)
def test_create_fills_each_missing_video_member(ivs, video, expected):
    response = ivs.create_encoder_configuration(video=video)
    assert_matches_output("CreateEncoderConfiguration", response)
    assert response["encoderConfiguration"]["video"] == expected
    fetched = ivs.get_encoder_configuration(arn=response["encoderConfiguration"]["arn"])
    assert fetched["encoderConfiguration"]["video"] == expected


def test_get_round_trip_with_name_and_tags(ivs):
    created = ivs.create_encoder_configuration(
        name="hd_1080-p",
        video={"width": 1920, "height": 1080, "framerate": 60, "bitrate": 8500000},
        tags={"team": "video", "env": ""},
    )["encoderConfiguration"]
    fetched = ivs.get_encoder_configuration(arn=created["arn"])
    assert_matches_output("GetEncoderConfiguration", fetched)
    assert fetched["encoderConfiguration"] == created
    assert created["name"] == "hd_1080-p"
    assert created["video"] == {"width": 1920, "height": 1080, "framerate": 60.0, "bitrate": 8500000}
    assert created["tags"] == {"team": "video", "env": ""}


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"video": {"width": 1281}}, "video.width"),
        ({"video": {"height": 721}}, "video.height"),
        ({"video": {"width": 1919, "height": 1080}}, "video.width"),
        ({"video": {"width": 1920, "height": 1920}}, "2073600"),
        ({"video": {"width": 1922}}, "video.width"),
        ({"video": {"width": 0}}, "video.width"),
        ({"video": {"height": 1}}, "video.height"),
        ({"video": {"framerate": 0.5}}, "video.framerate"),
        ({"video": {"framerate": 60.5}}, "video.framerate"),
        ({"video": {"bitrate": 0}}, "video.bitrate"),
        ({"video": {"bitrate": 8500001}}, "video.bitrate"),
        ({"video": {"width": "1280"}}, "video.width"),
        ({"name": "no spaces"}, "name"),
        ({"name": "n" * 129}, "name"),
        ({"tags": {"aws:owner": "x"}}, "aws:"),
    ],
)
def test_create_validation(raw_ivs, kwargs, field):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.create_encoder_configuration(**kwargs)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert field in message


def test_pixel_cap_message_names_both_sides(raw_ivs):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.create_encoder_configuration(video={"width": 1920, "height": 1082})
    assert "1920x1082 = 2077440" in error_of(excinfo)[2]


@pytest.mark.parametrize("operation", ["get_encoder_configuration", "delete_encoder_configuration"])
def test_unknown_arn_is_not_found(ivs, operation):
    with pytest.raises(ClientError) as excinfo:
        getattr(ivs, operation)(arn=MISSING)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert MISSING in message


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:ivs:us-east-1:123456789012:storage-configuration/abc"])
def test_get_rejects_malformed_arn(raw_ivs, arn):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.get_encoder_configuration(arn=arn)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "arn" in message


def test_delete_returns_empty_and_removes_resource_and_tags(ivs, server):
    arn = ivs.create_encoder_configuration(name="doomed", tags={"k": "v"})["encoderConfiguration"]["arn"]
    response = ivs.delete_encoder_configuration(arn=arn)
    assert_matches_output("DeleteEncoderConfiguration", response)
    assert {k for k in response if k != "ResponseMetadata"} == set()
    with pytest.raises(ClientError) as excinfo:
        ivs.get_encoder_configuration(arn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
    assert arn not in [c["arn"] for c in ivs.list_encoder_configurations(maxResults=100)["encoderConfigurations"]]

    async def tags(session: AsyncSession) -> list[str]:
        return list((await session.scalars(select(Tag.key).where(Tag.resource_arn == arn))).all())

    assert run_in_db(server, tags) == []


def test_delete_while_a_composition_uses_it_is_409(ivs, server):
    arn = ivs.create_encoder_configuration(name="in-use")["encoderConfiguration"]["arn"]

    async def use(session: AsyncSession) -> None:
        session.add(ResourceReference(user_arn=COMPOSITION, used_arn=arn))

    run_in_db(server, use)
    with pytest.raises(ClientError) as excinfo:
        ivs.delete_encoder_configuration(arn=arn)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ConflictException", 409)
    assert COMPOSITION in message and arn in message
    assert ivs.get_encoder_configuration(arn=arn)["encoderConfiguration"]["name"] == "in-use"

    async def release(session: AsyncSession) -> None:
        await session.delete(await session.get(ResourceReference, (COMPOSITION, arn)))

    run_in_db(server, release)
    assert_matches_output("DeleteEncoderConfiguration", ivs.delete_encoder_configuration(arn=arn))


def test_list_paginates_one_at_a_time_in_creation_order(ivs):
    mine = [
        ivs.create_encoder_configuration(name=f"page-{i}", tags={"i": str(i)})["encoderConfiguration"]["arn"]
        for i in range(3)
    ]
    seen: list[dict] = []
    kwargs: dict = {"maxResults": 1}
    while True:
        page = ivs.list_encoder_configurations(**kwargs)
        assert_matches_output("ListEncoderConfigurations", page)
        assert len(page["encoderConfigurations"]) == 1
        seen += page["encoderConfigurations"]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    arns = [c["arn"] for c in seen]
    assert len(arns) == len(set(arns))
    assert [a for a in arns if a in mine] == mine
    assert next(c for c in seen if c["arn"] == mine[2]) == {"arn": mine[2], "name": "page-2", "tags": {"i": "2"}}


def test_list_default_page_is_100(ivs, server):
    async def seed(session: AsyncSession) -> None:
        await session.execute(
            insert(EncoderConfiguration),
            [
                {"arn": f"arn:aws:ivs:us-east-1:123456789012:encoder-configuration/seed{i:08d}", "video": DEFAULT_VIDEO}
                for i in range(101)
            ],
        )

    run_in_db(server, seed)
    first = ivs.list_encoder_configurations()
    assert_matches_output("ListEncoderConfigurations", first)
    assert len(first["encoderConfigurations"]) == 100
    assert "nextToken" in first


def test_list_rejects_token_from_another_operation(ivs):
    for _ in range(2):
        ivs.create_encoder_configuration()
    token = ivs.list_encoder_configurations(maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as excinfo:
        ivs.list_storage_configurations(nextToken=token)
    code, _, message = error_of(excinfo)
    assert code == "ValidationException"
    assert "nextToken" in message


@pytest.mark.parametrize("max_results", [0, 101])
def test_list_max_results_range(raw_ivs, max_results):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.list_encoder_configurations(maxResults=max_results)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "maxResults" in message


def test_quota_is_402_and_counts_only_existing_configurations(backend, make_server):
    ivs = make_server(backend, args=["--quota", "encoder_configurations=2"]).client()
    first = ivs.create_encoder_configuration()["encoderConfiguration"]["arn"]
    ivs.create_encoder_configuration()
    with pytest.raises(ClientError) as excinfo:
        ivs.create_encoder_configuration()
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert "2 encoder configurations" in message
    ivs.delete_encoder_configuration(arn=first)
    assert_matches_output("CreateEncoderConfiguration", ivs.create_encoder_configuration())
