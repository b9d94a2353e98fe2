"""``GET /api/events`` and ``openstage events list``: recent events, and each sink's state and lag."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.events.helpers import SECRET, publish_error
from tests.events.receiver import Receiver
from tests.server import Server


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    healthy, failing = Receiver(), Receiver(failures=1_000_000)
    yield healthy, failing
    healthy.close()
    failing.close()


def events_list(server: Server, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "openstage.cli", "events", "list", "--endpoint-url", server.url, *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", **(env or {})}
    )


def snapshot(server: Server, query: str = "") -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/events{query}", timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_recent_events_and_each_sinks_lag_and_failures(
    backend: str, make_server: Callable[..., Server], receivers: tuple[Receiver, Receiver]
) -> None:
    healthy, failing = receivers
    args = ["--webhook-secret", SECRET, "--webhook-retry-base-seconds", "30"]  # the failing sink retries rarely
    server = make_server(backend, args=["--webhook", healthy.url, "--webhook", failing.url, *args])
    ivs = server.client()
    stage_arn = ivs.create_stage(name="inspect")["stage"]["arn"]
    for i in range(3):
        publish_error(server.url, ivs, stage_arn, f"user{i}")
    delivered = healthy.wait_for(3)
    deadline = time.monotonic() + 15
    while not failing.deliveries:
        assert time.monotonic() < deadline, "the failing webhook was never tried"
        time.sleep(0.05)

    seen = snapshot(server, "?limit=2")
    assert [e["event"] for e in seen["events"]] == delivered[:0:-1]  # newest first, two of them
    assert [e["eventName"] for e in seen["events"]] == ["Participant Publish Error"] * 2
    assert seen["events"][0]["resource"] == stage_arn and seen["events"][0]["detailType"] == "IVS Stage Update"
    newest = seen["latestSequence"]
    assert seen["events"][0]["sequence"] == newest
    up, down = seen["sinks"]
    assert up == {
        "name": f"webhook:{healthy.url}",
        "configured": True,
        "deliveredSequence": newest,
        "lagEvents": 0,
        "lagSeconds": 0.0,
        "failedAttempts": 0,
        "failingSince": None,
        "lastError": "",
        "deadLetters": 0,
    }
    assert down["name"] == f"webhook:{failing.url}" and down["lagEvents"] == 3
    assert down["deliveredSequence"] == newest - 3 and down["lagSeconds"] >= 0
    assert down["failedAttempts"] >= 1 and down["lastError"] == "HTTP 500" and down["failingSince"]

    assert snapshot(server, "?detail-type=IVS%20Composition%20State%20Change")["events"] == []
    assert len(snapshot(server, f"?stage={stage_arn}&limit=10")["events"]) == 3
    assert httpx.get(f"{server.url}/api/events?limit=0", timeout=10).status_code == 400

    printed = events_list(server)
    assert printed.returncode == 0, printed.stderr
    table = printed.stdout
    assert f"webhook:{healthy.url}: up to date" in table
    assert f"webhook:{failing.url}: 3 event(s) behind" in table and "HTTP 500" in table
    assert table.count("IVS Stage Update: Participant Publish Error") == 3
    assert table.index(f"{newest - 2:>6}  ") < table.index(f"{newest:>6}  ")  # oldest first, as in a log
    as_json = events_list(server, "--json", "--limit", "1")
    assert json.loads(as_json.stdout)["events"][0]["event"] == delivered[-1]


def test_the_listing_requires_a_valid_signature(make_server: Callable[..., Server]) -> None:
    server = make_server("sqlite", args=["--access-key", "AKIDLIST", "--secret-key", "right"])
    assert httpx.get(f"{server.url}/api/events", timeout=10).status_code == 403
    refused = events_list(server, env={"AWS_ACCESS_KEY_ID": "AKIDLIST", "AWS_SECRET_ACCESS_KEY": "wrong"})
    assert refused.returncode == 1 and "403" in refused.stderr
    allowed = events_list(server, env={"AWS_ACCESS_KEY_ID": "AKIDLIST", "AWS_SECRET_ACCESS_KEY": "right"})
    assert allowed.returncode == 0, allowed.stderr
    assert "Events (newest sequence 0):\n  none" in allowed.stdout
