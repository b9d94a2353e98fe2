"""Nothing of a stage is lost to ``kill -9``: the restarted server closes what the crash left open."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.events_client import claims_of, join, receive


@pytest.mark.slow
def test_a_crash_closes_the_session_and_disconnects_its_participants(make_server, backend):
    server = make_server(backend)
    ivs = server.client()
    arn = ivs.create_stage(name="crash")["stage"]["arn"]
    token = ivs.create_participant_token(stageArn=arn, userId="ana")["participantToken"]["token"]
    participant_id = claims_of(token)["jti"]

    async def connect_and_crash() -> None:
        ws = await join(token)
        await receive(ws, "STAGE_STATE")
        server.stop(signal.SIGKILL)
        ws.transport.abort()

    asyncio.run(connect_and_crash())
    server.start(port=server.port)
    ivs = server.client()

    assert "activeSessionId" not in ivs.get_stage(arn=arn)["stage"]
    (session,) = ivs.list_stage_sessions(stageArn=arn)["stageSessions"]
    assert session["endTime"] >= session["startTime"]
    session_id = session["sessionId"]
    participant = ivs.get_participant(stageArn=arn, sessionId=session_id, participantId=participant_id)
    assert (participant["participant"]["state"], participant["participant"]["userId"]) == ("DISCONNECTED", "ana")
    events = ivs.list_participant_events(stageArn=arn, sessionId=session_id, participantId=participant_id)
    assert [event["name"] for event in events["events"]] == ["JOINED", "LEFT"]
