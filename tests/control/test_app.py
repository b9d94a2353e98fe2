"""The rest-json protocol around the handlers: routing, error envelope, malformed input."""

from __future__ import annotations

import json

import pytest

from openstage.control.errors import SECURITY_HEADERS
from tests.server import signed_request


def _error(status_headers_body):
    status, headers, body = status_headers_body
    return status, headers.get("x-amzn-errortype"), json.loads(body)


def test_error_envelope_matches_aws(server):
    status, headers, body = signed_request(
        server,
        "POST",
        "/GetStage",
        json.dumps({"arn": "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"}).encode(),
    )
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-requestid"]
    for name, value in SECURITY_HEADERS.items():
        assert headers[name.lower()] == value
    document = json.loads(body)
    assert set(document) == {"exceptionMessage", "message"}
    assert document["exceptionMessage"] == document["message"]
    assert "AbCdEf123456" in document["message"]


def test_success_carries_security_headers(server):
    status, headers, body = signed_request(server, "POST", "/ListStages", b"{}")
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    assert headers["x-frame-options"] == "DENY"
    assert "stages" in json.loads(body)


def test_unknown_operation_is_a_clear_404(server):
    status, code, body = _error(signed_request(server, "POST", "/CreateChannel", b"{}"))
    assert status == 404
    assert code == "UnknownOperationException"
    assert "CreateChannel" in body["message"] and "ivs-realtime" in body["message"]


def test_wrong_method_says_so(server):
    status, code, body = _error(signed_request(server, "GET", "/CreateStage"))
    assert status == 404
    assert code == "UnknownOperationException"
    assert "another HTTP method" in body["message"]


@pytest.mark.parametrize("payload", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"a string"'])
def test_malformed_json_is_400_not_500(server, payload):
    status, code, body = _error(signed_request(server, "POST", "/CreateStage", payload))
    assert status == 400
    assert code == "SerializationException"
    assert "JSON" in body["message"]


def test_empty_body_means_no_parameters(server):
    status, headers, body = signed_request(server, "POST", "/CreateStage", b"")
    assert status == 200
    assert json.loads(body)["stage"]["name"] == ""


def test_missing_required_member_names_it(server):
    status, code, body = _error(signed_request(server, "POST", "/GetStage", b"{}"))
    assert (status, code) == (400, "ValidationException")
    assert body["message"] == (
        "1 validation error detected: Value null at 'arn' failed to satisfy constraint: Member must not be null"
    )


def test_several_validation_errors_are_counted(server):
    payload = json.dumps({"name": "bad name", "tags": {"k" * 129: "v"}}).encode()
    status, code, body = _error(signed_request(server, "POST", "/CreateStage", payload))
    assert (status, code) == (400, "ValidationException")
    assert body["message"].startswith("2 validation errors detected: ")
    assert "at 'name'" in body["message"] and "at 'tags.key'" in body["message"]


def test_wrong_types_are_validation_errors(server):
    payload = json.dumps({"stageArn": ["x"], "duration": "ten"}).encode()
    status, code, body = _error(signed_request(server, "POST", "/CreateParticipantToken", payload))
    assert (status, code) == (400, "ValidationException")
    assert "Member must be a string" in body["message"]
    assert "Member must be an integer" in body["message"]


def test_deeply_nested_json_is_400_not_500(server):
    status, code, body = _error(signed_request(server, "POST", "/CreateStage", b"[" * 100_000 + b"]" * 100_000))
    assert (status, code) == (400, "SerializationException")


def test_oversized_body_is_refused(server):
    payload = b'{"name": "' + b"x" * (2 << 20) + b'"}'
    status, code, body = _error(signed_request(server, "POST", "/CreateStage", payload))
    assert (status, code) == (400, "SerializationException")
    assert "exceeds" in body["message"]


def test_json_null_means_absent(server):
    status, headers, body = signed_request(server, "POST", "/CreateStage", b'{"name": null, "tags": null}')
    assert status == 200
    stage = json.loads(body)["stage"]
    assert (stage["name"], stage["tags"]) == ("", {})
