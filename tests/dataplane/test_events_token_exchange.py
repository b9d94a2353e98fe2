"""EXCHANGE_TOKEN on the events WebSocket (docs 1.5, 3.4, 4): a publisher swaps in a self-signed token of itself.

The others see its new user id and attributes without it leaving; the exchange is a
TOKEN_EXCHANGED participant event with both tokens' mutable claims and a "Token Exchanged"
EventBridge event. Tokens for someone else, server-issued tokens and garbage are refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.client import ExchangeError, Participant, RemoteParticipant
from openstage.client.pattern import PatternVideoTrack
from tests.dataplane.test_events import self_signed
from tests.events.helpers import SECRET
from tests.events.receiver import Receiver
from tests.events_client import claims_of
from tests.server import Server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.close()


def test_a_publisher_exchanges_its_token_and_everyone_sees_the_change(
    make_server: Callable[..., Server], receiver: Receiver
) -> None:
    args = ["--ice-addresses", "127.0.0.1", "--webhook", receiver.url, "--webhook-secret", SECRET]
    server = make_server("sqlite", args=args)
    ivs = server.client()
    stage = ivs.create_stage(name="exchange")["stage"]
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = ivs.import_public_key(publicKeyMaterial=pem.decode(), name="exchange")["publicKey"]["arn"]
    guest = {"allow_publish": True, "allow_subscribe": False}
    first = self_signed(key, kid, stage, user_id="guest", attributes={"seat": "back"}, capabilities=guest)
    claims = claims_of(first)
    same_participant = {name: claims[name] for name in ("jti", "exp", "iat")}
    host = {"allow_publish": True, "allow_subscribe": True}
    second = self_signed(
        key, kid, stage, user_id="host", attributes={"seat": "front"}, capabilities=host, **same_participant
    )
    someone_else = self_signed(key, kid, stage, user_id="host")
    server_issued = ivs.create_participant_token(stageArn=stage["arn"])["participantToken"]["token"]
    watcher_token = ivs.create_participant_token(stageArn=stage["arn"], capabilities=["SUBSCRIBE"])
    participant_id = claims["jti"]

    async def scenario() -> tuple[list[RemoteParticipant], list[str]]:
        updates: list[RemoteParticipant] = []
        refusals: list[str] = []
        async with Participant(first, ice_addresses=["127.0.0.1"]) as publisher:
            await publisher.publish(video=PatternVideoTrack(160, 120))
            async with Participant(watcher_token["participantToken"]["token"]) as watcher:
                watcher.on_participant_updated(updates.append)
                for token in (someone_else, server_issued, "not-a-token"):
                    with pytest.raises(ExchangeError) as refused:
                        await publisher.exchange_token(token)
                    refusals.append(str(refused.value))
                await publisher.exchange_token(second)
                assert publisher.claims.user_id == "host"
                for _ in range(100):
                    if updates:
                        break
                    await asyncio.sleep(0.05)
        return updates, refusals

    updates, refusals = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert "jti" in refusals[0]
    assert "self-signed" in refusals[1]
    assert refusals[2]
    [update] = updates
    assert (update.id, update.user_id, update.attributes, update.is_publishing) == (
        participant_id,
        "host",
        {"seat": "front"},
        True,
    )

    session_id = ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"][0]["sessionId"]
    listed = ivs.list_participant_events(stageArn=stage["arn"], sessionId=session_id, participantId=participant_id)
    [exchanged] = [e for e in listed["events"] if e["name"] == "TOKEN_EXCHANGED"]

    def token_view(capabilities: list[str], user_id: str, attributes: dict[str, str]) -> dict[str, Any]:
        return {"capabilities": capabilities, "attributes": attributes, "userId": user_id}

    previous, new = exchanged["previousToken"], exchanged["newToken"]
    assert previous.pop("expirationTime").timestamp() == claims["exp"] == new.pop("expirationTime").timestamp()
    assert previous == token_view(["PUBLISH"], "guest", {"seat": "back"})
    assert new == token_view(["PUBLISH", "SUBSCRIBE"], "host", {"seat": "front"})
    got = ivs.get_participant(stageArn=stage["arn"], sessionId=session_id, participantId=participant_id)
    assert got["participant"]["userId"] == "host" and got["participant"]["attributes"] == {"seat": "front"}

    events = receiver.wait_for(3)
    names = [event["detail"]["event_name"] for event in events]
    assert names[:2] == ["Participant Published", "Token Exchanged"]
    assert events[1]["detail"]["user_id"] == "host" and events[1]["detail"]["participant_id"] == participant_id
