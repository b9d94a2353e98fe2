"""Participant replication in a cluster of three real nodes (docs/cluster.md): requests sent to any node act on the
node hosting the source stage, where the destination stage is placed when nobody has joined it; a destination
already live on another node gets the replica there, its frames sent from the source's node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from openstage.client import Participant
from openstage.replication.remote import SECRET_HEADER
from tests.cluster.conftest import Nodes
from tests.cluster.test_node import LOOPBACK, others, publish, run, token, wait_until


@pytest.fixture(scope="module")
def nodes(make_cluster: Callable[..., Nodes]) -> Iterator[Nodes]:
    cluster = make_cluster()
    yield cluster
    for server in cluster.servers.values():
        server.stop()


def replicas(nodes: Nodes, via: str, source: str, participant_id: str) -> list[dict[str, Any]]:
    listed = nodes[via].client().list_participant_replicas(sourceStageArn=source, participantId=participant_id)
    return listed["replicas"]  # type: ignore[no-any-return]


def test_a_replication_started_and_stopped_through_other_nodes_runs_on_the_source_s_node(nodes: Nodes) -> None:
    api = nodes["a"].client()
    source = api.create_stage(name="source")["stage"]["arn"]
    destination = api.create_stage(name="destination")["stage"]["arn"]

    async def scenario() -> None:
        async with Participant(token(nodes, "b", source, "alice"), ice_addresses=LOOPBACK) as alice:
            await publish(alice)
            host = nodes.host_of(source, via="a")
            starter, stopper = others(host)
            nodes[starter].client().start_participant_replication(
                sourceStageArn=source,
                destinationStageArn=destination,
                participantId=alice.participant_id,
                attributes={"replica": "yes"},
            )
            assert nodes.host_of(destination, via=stopper) == host  # placed beside its source
            async with Participant(token(nodes, starter, destination, "viewer"), ice_addresses=LOOPBACK) as viewer:
                await wait_until(lambda: alice.participant_id in viewer.roster, "the replica in the destination")
                assert viewer.roster[alice.participant_id].attributes["replica"] == "yes"
                subscription = await viewer.subscribe(alice.participant_id)
                assert subscription.location.startswith(nodes[host].url + "/whip/resources/")
                frames = 0
                async for _ in subscription.video_frames():  # alice's frames, forwarded without decoding
                    frames += 1
                    if frames == 5:
                        break
                (replica,) = replicas(nodes, stopper, source, alice.participant_id)
                assert replica["replicationState"] == "ACTIVE" and replica["destinationSessionId"]
                nodes[stopper].client().stop_participant_replication(
                    sourceStageArn=source, destinationStageArn=destination, participantId=alice.participant_id
                )
                await wait_until(lambda: alice.participant_id not in viewer.roster, "the replica to leave")
            await wait_until(
                lambda: replicas(nodes, starter, source, alice.participant_id)[0]["replicationState"] == "STOPPED",
                "the replication to be STOPPED",
            )
        session_id = api.list_stage_sessions(stageArn=source)["stageSessions"][0]["sessionId"]
        events = api.list_participant_events(stageArn=source, sessionId=session_id, participantId=alice.participant_id)
        names = [event["name"] for event in events["events"]]
        assert "REPLICATION_STARTED" in names and "REPLICATION_STOPPED" in names

    run(scenario(), timeout=150)


def test_a_replica_in_a_stage_live_on_another_node_gets_the_frames_over_the_network(nodes: Nodes) -> None:
    api = nodes["a"].client()
    source = api.create_stage(name="source-2")["stage"]["arn"]
    destination = api.create_stage(name="destination-2")["stage"]["arn"]

    async def scenario() -> None:
        async with (
            Participant(token(nodes, "a", source, "alice"), ice_addresses=LOOPBACK) as alice,
            Participant(token(nodes, "a", destination, "bob"), ice_addresses=LOOPBACK) as bob,
        ):
            await publish(alice)
            source_node, destination_node = nodes.host_of(source, via="a"), nodes.host_of(destination, via="a")
            assert source_node != destination_node  # the second stage went to a less loaded node
            third = next(letter for letter in "abc" if letter not in (source_node, destination_node))
            nodes[third].client().start_participant_replication(
                sourceStageArn=source, destinationStageArn=destination, participantId=alice.participant_id
            )
            await wait_until(lambda: alice.participant_id in bob.roster, "the replica in the destination")
            subscription = await bob.subscribe(alice.participant_id)
            assert subscription.location.startswith(nodes[destination_node].url + "/whip/resources/")
            sizes = []
            async for frame in subscription.video_frames():  # alice's frames, passed from node to node
                sizes.append((frame.width, frame.height))
                if len(sizes) == 10:
                    break
            assert len(set(sizes)) == 1 and sizes[0][0] > 0
            (replica,) = replicas(nodes, third, source, alice.participant_id)
            assert replica["replicationState"] == "ACTIVE" and replica["destinationSessionId"]
            destination_session = api.get_stage(arn=destination)["stage"]["activeSessionId"]
            assert replica["destinationSessionId"] == destination_session
            # Thrown out of the destination on its node, through the third: the replication ends on the source's.
            nodes[third].client().disconnect_participant(
                stageArn=destination, participantId=alice.participant_id, reason="no replica here"
            )
            await wait_until(lambda: alice.participant_id not in bob.roster, "the replica to leave")
            await wait_until(
                lambda: replicas(nodes, "a", source, alice.participant_id)[0]["replicationState"] == "STOPPED",
                "the replication to be STOPPED",
            )
            assert alice.participant_id not in bob.roster

    run(scenario(), timeout=120)


def test_the_replica_socket_admits_no_unknown_link(nodes: Nodes) -> None:
    async def scenario() -> None:
        url = nodes["a"].url.replace("http", "ws", 1) + "/cluster/replicas/guessed"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers={SECRET_HEADER: "guessed"}):
                pass
        assert refused.value.response.status_code == 403

    run(scenario(), timeout=30)
