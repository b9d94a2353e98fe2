"""StartParticipantReplication, StopParticipantReplication, ListParticipantReplicas: their checks and paging.

The checks that need no media run on both backends; those that need a live publisher use one
SQLite media server. The media itself is tested in tests/replication/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack
from tests.server import Server
from tests.shapes import assert_matches_output

LOOPBACK = ["127.0.0.1"]
MISSING_STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"


def error_of(call: Callable[..., Any], **arguments: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as error:
        call(**arguments)
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_replication_needs_two_existing_stages_and_a_publisher(ivs: Any) -> None:
    a, b = (ivs.create_stage(name=name)["stage"]["arn"] for name in ("a", "b"))
    start = ivs.start_participant_replication
    status, code, message = error_of(start, sourceStageArn=a, destinationStageArn=a, participantId="p")
    assert (status, code) == (400, "ValidationException") and "different" in message
    assert error_of(start, sourceStageArn=a, destinationStageArn=MISSING_STAGE, participantId="p")[:2] == (
        404,
        "ResourceNotFoundException",
    )
    status, code, message = error_of(start, sourceStageArn=a, destinationStageArn=b, participantId="nobody")
    assert (status, code) == (400, "ValidationException") and "not publishing" in message
    status, code, _ = error_of(
        start, sourceStageArn=a, destinationStageArn=b, participantId="p", reconnectWindowSeconds=301
    )
    assert (status, code) == (400, "ValidationException")


def test_stopping_a_replication_that_does_not_exist_is_404(ivs: Any) -> None:
    a, b = (ivs.create_stage(name=name)["stage"]["arn"] for name in ("a", "b"))
    status, code, _ = error_of(
        ivs.stop_participant_replication, sourceStageArn=a, destinationStageArn=b, participantId="p"
    )
    assert (status, code) == (404, "ResourceNotFoundException")


def test_a_participant_never_replicated_has_no_replicas(ivs: Any) -> None:
    a = ivs.create_stage(name="a")["stage"]["arn"]
    response = ivs.list_participant_replicas(sourceStageArn=a, participantId="p")
    assert_matches_output("ListParticipantReplicas", response)
    assert response["replicas"] == [] and "nextToken" not in response


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite", args=["--ice-addresses", "127.0.0.1"])


def test_five_replications_per_participant_one_per_destination_paged(media_server: Server) -> None:
    ivs = media_server.client()
    source = ivs.create_stage(name="source")["stage"]["arn"]
    destinations = [ivs.create_stage(name=f"d{i}")["stage"]["arn"] for i in range(6)]
    token = ivs.create_participant_token(stageArn=source, capabilities=["PUBLISH"])["participantToken"]
    pid = token["participantId"]

    def start(destination: str) -> Any:
        return ivs.start_participant_replication(
            sourceStageArn=source, destinationStageArn=destination, participantId=pid
        )

    async def scenario() -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
        async with Participant(token["token"], ice_addresses=LOOPBACK) as host:
            await host.publish(video=PatternVideoTrack(160, 120))
            for destination in destinations[:5]:
                assert_matches_output("StartParticipantReplication", start(destination))
            refusals = [error_of(start, destination=destinations[0]), error_of(start, destination=destinations[5])]
            pages: list[dict[str, Any]] = []
            arguments: dict[str, Any] = {"sourceStageArn": source, "participantId": pid, "maxResults": 2}
            while True:
                page = ivs.list_participant_replicas(**arguments)
                assert_matches_output("ListParticipantReplicas", page)
                pages.append(page)
                if "nextToken" not in page:
                    break
                arguments["nextToken"] = page["nextToken"]
            return pages, refusals

    pages, refusals = asyncio.run(asyncio.wait_for(scenario(), 60))
    (conflict, quota) = refusals
    assert conflict[:2] == (409, "ConflictException")
    assert quota[:2] == (402, "ServiceQuotaExceededException")
    assert [len(page["replicas"]) for page in pages] == [2, 2, 1]
    listed = [replica for page in pages for replica in page["replicas"]]
    assert [r["destinationStageArn"] for r in listed] == destinations[:5]
    assert {(r["sourceStageArn"], r["participantId"], r["replicationState"]) for r in listed} == {
        (source, pid, "ACTIVE")
    }
