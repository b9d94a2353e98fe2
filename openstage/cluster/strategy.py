"""Where a stage's session goes: the live node with the least load per CPU.

Load counts connected participants and the stages placed on the node (a stage just placed has no
participant yet, and without it a burst of new stages would all land on the same node). The CPU
load breaks ties, then the node id, so every node would pick the same one from the same view.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from openstage.cluster.backend import NodeInfo


def choose(nodes: Mapping[str, NodeInfo], placements: Mapping[str, str]) -> NodeInfo:
    """The node a new stage goes to; ``placements`` (stage -> node) is the current map, fresher than heartbeats."""
    if not nodes:
        raise ValueError("no live node to place a stage on")
    stages = Counter(placements.values())

    def load(node: NodeInfo) -> tuple[float, float, str]:
        units = node.participants + stages[node.node_id]
        return units / max(node.cpus, 1), node.cpu_load, node.node_id

    return min(nodes.values(), key=load)
