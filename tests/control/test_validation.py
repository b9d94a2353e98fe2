"""Request validation beyond the model's own rules, on every backend."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def _code(call, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as error:
        call(**kwargs)
    return error.value.response["ResponseMetadata"]["HTTPStatusCode"], error.value.response["Error"]["Code"]


def test_nul_characters_are_validation_errors_not_database_errors(ivs):
    """PostgreSQL cannot store U+0000 in text: it must be a 400 on every backend, never a 500 (or a silent accept)."""
    arn = ivs.create_stage(name="nul")["stage"]["arn"]
    invalid = (400, "ValidationException")
    assert _code(ivs.tag_resource, resourceArn=arn, tags={"k": "a\x00b"}) == invalid
    assert _code(ivs.tag_resource, resourceArn=arn, tags={"k\x00": "v"}) == invalid
    assert _code(ivs.create_stage, name="nul2", tags={"k": "\x00"}) == invalid
    assert _code(ivs.disconnect_participant, stageArn=arn, participantId="abcdefabcdef", reason="x\x00") == invalid
    assert _code(ivs.create_participant_token, stageArn=arn, userId="bob\x00") == invalid
    assert ivs.list_tags_for_resource(resourceArn=arn)["tags"] == {}
    ivs.tag_resource(resourceArn=arn, tags={"k": "tab\tand newline\n are fine"})
    assert ivs.list_tags_for_resource(resourceArn=arn)["tags"] == {"k": "tab\tand newline\n are fine"}
