"""Compositions in a cluster of three real nodes (docs/cluster.md): they run on the node hosting the stage's media,
whichever node StartComposition and StopComposition were sent to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openstage.client import Participant
from openstage.cluster.node import IDLE_PLACEMENT_SECONDS
from tests.cluster.conftest import Nodes
from tests.cluster.test_node import LOOPBACK, others, publish, run, token, wait_until


@pytest.fixture(scope="module")
def nodes(make_cluster: Callable[..., Nodes]) -> Iterator[Nodes]:
    cluster = make_cluster()
    yield cluster
    for server in cluster.servers.values():
        server.stop()


def bucket(nodes: Nodes, letter: str, prefix: str) -> Path:
    return nodes[letter].data_dir / "buckets" / "composites" / prefix


def test_a_composition_runs_on_the_stage_s_node_whichever_node_starts_and_stops_it(nodes: Nodes) -> None:
    api = nodes["a"].client()
    arn = api.create_stage(name="composed")["stage"]["arn"]
    storage_arn = api.create_storage_configuration(s3={"bucketName": "composites"})["storageConfiguration"]["arn"]
    video = {"width": 320, "height": 180, "framerate": 10}
    encoder_arn = api.create_encoder_configuration(video=video)["encoderConfiguration"]["arn"]
    outcome: dict[str, Any] = {}

    async def scenario() -> None:
        async with Participant(token(nodes, "a", arn, "alice"), ice_addresses=LOOPBACK) as alice:
            await publish(alice)
            host = nodes.host_of(arn, via="a")
            starter, stopper = others(host)
            destination = {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}}
            started = nodes[starter].client().start_composition(stageArn=arn, destinations=[destination])
            composition_arn = started["composition"]["arn"]

            def composition() -> dict[str, Any]:
                return nodes[stopper].client().get_composition(arn=composition_arn)["composition"]  # type: ignore[no-any-return]

            await wait_until(lambda: composition()["state"] == "ACTIVE", "the composition to be ACTIVE", 60)
            prefix = composition()["destinations"][0]["detail"]["s3"]["recordingPrefix"]
            segments = bucket(nodes, host, prefix) / "media" / "hls"
            await wait_until(lambda: any(segments.rglob("*.mp4")), "HLS segments in the hosting node's bucket", 60)
            nodes[stopper].client().stop_composition(arn=composition_arn)
            await wait_until(lambda: composition()["state"] == "STOPPED", "the composition to be STOPPED", 60)
            outcome.update(host=host, starter=starter, stopper=stopper, prefix=prefix)

    run(scenario(), timeout=150)
    host, prefix = outcome["host"], outcome["prefix"]
    ended = json.loads((bucket(nodes, host, prefix) / "events" / "recording-ended.json").read_text())
    assert ended["recording_status"] == "RECORDING_ENDED" and ended["stage_arn"] == arn
    assert ended["media"]["hls"]["duration_ms"] > 0
    for elsewhere in (outcome["starter"], outcome["stopper"]):  # nothing ran on the nodes that were asked
        assert not bucket(nodes, elsewhere, prefix).exists()


def test_a_composition_of_an_empty_stage_keeps_the_stage_on_its_node_for_the_first_participant(nodes: Nodes) -> None:
    api = nodes["b"].client()
    arn = api.create_stage(name="composed-first")["stage"]["arn"]
    storage_arn = api.create_storage_configuration(s3={"bucketName": "composites"})["storageConfiguration"]["arn"]
    video = {"width": 320, "height": 180, "framerate": 10}
    encoder_arn = api.create_encoder_configuration(video=video)["encoderConfiguration"]["arn"]
    destination = {"s3": {"storageConfigurationArn": storage_arn, "encoderConfigurationArns": [encoder_arn]}}
    composition_arn = api.start_composition(stageArn=arn, destinations=[destination])["composition"]["arn"]
    host = nodes.host_of(arn, via="c")  # placed by the supervisor that opened the composition
    # Longer than a placement without a session is kept (IDLE_PLACEMENT_SECONDS): the composition keeps it.
    time.sleep(IDLE_PLACEMENT_SECONDS + 3)
    assert nodes.host_of(arn, via="a") == host

    async def scenario() -> None:
        async with Participant(token(nodes, others(host)[0], arn, "alice"), ice_addresses=LOOPBACK) as alice:
            assert (await publish(alice)).startswith(nodes[host].url + "/whip/resources/")
            await wait_until(
                lambda: api.get_composition(arn=composition_arn)["composition"]["state"] == "ACTIVE", "ACTIVE", 60
            )
        api.stop_composition(arn=composition_arn)
        await wait_until(
            lambda: api.get_composition(arn=composition_arn)["composition"]["state"] == "STOPPED", "STOPPED", 60
        )

    run(scenario(), timeout=120)
