"""``openstage cluster status``: nodes, their load and their stages, read from any node's ``/api/cluster``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from openstage.cluster.status import PATH
from openstage.events.signing import get_json


def status(endpoint_url: str, region: str | None, as_json: bool) -> int:
    snapshot = get_json("openstage cluster status", endpoint_url.rstrip("/") + PATH, region)
    if snapshot is None:
        return 1
    print(json.dumps(snapshot, indent=2) if as_json else render(snapshot))
    return 0


def render(snapshot: dict[str, Any]) -> str:
    """A table of nodes for a person, each followed by its stages."""
    nodes = snapshot["nodes"]
    lines = [f"{len(nodes)} live node(s), as {snapshot['answeredBy']} sees them:"]
    lines.append(f"  {'NODE':<24} {'URL':<32} {'CPUS':>4} {'LOAD':>5} {'PARTICIPANTS':>12} {'STAGES':>6}  SINCE")
    for node in nodes:
        since = datetime.fromtimestamp(node["started_at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        lines.append(
            f"  {node['node_id']:<24} {node['url']:<32} {node['cpus']:>4} {node['cpu_load']:>5.2f} "
            f"{node['participants']:>12} {node['stages']:>6}  {since}"
        )
        lines.extend(f"    {arn}" for arn in node["stageArns"])
    dead = snapshot["deadNodeStages"]
    if dead:
        lines.append("Stages of dead nodes, about to be released:")
        lines.extend(f"  {arn} (was on {node_id})" for arn, node_id in dead.items())
    return "\n".join(lines)
