"""``openstage events list``: recent events and each sink's delivery state and lag, read from ``/api/events``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from openstage.events.inspection import PATH
from openstage.events.signing import get_json


def list_events(
    endpoint_url: str, region: str | None, limit: int, stage: str | None, detail_type: str | None, as_json: bool
) -> int:
    query = urlencode({k: v for k, v in (("limit", limit), ("stage", stage), ("detail-type", detail_type)) if v})
    url = f"{endpoint_url.rstrip('/')}{PATH}?{query}"
    snapshot = get_json("openstage events list", url, region)
    if snapshot is None:
        return 1
    print(json.dumps(snapshot, indent=2) if as_json else render(snapshot))
    return 0


def render(snapshot: dict[str, Any]) -> str:
    """Two tables for a person: the events, oldest first as in a log, then the sinks."""
    lines = [f"Events (newest sequence {snapshot['latestSequence']}):"]
    events = list(reversed(snapshot["events"]))
    if not events:
        lines.append("  none")
    for event in events:
        name = f" {event['eventName']}" if event["eventName"] else ""
        lines.append(f"  {event['sequence']:>6}  {event['time']}  {event['detailType']}:{name}  {event['resource']}")
    lines.append("Sinks:")
    if not snapshot["sinks"]:
        lines.append("  none configured (see --webhook and --eventbridge-bus)")
    for sink in snapshot["sinks"]:
        lines.append(f"  {sink['name']}: {_state(sink)}")
    return "\n".join(lines)


def _state(sink: dict[str, Any]) -> str:
    if not sink["configured"]:
        state = f"no longer configured; stopped at sequence {sink['deliveredSequence']}"
    elif sink["lagEvents"] == 0:
        state = "up to date"
    else:
        state = f"{sink['lagEvents']} event(s) behind, oldest waiting {sink['lagSeconds']:g} s"
    if sink["failedAttempts"]:
        state += f"; failing since {sink['failingSince']} ({sink['failedAttempts']} attempt(s)): {sink['lastError']}"
    if sink["deadLetters"]:
        state += f"; {sink['deadLetters']} dead letter(s)"
    return state
