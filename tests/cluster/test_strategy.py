"""The placement strategy: least loaded per CPU, counting stages just placed, with stable tie-breaks."""

from __future__ import annotations

import pytest

from openstage.cluster.backend import NodeInfo
from openstage.cluster.strategy import choose


def node(node_id: str, participants: int = 0, cpus: int = 2, cpu_load: float = 0.1) -> NodeInfo:
    return NodeInfo(node_id, f"http://{node_id}", cpus, cpu_load, participants, 0, 0.0)


def test_the_node_with_fewest_participants_per_cpu_wins() -> None:
    nodes = {n.node_id: n for n in (node("a", 8, cpus=2), node("b", 12, cpus=4), node("c", 5, cpus=1))}
    assert choose(nodes, {}).node_id == "b"  # 3 per CPU, against 4 and 5


def test_stages_just_placed_count_before_their_participants_arrive() -> None:
    nodes = {n.node_id: n for n in (node("a"), node("b"))}
    placements = {"stage-1": "a", "stage-2": "a"}
    assert choose(nodes, placements).node_id == "b"
    assert choose(nodes, {**placements, "stage-3": "b", "stage-4": "b", "stage-5": "b"}).node_id == "a"


def test_cpu_load_then_the_node_id_break_ties() -> None:
    assert choose({"a": node("a", cpu_load=0.9), "b": node("b", cpu_load=0.2)}, {}).node_id == "b"
    assert choose({"b": node("b"), "a": node("a")}, {}).node_id == "a"


def test_no_live_node_is_an_error() -> None:
    with pytest.raises(ValueError, match="no live node"):
        choose({}, {})
