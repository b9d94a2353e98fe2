"""TagResource, UntagResource, ListTagsForResource through boto3, on every taggable resource type."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.seed import arn, composition, seed, stored_tags
from tests.server import Server
from tests.shapes import assert_matches_output


@pytest.fixture(scope="module")
def tag_server(backend: str, make_server: Callable[..., Server]) -> Server:
    """Its own server: these tests create public keys and storage configurations, whose quotas are 3 and 5."""
    return make_server(backend, args=["--quota", "public_keys=100", "--quota", "storage_configurations=100"])


@pytest.fixture
def client(tag_server: Server) -> Any:
    return tag_server.client()


def _public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _create(kind: str, client: Any, server: Server) -> str:
    """A fresh resource of ``kind``, made the way a user would (compositions: seeded, as StartComposition will)."""
    if kind == "stage":
        return client.create_stage(name="tagged")["stage"]["arn"]
    if kind == "encoder-configuration":
        return client.create_encoder_configuration(video={})["encoderConfiguration"]["arn"]
    if kind == "storage-configuration":
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        return client.create_storage_configuration(s3={"bucketName": bucket})["storageConfiguration"]["arn"]
    if kind == "ingest-configuration":
        return client.create_ingest_configuration(ingestProtocol="RTMPS")["ingestConfiguration"]["arn"]
    if kind == "public-key":
        return client.import_public_key(publicKeyMaterial=_public_key_pem())["publicKey"]["arn"]
    stage_arn = client.create_stage(name="composed")["stage"]["arn"]
    row = composition(stage_arn, arn("encoder-configuration"))
    seed(server, row)
    return row.arn


KINDS = [
    "stage",
    "encoder-configuration",
    "storage-configuration",
    "ingest-configuration",
    "public-key",
    "composition",
]


@pytest.fixture(params=KINDS)
def resource(request: pytest.FixtureRequest, client: Any, tag_server: Server) -> str:
    return _create(request.param, client, tag_server)


@pytest.fixture
def stage(client: Any) -> str:
    return client.create_stage(name="tagged")["stage"]["arn"]


@pytest.fixture
def raw_client(tag_server: Server) -> Any:
    """A client without botocore's own checks, so the server's are what answers."""
    return tag_server.client(validate=False)


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response


def _tags(client: Any, resource_arn: str) -> dict[str, str]:
    response = client.list_tags_for_resource(resourceArn=resource_arn)
    assert_matches_output("ListTagsForResource", response)
    return response["tags"]


def test_tag_list_untag_round_trip_on_every_taggable_type(client, resource):
    assert _tags(client, resource) == {}
    response = client.tag_resource(resourceArn=resource, tags={"team": "video", "env": "prod", "empty": ""})
    assert_matches_output("TagResource", response)
    assert _tags(client, resource) == {"team": "video", "env": "prod", "empty": ""}
    client.tag_resource(resourceArn=resource, tags={"env": "staging"})
    assert _tags(client, resource) == {"team": "video", "env": "staging", "empty": ""}
    response = client.untag_resource(resourceArn=resource, tagKeys=["team", "empty"])
    assert_matches_output("UntagResource", response)
    assert _tags(client, resource) == {"env": "staging"}


def test_tags_show_on_the_resource_itself(client, tag_server):
    stage_arn = _create("stage", client, tag_server)
    client.tag_resource(resourceArn=stage_arn, tags={"owner": "ana"})
    assert client.get_stage(arn=stage_arn)["stage"]["tags"] == {"owner": "ana"}
    composition_arn = _create("composition", client, tag_server)
    client.tag_resource(resourceArn=composition_arn, tags={"owner": "ana"})
    assert client.get_composition(arn=composition_arn)["composition"]["tags"] == {"owner": "ana"}


@pytest.mark.parametrize("kind", [*KINDS, "channel"])
def test_unknown_resource_is_404(client, kind):
    missing = arn(kind)
    for call, kwargs in (
        (client.list_tags_for_resource, {}),
        (client.tag_resource, {"tags": {"k": "v"}}),
        (client.untag_resource, {"tagKeys": ["k"]}),
    ):
        response = _error(call, resourceArn=missing, **kwargs)
        assert response["Error"]["Code"] == "ResourceNotFoundException"
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert missing in response["Error"]["Message"]


def test_resource_of_another_account_is_404(client, stage):
    foreign = stage.replace(":123456789012:", ":210987654321:")
    response = _error(client.list_tags_for_resource, resourceArn=foreign)
    assert response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "resource_arn",
    [
        "not-an-arn",
        "arn:aws:ivs:us-east-1:123456789012:stage",
        "arn:aws:s3:::bucket/key",
        "arn:aws:ivs:us-east-1:1:stage/",
    ],
)
def test_malformed_arn_is_a_validation_error(raw_client, resource_arn):
    response = _error(raw_client.list_tags_for_resource, resourceArn=resource_arn)
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "resourceArn" in response["Error"]["Message"]


def test_fifty_tags_is_the_limit_across_calls(client, stage):
    client.tag_resource(resourceArn=stage, tags={f"first-{i}": str(i) for i in range(30)})
    response = _error(client.tag_resource, resourceArn=stage, tags={f"second-{i}": str(i) for i in range(21)})
    assert response["Error"]["Code"] == "ValidationException"
    assert "50" in response["Error"]["Message"]
    assert len(_tags(client, stage)) == 30  # nothing of the refused call was kept
    client.tag_resource(resourceArn=stage, tags={f"second-{i}": str(i) for i in range(20)})
    assert len(_tags(client, stage)) == 50
    # Replacing values at the limit adds no tag, so it is allowed.
    client.tag_resource(resourceArn=stage, tags={"first-0": "changed", "second-19": "changed"})
    tags = _tags(client, stage)
    assert len(tags) == 50 and tags["first-0"] == "changed"


def test_fifty_one_tags_in_one_call_is_refused(raw_client, stage):
    response = _error(raw_client.tag_resource, resourceArn=stage, tags={f"k{i}": "v" for i in range(51)})
    assert response["Error"]["Code"] == "ValidationException"
    assert "tags" in response["Error"]["Message"]


@pytest.mark.parametrize(
    "tags, field",
    [
        ({"aws:created-by": "me"}, "aws:"),
        ({"AWS:Owner": "me"}, "aws:"),
        ({"k" * 129: "v"}, "tags.key"),
        ({"": "v"}, "tags.key"),
        ({"k": "v" * 257}, "tags.k"),
    ],
)
def test_tag_rules(raw_client, stage, tags, field):
    response = _error(raw_client.tag_resource, resourceArn=stage, tags=tags)
    assert response["Error"]["Code"] == "ValidationException"
    assert field in response["Error"]["Message"]
    assert _tags(raw_client, stage) == {}


def test_untag_of_absent_keys_succeeds(client, stage):
    client.tag_resource(resourceArn=stage, tags={"keep": "me"})
    response = client.untag_resource(resourceArn=stage, tagKeys=["never-set", "also-absent"])
    assert_matches_output("UntagResource", response)
    client.untag_resource(resourceArn=stage, tagKeys=["never-set"])
    assert _tags(client, stage) == {"keep": "me"}


def test_tags_go_when_the_stage_is_deleted(client, tag_server, stage):
    client.tag_resource(resourceArn=stage, tags={"a": "1", "b": "2"})
    assert stored_tags(tag_server, stage) == {"a": "1", "b": "2"}
    client.delete_stage(arn=stage)
    assert stored_tags(tag_server, stage) == {}
    response = _error(client.list_tags_for_resource, resourceArn=stage)
    assert response["Error"]["Code"] == "ResourceNotFoundException"


def test_tags_are_per_resource(client, tag_server, stage):
    other = _create("stage", client, tag_server)
    client.tag_resource(resourceArn=stage, tags={"who": "first"})
    client.tag_resource(resourceArn=other, tags={"who": "second"})
    client.untag_resource(resourceArn=other, tagKeys=["who"])
    assert _tags(client, stage) == {"who": "first"}
    assert _tags(client, other) == {}
