"""RTMP ingest in a cluster of three real nodes (docs/cluster.md): an encoder reaching a node that does not host its
stage is relayed to the node that does, an encoder arriving first places the stage on its own node, and kicks sent
to any node reach the encoder wherever it is connected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from openstage.client import Participant
from tests.cluster.conftest import Nodes
from tests.cluster.test_node import LOOPBACK, others, run, token, wait_until
from tests.ingest.encoder import pushing
from tests.ingest.helpers import events, state


@pytest.fixture(scope="module")
def nodes(make_cluster: Callable[..., Nodes]) -> Iterator[Nodes]:
    cluster = make_cluster()
    yield cluster
    for server in cluster.servers.values():
        server.stop()


def rtmp_configuration(api: Any, stage_arn: str) -> dict[str, Any]:
    created = api.create_ingest_configuration(stageArn=stage_arn, ingestProtocol="RTMP", insecureIngest=True)
    return created["ingestConfiguration"]  # type: ignore[no-any-return]


def endpoint(nodes: Nodes, via: str, stage_arn: str) -> str:
    """The stage's RTMP endpoint as node ``via`` names it: that node's own ingest port."""
    url = nodes[via].client().get_stage(arn=stage_arn)["stage"]["endpoints"]["rtmp"]
    assert urlsplit(url).port == nodes[via].rtmp_ports[0]
    return str(url)


def test_an_encoder_reaching_another_node_is_relayed_to_the_stage_s_node_and_kicked_through_a_third(
    nodes: Nodes,
) -> None:
    api = nodes["a"].client()
    arn = api.create_stage(name="relayed")["stage"]["arn"]
    config = rtmp_configuration(api, arn)
    encoder_id = config["participantId"]

    async def scenario() -> None:
        async with Participant(token(nodes, "b", arn, "viewer"), ice_addresses=LOOPBACK) as viewer:
            host = nodes.host_of(arn, via="a")  # placed when the viewer arrived
            reached, commander = others(host)
            with pushing(endpoint(nodes, reached, arn) + config["streamKey"], seconds=120) as encoder:
                await wait_until(lambda: encoder_id in viewer.roster, "the relayed encoder in the roster", 30)
                subscription = await viewer.subscribe(encoder_id)
                assert subscription.location.startswith(nodes[host].url + "/whip/resources/")
                sizes = []
                async for frame in subscription.video_frames():  # decoded on this side: the encoder's pictures
                    sizes.append((frame.width, frame.height))
                    if len(sizes) == 10:
                        break
                assert set(sizes) == {(320, 240)}
                assert nodes.host_of(arn, via=commander) == host  # no second session on the node the encoder reached
                assert await asyncio.to_thread(state, api, config) == "ACTIVE"
                # The configuration is deleted through the third node; the hosting node drops the encoder's
                # relayed connection, and the relay drops the encoder.
                nodes[commander].client().delete_ingest_configuration(arn=config["arn"], force=True)
                await asyncio.wait_for(asyncio.to_thread(encoder.wait), 20)
                await wait_until(lambda: encoder_id not in viewer.roster, "the encoder to leave the roster")
        session_id = api.list_stage_sessions(stageArn=arn)["stageSessions"][0]["sessionId"]
        participant = api.get_participant(stageArn=arn, sessionId=session_id, participantId=encoder_id)
        assert participant["participant"]["protocol"] == "RTMP"
        assert participant["participant"]["state"] == "DISCONNECTED"

    run(scenario(), timeout=150)


def test_an_encoder_arriving_first_places_the_stage_on_its_node(nodes: Nodes) -> None:
    api = nodes["b"].client()
    arn = api.create_stage(name="encoder-first")["stage"]["arn"]
    config = rtmp_configuration(api, arn)
    encoder_id = config["participantId"]

    async def scenario() -> None:
        with pushing(endpoint(nodes, "c", arn) + config["streamKey"], seconds=120) as encoder:
            await wait_until(lambda: state(api, config) == "ACTIVE", "the configuration to turn ACTIVE", 30)
            assert nodes.host_of(arn, via="a") == "c"
            async with Participant(token(nodes, "a", arn, "viewer"), ice_addresses=LOOPBACK) as viewer:
                await wait_until(lambda: encoder_id in viewer.roster, "the encoder in the roster")
                subscription = await viewer.subscribe(encoder_id)
                assert subscription.location.startswith(nodes["c"].url + "/whip/resources/")
                async for frame in subscription.video_frames():
                    assert (frame.width, frame.height) == (320, 240)
                    break
                nodes["a"].client().disconnect_participant(stageArn=arn, participantId=encoder_id, reason="test")
                await asyncio.wait_for(asyncio.to_thread(encoder.wait), 20)
                await wait_until(lambda: encoder_id not in viewer.roster, "the encoder to leave the roster")
        await wait_until(lambda: state(api, config) == "INACTIVE", "the configuration to turn INACTIVE")

    run(scenario(), timeout=150)


def test_an_rtmps_encoder_is_relayed_over_tls_and_the_stage_s_node_refusals_reach_encoders(nodes: Nodes) -> None:
    api = nodes["a"].client()
    arn = api.create_stage(name="relayed-tls")["stage"]["arn"]
    config = api.create_ingest_configuration(stageArn=arn, ingestProtocol="RTMPS")["ingestConfiguration"]
    encoder_id = config["participantId"]

    def publish_errors() -> list[str]:
        return [e["errorCode"] for e in events(api, {"arn": arn}, encoder_id) if e["name"] == "PUBLISH_ERROR"]

    async def scenario() -> None:
        async with Participant(token(nodes, "b", arn, "viewer"), ice_addresses=LOOPBACK) as viewer:
            host = nodes.host_of(arn, via="a")
            reached, _ = others(host)
            endpoints = nodes[reached].client().get_stage(arn=arn)["stage"]["endpoints"]
            with pushing(endpoints["rtmps"] + config["streamKey"], seconds=120):
                await wait_until(lambda: encoder_id in viewer.roster, "the relayed RTMPS encoder in the roster", 30)
                subscription = await viewer.subscribe(encoder_id)
                assert subscription.location.startswith(nodes[host].url + "/whip/resources/")
                async for frame in subscription.video_frames():
                    assert (frame.width, frame.height) == (320, 240)
                    break
                session_id = api.get_stage(arn=arn)["stage"]["activeSessionId"]
                participant = api.get_participant(stageArn=arn, sessionId=session_id, participantId=encoder_id)
                assert participant["participant"]["protocol"] == "RTMPS"  # admitted as RTMPS on the hosting node
            await wait_until(lambda: state(api, config) == "INACTIVE", "the encoder to stop")
            # Plain RTMP with the RTMPS-only key: the hosting node refuses it; the encoder hears so through the relay.
            with pushing(endpoints["rtmp"] + config["streamKey"], seconds=120) as refused:
                assert await asyncio.wait_for(asyncio.to_thread(refused.wait), 30) != 0
            await wait_until(lambda: publish_errors() == ["INVALID_PROTOCOL"], "the refusal recorded on the stage")

    run(scenario(), timeout=150)
