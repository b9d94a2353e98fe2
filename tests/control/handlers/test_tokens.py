"""CreateParticipantToken through boto3: the response, and the JWT's claims byte for byte."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.shapes import assert_matches_output

MANDATORY_ORDER = ["exp", "iat", "jti", "resource", "topic", "events_url", "whip_url", "user_id", "capabilities"]


def b64url_json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(header, claims, signature) of a compact JWS, without any JWT library."""
    header, claims, signature = token.split(".")
    return b64url_json(header), b64url_json(claims), base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))


@pytest.fixture
def stage(ivs) -> dict[str, Any]:
    return ivs.create_stage(name="tokens")["stage"]


def test_default_token_claims_in_ivs_order(ivs, stage):
    before = int(datetime.now(UTC).timestamp())
    response = ivs.create_participant_token(stageArn=stage["arn"])
    after = int(datetime.now(UTC).timestamp())
    assert_matches_output("CreateParticipantToken", response)
    token = response["participantToken"]
    assert set(token) == {"participantId", "token", "duration", "capabilities", "expirationTime"}
    assert token["duration"] == 720
    assert token["capabilities"] == ["PUBLISH", "SUBSCRIBE"]
    assert len(token["participantId"]) == 12 and token["participantId"].isalnum()

    header, claims, signature = decode(token["token"])
    assert header["alg"] == "ES384"
    assert header["typ"] == "JWT"
    assert len(signature) == 96  # JOSE r||s for P-384, not DER
    assert list(claims) == [*MANDATORY_ORDER, "version"]
    assert before <= claims["iat"] <= after
    assert claims == {
        "exp": claims["iat"] + 720 * 60,
        "iat": claims["iat"],
        "jti": token["participantId"],
        "resource": stage["arn"],
        "topic": stage["arn"].rsplit("/", 1)[1],
        "events_url": stage["endpoints"]["events"],
        "whip_url": stage["endpoints"]["whip"],
        "user_id": "",
        "capabilities": {"allow_publish": True, "allow_subscribe": True},
        "version": "0.0",
    }
    assert token["expirationTime"] == datetime.fromtimestamp(claims["exp"], UTC)


def test_token_with_every_option(ivs, stage):
    attributes = {"displayName": "Zoë", "role": "host"}
    response = ivs.create_participant_token(
        stageArn=stage["arn"], duration=90, userId="user-42", attributes=attributes, capabilities=["SUBSCRIBE"]
    )
    assert_matches_output("CreateParticipantToken", response)
    token = response["participantToken"]
    assert token["userId"] == "user-42"
    assert token["attributes"] == attributes
    assert token["duration"] == 90
    assert token["capabilities"] == ["SUBSCRIBE"]
    _, claims, _ = decode(token["token"])
    assert list(claims) == [*MANDATORY_ORDER, "attributes", "version"]
    assert claims["exp"] - claims["iat"] == 90 * 60
    assert claims["user_id"] == "user-42"
    assert claims["capabilities"] == {"allow_subscribe": True}
    assert claims["attributes"] == attributes
    assert claims["version"] == "0.0"
    assert token["expirationTime"] == datetime.fromtimestamp(claims["exp"], UTC)


@pytest.mark.parametrize(
    "capabilities, expected",
    [
        ([], {}),
        (["PUBLISH"], {"allow_publish": True}),
        (["SUBSCRIBE"], {"allow_subscribe": True}),
        (["SUBSCRIBE", "PUBLISH"], {"allow_publish": True, "allow_subscribe": True}),
    ],
)
def test_capabilities_claim_holds_only_granted_keys(ivs, stage, capabilities, expected):
    token = ivs.create_participant_token(stageArn=stage["arn"], capabilities=capabilities)["participantToken"]
    assert token["capabilities"] == capabilities
    _, claims, _ = decode(token["token"])
    assert claims["capabilities"] == expected


@pytest.mark.parametrize("duration", [1, 20160])
def test_duration_bounds_are_accepted(ivs, stage, duration):
    token = ivs.create_participant_token(stageArn=stage["arn"], duration=duration)["participantToken"]
    assert token["duration"] == duration
    _, claims, _ = decode(token["token"])
    assert claims["exp"] - claims["iat"] == duration * 60


def test_attributes_of_exactly_one_kilobyte_are_accepted(ivs, stage):
    attributes = {"a" * 12: "x" * 500, "b" * 12: "y" * 500}  # 1024 bytes in all
    token = ivs.create_participant_token(stageArn=stage["arn"], attributes=attributes)["participantToken"]
    _, claims, _ = decode(token["token"])
    assert claims["attributes"] == attributes


def test_empty_user_id_is_echoed_and_claimed_empty(ivs, stage):
    token = ivs.create_participant_token(stageArn=stage["arn"], userId="")["participantToken"]
    assert token["userId"] == ""
    _, claims, _ = decode(token["token"])
    assert claims["user_id"] == ""
    assert "attributes" not in claims


def test_every_token_has_its_own_participant_id(ivs, stage):
    tokens = [ivs.create_participant_token(stageArn=stage["arn"])["participantToken"] for _ in range(5)]
    ids = [t["participantId"] for t in tokens]
    assert len(set(ids)) == 5
    assert [decode(t["token"])[1]["jti"] for t in tokens] == ids


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"duration": 0}, "duration"),
        ({"duration": 20161}, "duration"),
        ({"attributes": {"k1": "v" * 600, "k2": "w" * 600}}, "attributes"),
        ({"capabilities": ["ADMIN"]}, "capabilities"),
        ({"capabilities": ["PUBLISH", "SUBSCRIBE", "PUBLISH"]}, "capabilities"),
        ({"userId": "u" * 129}, "userId"),
    ],
    ids=["duration-0", "duration-20161", "attributes-total", "capability-unknown", "capabilities-3", "userId-long"],
)
def test_validation(raw_ivs, stage, kwargs, field):
    with pytest.raises(ClientError) as error:
        raw_ivs.create_participant_token(stageArn=stage["arn"], **kwargs)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert field in error.value.response["Error"]["Message"]


def test_attributes_total_counts_keys_and_values(raw_ivs, stage):
    """Each value is under 1 KB; only their sum (with the keys) is over."""
    attributes = {"k1": "v" * 600, "k2": "w" * 600}
    with pytest.raises(ClientError) as error:
        raw_ivs.create_participant_token(stageArn=stage["arn"], attributes=attributes)
    assert "1024" in error.value.response["Error"]["Message"]
    assert "1204" in error.value.response["Error"]["Message"]  # 2 + 600 + 2 + 600


def test_unknown_stage_is_not_found(ivs):
    arn = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"
    with pytest.raises(ClientError) as error:
        ivs.create_participant_token(stageArn=arn)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert arn in error.value.response["Error"]["Message"]
