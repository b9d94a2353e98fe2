"""nextToken decoding: whatever a client puts in a token is a 400, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from openstage.control.pagination import _digest


def _forged(after: object) -> str:
    raw = json.dumps({"a": after, "f": _digest("ListStages", {})})
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize("after", [10**30, -(10**30), 2**63, "1e999"])
def test_out_of_range_positions_are_validation_errors(server, after):
    token = _forged(float(after) if after == "1e999" else after)
    with pytest.raises(ClientError) as error:
        server.client().list_stages(nextToken=token)
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
