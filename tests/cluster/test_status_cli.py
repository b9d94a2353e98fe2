"""``openstage cluster status`` against real nodes: a node alone is a cluster of one; a cluster lists every node."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from openstage.client import Participant
from tests.cluster.conftest import Nodes
from tests.server import Server


def status(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "openstage.cli", "cluster", "status", "--endpoint-url", url, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_node_alone_shows_itself_and_the_stage_placed_on_it(make_server: Callable[..., Server]) -> None:
    server = make_server(args=["--ice-addresses", "127.0.0.1"])
    ivs = server.client()
    arn = ivs.create_stage(name="alone")["stage"]["arn"]
    token = ivs.create_participant_token(stageArn=arn)["participantToken"]["token"]

    async def join_and_look() -> str:
        async with Participant(token, ice_addresses=["127.0.0.1"]):
            result = await asyncio.to_thread(status, server.url)
            assert result.returncode == 0, result.stderr
            return result.stdout

    shown = asyncio.run(asyncio.wait_for(join_and_look(), 60))
    assert shown.startswith("1 live node(s)")
    assert server.url in shown and f"    {arn}" in shown


def test_a_cluster_lists_every_node_as_json(make_cluster: Callable[..., Nodes]) -> None:
    nodes = make_cluster("ab")
    result = status(nodes["b"].url, "--json")
    assert result.returncode == 0, result.stderr
    snapshot: dict[str, Any] = json.loads(result.stdout)
    assert snapshot["answeredBy"] == nodes.node_id("b")
    listed = {node["node_id"]: node for node in snapshot["nodes"]}
    assert set(listed) == {nodes.node_id("a"), nodes.node_id("b")}
    assert listed[nodes.node_id("a")]["url"] == nodes["a"].url
    assert all(node["cpus"] >= 1 and node["stages"] == 0 and node["stageArns"] == [] for node in listed.values())


def test_an_unreachable_node_is_explained() -> None:
    result = status("http://127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
