"""The events WebSocket over real sockets (docs 2.3): the same client code AWS's samples and the web SDK use.

A server of this module's own ends sessions one second after the stage empties, so the
session's end is observable; a participant leaves three seconds after its last connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage import ids
from openstage.tokens import jws
from tests.events_client import CHROME_ON_WINDOWS, claims_of, events_url, is_closed, join, receive, refusal
from tests.server import Server


@pytest.fixture(scope="module")
def server(backend: str, make_server: Callable[..., Server]) -> Server:
    return make_server(backend, args=["--session-grace-seconds", "1"])


@pytest.fixture(scope="module")
def ivs(server: Server):
    return server.client()


@pytest.fixture
def stage(ivs) -> dict[str, Any]:
    return ivs.create_stage(name="events")["stage"]


def new_token(ivs, stage: dict[str, Any], **options: Any) -> str:
    return ivs.create_participant_token(stageArn=stage["arn"], **options)["participantToken"]["token"]


@pytest.fixture(scope="module")
def imported_key(ivs) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-384 key pair whose public half is imported (docs 1.3): (private key, public key ARN)."""
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, ivs.import_public_key(publicKeyMaterial=pem.decode(), name="events")["publicKey"]["arn"]


def self_signed(key: ec.EllipticCurvePrivateKey, kid: str, stage: dict[str, Any], **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "exp": now + 3600,
        "iat": now,
        "jti": ids.random_id(),
        "resource": stage["arn"],
        "topic": ids.resource_id(stage["arn"]),
        "events_url": stage["endpoints"]["events"],
        "whip_url": stage["endpoints"]["whip"],
        "user_id": "self",
        "capabilities": {"allow_publish": True, "allow_subscribe": True},
        "attributes": {},
        "version": "1.0",
        **changes,
    }
    return jws.sign({"alg": "ES384", "typ": "JWT", "kid": kid}, claims, key)


@pytest.mark.parametrize("form", ["path", "query"])
def test_the_state_arrives_at_once_on_both_url_forms(ivs, stage, form):
    token = new_token(ivs, stage)

    async def scenario() -> None:
        async with await join(token, events_url(token, form)) as ws:
            assert ws.subprotocol == token  # echoed, or a browser aborts the handshake
            message = await receive(ws)
            assert message["type"] == "STAGE_STATE"
            payload = message["payload"]
            assert payload["sequenceNumber"] >= 1
            assert payload["participants"] == [] and payload["disconnected"] == []
            assert "xdp" not in payload["serverFeatures"]
            assert payload["stageId"] == ids.resource_id(stage["arn"])

    asyncio.run(scenario())


def test_ping_is_answered_and_set_state_accepted(ivs, stage):
    token = new_token(ivs, stage)

    async def scenario() -> None:
        async with await join(token) as ws:
            await receive(ws, "STAGE_STATE")
            await ws.send('{"type":"PING"}')
            assert await receive(ws) == {"type": "PONG"}
            await ws.send('{"type":"SET_STATE","version":"0","audioMuted":true,"videoStopped":false}')
            await ws.send("not json")
            await ws.send("[" * 60_000)  # nests deeper than json can parse
            await ws.send('{"type":"PING"}')
            assert await receive(ws) == {"type": "PONG"}  # still connected, nothing else said

    asyncio.run(scenario())


def test_sequence_numbers_only_grow(ivs, stage):
    first, second = new_token(ivs, stage), new_token(ivs, stage)

    async def scenario() -> None:
        numbers = []
        for token in (first, second, first):
            async with await join(token) as ws:
                numbers.append((await receive(ws, "STAGE_STATE"))["payload"]["sequenceNumber"])
        assert numbers == sorted(numbers) and len(set(numbers)) == 3

    asyncio.run(scenario())


def test_a_self_signed_token_from_an_imported_key_joins(stage, imported_key):
    token = self_signed(*imported_key, stage)

    async def scenario() -> None:
        async with await join(token) as ws:
            assert (await receive(ws))["type"] == "STAGE_STATE"

    asyncio.run(scenario())


def test_refusals_are_join_errors(ivs, stage, imported_key):
    good = new_token(ivs, stage)
    url = events_url(good)
    header, claims, _, _ = jws.split(good)
    forged = jws.sign(header, {**claims, "user_id": "admin"}, ec.generate_private_key(ec.SECP384R1()))
    now = int(time.time())
    expired = self_signed(*imported_key, stage, iat=now - 7200, exp=now - 60)
    other_stage = ivs.create_stage(name="other")["stage"]
    gone_stage = ivs.create_stage(name="gone")["stage"]
    gone = new_token(ivs, gone_stage)
    ivs.delete_stage(arn=gone_stage["arn"])
    wrong_topic = f"{claims['events_url']}/{ids.resource_id(other_stage['arn'])}"

    async def scenario() -> list[tuple[str, bool]]:
        cases = [
            ("garbage", url),
            (None, url),
            (forged, url),
            (expired, url),
            (good, wrong_topic),
            (gone, events_url(gone)),
            (good, claims["events_url"]),
        ]
        return [((payload := await refusal(token, where))["code"], payload["fatal"]) for token, where in cases]

    assert asyncio.run(scenario()) == [
        ("TOKEN_INVALID", True),
        ("TOKEN_MISSING", True),
        ("TOKEN_INVALID_SIGNATURE", True),
        ("TOKEN_EXPIRED", True),
        ("TOKEN_INVALID", True),  # a token for another stage
        ("STAGE_DELETED", True),
        ("BAD_REQUEST", True),  # no stage in the URL
    ]


def test_a_newer_connection_with_the_same_token_wins(ivs, stage):
    token = new_token(ivs, stage)

    async def scenario() -> None:
        async with await join(token) as older:
            await receive(older, "STAGE_STATE")
            async with await join(token, events_url(token, "query")) as newer:
                await receive(newer, "STAGE_STATE")
                message = await receive(older, "aws:ivs:DISCONNECT")
                assert message["payload"]["code"] == "TOKEN_REUSED"
                assert await is_closed(older)
                await newer.send('{"type":"PING"}')
                assert await receive(newer, "PONG") == {"type": "PONG"}

    asyncio.run(scenario())


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"still not true after {timeout} s: {check}")


def test_sessions_participants_and_events_through_boto3(ivs, stage):
    token = new_token(ivs, stage, userId="ana", attributes={"displayName": "Ana"})
    participant_id = claims_of(token)["jti"]
    arn = stage["arn"]

    async def visit() -> None:
        headers = {"X-Stages-SDK": "1.41.0"}
        async with await join(token, user_agent_header=CHROME_ON_WINDOWS, additional_headers=headers) as ws:
            await receive(ws, "STAGE_STATE")
            session_id = ivs.get_stage(arn=arn)["stage"]["activeSessionId"]
            assert session_id.startswith("st-")
            (listed,) = ivs.list_stage_sessions(stageArn=arn)["stageSessions"]
            assert listed["sessionId"] == session_id and "endTime" not in listed
            participant = ivs.get_participant(stageArn=arn, sessionId=session_id, participantId=participant_id)
            participant = participant["participant"]
            assert participant["state"] == "CONNECTED" and participant["published"] is False
            assert (participant["userId"], participant["attributes"]) == ("ana", {"displayName": "Ana"})
            assert (participant["osName"], participant["osVersion"]) == ("Microsoft Windows", "10.0")
            assert (participant["browserName"], participant["browserVersion"]) == ("Google Chrome", "116")
            assert (participant["sdkVersion"], participant["ispName"], participant["protocol"]) == (
                "1.41.0",
                "",
                "WHIP",
            )

    asyncio.run(visit())
    # Left 3 s after the socket closed, then the session ends 1 s after the stage emptied.
    wait_until(lambda: "activeSessionId" not in ivs.get_stage(arn=arn)["stage"], timeout=15)
    (session,) = ivs.list_stage_sessions(stageArn=arn)["stageSessions"]
    assert session["endTime"] >= session["startTime"]
    session_id = session["sessionId"]
    (summary,) = ivs.list_participants(stageArn=arn, sessionId=session_id)["participants"]
    assert (summary["participantId"], summary["state"]) == (participant_id, "DISCONNECTED")
    events = ivs.list_participant_events(stageArn=arn, sessionId=session_id, participantId=participant_id)["events"]
    assert [event["name"] for event in events] == ["JOINED", "LEFT"]
    assert events[0]["eventTime"] <= events[1]["eventTime"] <= session["endTime"]
