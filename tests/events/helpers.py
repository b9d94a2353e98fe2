"""Causing events cheaply: a WHIP publish without the PUBLISH capability is a ``Participant Publish Error``."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

SECRET = "test-webhook-secret"


def publish_error(server_url: str, ivs: Any, stage_arn: str, user: str) -> str:
    """Makes one Participant Publish Error event on the stage; returns the participant id."""
    created = ivs.create_participant_token(stageArn=stage_arn, userId=user, capabilities=["SUBSCRIBE"])
    token = created["participantToken"]
    request = urllib.request.Request(
        f"{server_url}/whip/publish/{token['participantId']}",
        data=b"v=0\r\n",
        method="POST",
        headers={"Authorization": f"Bearer {token['token']}", "Content-Type": "application/sdp"},
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 403, error.read()
    else:
        raise AssertionError("a publish without the PUBLISH capability was accepted")
    return str(token["participantId"])
