"""DisconnectParticipant, RevokeConnectionToken, and DeleteStage throwing everyone out, over real sockets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.models import DisconnectedParticipant, IngestConfiguration, RevokedConnectionToken
from tests.events_client import claims_of, events_url, is_closed, join, receive, refusal
from tests.seed import run_in_db
from tests.shapes import assert_matches_output


@pytest.fixture
def stage(ivs) -> dict[str, Any]:
    return ivs.create_stage(name="kicks")["stage"]


def new_token(ivs, stage: dict[str, Any]) -> str:
    return ivs.create_participant_token(stageArn=stage["arn"])["participantToken"]["token"]


def test_disconnect_participant_kicks_within_a_second_and_the_token_cannot_rejoin(ivs, stage):
    target, other = new_token(ivs, stage), new_token(ivs, stage)
    target_id = claims_of(target)["jti"]

    async def scenario() -> None:
        async with await join(target) as kicked, await join(other) as watching:
            await receive(kicked, "STAGE_STATE")
            await receive(watching, "STAGE_STATE")
            started = time.monotonic()
            response = await asyncio.to_thread(
                ivs.disconnect_participant, stageArn=stage["arn"], participantId=target_id, reason="spamming"
            )
            assert_matches_output("DisconnectParticipant", response)
            message = await receive(kicked, "aws:ivs:DISCONNECT")
            assert time.monotonic() - started < 1.0
            assert message["payload"] == {"code": "PARTICIPANT_DISCONNECTED", "reason": "spamming"}
            assert await is_closed(kicked)
            state = await receive(watching, "STAGE_STATE")
            assert state["payload"]["disconnected"] == [{"id": target_id, "status": "KICKED"}]
        assert (await refusal(target, events_url(target)))["code"] == "PARTICIPANT_DISCONNECTED"

    asyncio.run(scenario())
    session_id = ivs.get_stage(arn=stage["arn"])["stage"]["activeSessionId"]  # the shared server has 60 s of grace
    events = ivs.list_participant_events(stageArn=stage["arn"], sessionId=session_id, participantId=target_id)
    assert [(e["name"], e.get("errorCode")) for e in events["events"]] == [
        ("JOINED", None),
        ("LEFT", None),
        ("JOIN_ERROR", "INSUFFICIENT_CAPABILITIES"),
    ]
    participant = ivs.get_participant(stageArn=stage["arn"], sessionId=session_id, participantId=target_id)
    assert participant["participant"]["state"] == "DISCONNECTED"


def test_a_participant_disconnected_before_joining_cannot_join(ivs, stage):
    token = new_token(ivs, stage)
    ivs.disconnect_participant(stageArn=stage["arn"], participantId=claims_of(token)["jti"])
    assert asyncio.run(refusal(token, events_url(token)))["code"] == "PARTICIPANT_DISCONNECTED"
    assert ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"] == []


def test_disconnect_participant_on_an_unknown_stage_is_404(ivs, stage):
    with pytest.raises(ClientError) as error:
        ivs.disconnect_participant(stageArn=stage["arn"] + "x", participantId="abcdefABCDEF")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def _set_active(server, arn: str) -> None:
    async def change(session: AsyncSession) -> None:
        await session.execute(update(IngestConfiguration).where(IngestConfiguration.arn == arn).values(state="ACTIVE"))

    run_in_db(server, change)


def _refused(server, stage_arn: str, participant_id: str) -> bool:
    async def read(session: AsyncSession) -> bool:
        found = await session.get(DisconnectedParticipant, (stage_arn, participant_id))
        return found is not None

    return run_in_db(server, read)


def test_disconnecting_an_rtmp_publisher_takes_the_stage_from_its_ingest_configuration(server, ivs, stage):
    """Model docs; its fixed participant id is not refused, so pointing the configuration back works later."""
    publishing = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage["arn"])["ingestConfiguration"]
    idle = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stage["arn"])["ingestConfiguration"]
    _set_active(server, publishing["arn"])
    for config in (publishing, idle):
        ivs.disconnect_participant(stageArn=stage["arn"], participantId=config["participantId"])
    assert ivs.get_ingest_configuration(arn=publishing["arn"])["ingestConfiguration"]["stageArn"] == ""
    assert ivs.get_ingest_configuration(arn=idle["arn"])["ingestConfiguration"]["stageArn"] == stage["arn"]
    assert not _refused(server, stage["arn"], publishing["participantId"])
    assert not _refused(server, stage["arn"], idle["participantId"])


def test_delete_stage_disconnects_everyone(ivs, stage):
    tokens = [new_token(ivs, stage), new_token(ivs, stage)]

    async def scenario() -> None:
        sockets = [await join(token) for token in tokens]
        try:
            for ws in sockets:
                await receive(ws, "STAGE_STATE")
            await asyncio.to_thread(ivs.delete_stage, arn=stage["arn"])
            for ws in sockets:
                message = await receive(ws, "aws:ivs:DISCONNECT")
                assert message["payload"]["code"] == "STAGE_DELETED"
                assert await is_closed(ws)
        finally:
            for ws in sockets:
                await ws.close()
        assert (await refusal(tokens[0], events_url(tokens[0])))["code"] == "STAGE_DELETED"

    asyncio.run(scenario())


def test_revoke_connection_token_is_recorded_once(server, ivs):
    """Connection tokens are not accepted yet, so nobody is connected with one; the revocation is kept."""
    for _ in range(2):
        assert_matches_output("RevokeConnectionToken", ivs.revoke_connection_token(tokenId="conn-Token_1"))

    async def read(session: AsyncSession) -> list[str]:
        rows = await session.scalars(select(RevokedConnectionToken.token_id))
        return list(rows)

    assert run_in_db(server, read).count("conn-Token_1") == 1


def test_revoke_connection_token_validates_the_id(raw_ivs):
    with pytest.raises(ClientError) as error:
        raw_ivs.revoke_connection_token(tokenId="not valid!")
    assert error.value.response["Error"]["Code"] == "ValidationException"
