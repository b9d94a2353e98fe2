"""CreateStorageConfiguration, GetStorageConfiguration, DeleteStorageConfiguration, ListStorageConfigurations."""

from __future__ import annotations

import re
import uuid

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.models import ResourceReference, Tag
from tests.seed import run_in_db
from tests.shapes import assert_matches_output

ARN_RE = re.compile(r"arn:aws:ivs:us-east-1:123456789012:storage-configuration/[A-Za-z0-9]{12}")
COMPOSITION = "arn:aws:ivs:us-east-1:123456789012:composition/CompXyz98765"
MISSING = "arn:aws:ivs:us-east-1:123456789012:storage-configuration/NoSuchThing1"


@pytest.fixture(scope="module")
def server(backend, make_server):
    """Own server: the account quota of 5 is too small to share with every other module's tests."""
    return make_server(backend, args=["--quota", "storage_configurations=1000"])


def bucket() -> str:
    return f"rec-{uuid.uuid4().hex[:12]}.example"


def folders(server) -> set[str]:
    root = server.data_dir / "buckets"
    return {p.name for p in root.iterdir()} if root.exists() else set()


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_create_echoes_s3_and_makes_the_bucket_folder(ivs, server):
    name = bucket()
    assert not (server.data_dir / "buckets" / name).exists()
    response = ivs.create_storage_configuration(s3={"bucketName": name})
    assert_matches_output("CreateStorageConfiguration", response)
    config = response["storageConfiguration"]
    assert ARN_RE.fullmatch(config["arn"])
    assert config == {"arn": config["arn"], "name": "", "s3": {"bucketName": name}, "tags": {}}
    assert (server.data_dir / "buckets" / name).is_dir()


def test_create_on_an_existing_folder_keeps_its_content(ivs, server):
    name = bucket()
    folder = server.data_dir / "buckets" / name
    folder.mkdir(parents=True)
    (folder / "kept.txt").write_text("x")
    ivs.create_storage_configuration(s3={"bucketName": name})
    assert (folder / "kept.txt").read_text() == "x"


def test_get_round_trip_with_name_and_tags(ivs):
    name = bucket()
    created = ivs.create_storage_configuration(name="rec_1", s3={"bucketName": name}, tags={"team": "video"})
    config = created["storageConfiguration"]
    fetched = ivs.get_storage_configuration(arn=config["arn"])
    assert_matches_output("GetStorageConfiguration", fetched)
    assert fetched["storageConfiguration"] == config
    assert config == {"arn": config["arn"], "name": "rec_1", "s3": {"bucketName": name}, "tags": {"team": "video"}}


def test_names_need_not_be_unique(ivs):
    first = ivs.create_storage_configuration(name="same", s3={"bucketName": bucket()})["storageConfiguration"]
    second = ivs.create_storage_configuration(name="same", s3={"bucketName": bucket()})["storageConfiguration"]
    assert first["arn"] != second["arn"]
    assert first["name"] == second["name"] == "same"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"s3": {"bucketName": "My-Bucket"}}, "s3.bucketName"),
        ({"s3": {"bucketName": "under_score"}}, "s3.bucketName"),
        ({"s3": {"bucketName": "ab"}}, "s3.bucketName"),
        ({"s3": {"bucketName": "b" * 64}}, "s3.bucketName"),
        ({"s3": {"bucketName": "-leading-dash"}}, "s3.bucketName"),
        ({"s3": {"bucketName": "trailing-dot."}}, "s3.bucketName"),
        ({"s3": {"bucketName": "..."}}, "s3.bucketName"),
        ({"s3": {"bucketName": "two..dots"}}, "s3.bucketName"),
        ({"s3": {}}, "s3.bucketName"),
        ({}, "s3"),
        ({"s3": {"bucketName": "fine-bucket"}, "name": "no spaces"}, "name"),
        ({"s3": {"bucketName": "fine-bucket"}, "tags": {"aws:x": "y"}}, "aws:"),
    ],
)
def test_create_validation_makes_no_folder(raw_ivs, server, kwargs, field):
    before = folders(server)
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.create_storage_configuration(**kwargs)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert field in message
    assert folders(server) == before


@pytest.mark.parametrize("operation", ["get_storage_configuration", "delete_storage_configuration"])
def test_unknown_arn_is_not_found(ivs, operation):
    with pytest.raises(ClientError) as excinfo:
        getattr(ivs, operation)(arn=MISSING)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert MISSING in message


def test_delete_returns_empty_and_removes_resource_and_tags(ivs, server):
    arn = ivs.create_storage_configuration(s3={"bucketName": bucket()}, tags={"k": "v"})["storageConfiguration"]["arn"]
    response = ivs.delete_storage_configuration(arn=arn)
    assert_matches_output("DeleteStorageConfiguration", response)
    assert {k for k in response if k != "ResponseMetadata"} == set()
    with pytest.raises(ClientError) as excinfo:
        ivs.get_storage_configuration(arn=arn)
    assert error_of(excinfo)[0] == "ResourceNotFoundException"

    async def tags(session: AsyncSession) -> list[str]:
        return list((await session.scalars(select(Tag.key).where(Tag.resource_arn == arn))).all())

    assert run_in_db(server, tags) == []


def test_delete_while_a_composition_uses_it_is_409(ivs, server):
    arn = ivs.create_storage_configuration(s3={"bucketName": bucket()})["storageConfiguration"]["arn"]

    async def use(session: AsyncSession) -> None:
        session.add(ResourceReference(user_arn=COMPOSITION, used_arn=arn))

    run_in_db(server, use)
    with pytest.raises(ClientError) as excinfo:
        ivs.delete_storage_configuration(arn=arn)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ConflictException", 409)
    assert COMPOSITION in message and arn in message
    assert_matches_output("GetStorageConfiguration", ivs.get_storage_configuration(arn=arn))

    async def release(session: AsyncSession) -> None:
        await session.delete(await session.get(ResourceReference, (COMPOSITION, arn)))

    run_in_db(server, release)
    assert_matches_output("DeleteStorageConfiguration", ivs.delete_storage_configuration(arn=arn))


def test_delete_while_a_stage_records_into_it_is_409(ivs):
    arn = ivs.create_storage_configuration(s3={"bucketName": bucket()})["storageConfiguration"]["arn"]
    other = ivs.create_storage_configuration(s3={"bucketName": bucket()})["storageConfiguration"]["arn"]
    stage = ivs.create_stage(autoParticipantRecordingConfiguration={"storageConfigurationArn": arn})["stage"]["arn"]
    with pytest.raises(ClientError) as excinfo:
        ivs.delete_storage_configuration(arn=arn)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ConflictException", 409)
    assert stage in message and arn in message
    # The check matches the exact ARN: a configuration no stage uses is free to go.
    assert_matches_output("DeleteStorageConfiguration", ivs.delete_storage_configuration(arn=other))
    ivs.update_stage(arn=stage, autoParticipantRecordingConfiguration={"storageConfigurationArn": ""})
    assert_matches_output("DeleteStorageConfiguration", ivs.delete_storage_configuration(arn=arn))


def test_list_paginates_one_at_a_time_in_creation_order(ivs):
    names = [bucket() for _ in range(3)]
    mine = [
        ivs.create_storage_configuration(name=f"page-{i}", s3={"bucketName": b}, tags={"i": str(i)})[
            "storageConfiguration"
        ]["arn"]
        for i, b in enumerate(names)
    ]
    seen: list[dict] = []
    kwargs: dict = {"maxResults": 1}
    while True:
        page = ivs.list_storage_configurations(**kwargs)
        assert_matches_output("ListStorageConfigurations", page)
        assert len(page["storageConfigurations"]) == 1
        seen += page["storageConfigurations"]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    arns = [c["arn"] for c in seen]
    assert len(arns) == len(set(arns))
    assert [a for a in arns if a in mine] == mine
    assert next(c for c in seen if c["arn"] == mine[1]) == {
        "arn": mine[1],
        "name": "page-1",
        "s3": {"bucketName": names[1]},
        "tags": {"i": "1"},
    }


@pytest.mark.parametrize("max_results", [0, 101])
def test_list_max_results_range(raw_ivs, max_results):
    with pytest.raises(ClientError) as excinfo:
        raw_ivs.list_storage_configurations(maxResults=max_results)
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert "maxResults" in message


def test_quota_is_402_and_bounds_the_default_page(backend, make_server):
    server = make_server(backend, args=["--quota", "storage_configurations=3"])
    ivs = server.client()
    mine = [ivs.create_storage_configuration(s3={"bucketName": bucket()})["storageConfiguration"]["arn"] for _ in "abc"]
    with pytest.raises(ClientError) as excinfo:
        ivs.create_storage_configuration(s3={"bucketName": bucket()})
    code, status, message = error_of(excinfo)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert "3 storage configurations" in message
    listed = ivs.list_storage_configurations()
    assert_matches_output("ListStorageConfigurations", listed)
    assert [c["arn"] for c in listed["storageConfigurations"]] == mine
    assert "nextToken" not in listed

    # Lowered below what exists, the quota becomes the default page size ("quota or 100, whichever is smaller").
    server.stop()
    server.args = ["--quota", "storage_configurations=2"]
    ivs = server.start().client()
    first = ivs.list_storage_configurations()
    assert_matches_output("ListStorageConfigurations", first)
    assert [c["arn"] for c in first["storageConfigurations"]] == mine[:2]
    rest = ivs.list_storage_configurations(nextToken=first["nextToken"])
    assert_matches_output("ListStorageConfigurations", rest)
    assert [c["arn"] for c in rest["storageConfigurations"]] == mine[2:]
    assert "nextToken" not in rest


def test_a_bucket_that_cannot_be_made_is_refused_as_access_denied(ivs, server):
    """The local backend's bucket is a folder: a file in its place is a bucket nobody may write to."""
    name = bucket()
    root = server.data_dir / "buckets"
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("not a folder")
    with pytest.raises(ClientError) as refused:
        ivs.create_storage_configuration(s3={"bucketName": name})
    code, status, message = error_of(refused)
    assert (code, status) == ("AccessDeniedException", 403)
    assert name in message
    listed = ivs.list_storage_configurations()["storageConfigurations"]
    assert name not in [config["s3"]["bucketName"] for config in listed]
