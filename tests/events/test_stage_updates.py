"""A real participant publishes and leaves: the webhook, the live stream and ``events tail`` all see it.

SQLite only: the media plane does not depend on the database backend (test_webhook.py covers both).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack
from tests.events.helpers import SECRET
from tests.events.receiver import Receiver
from tests.server import Server

EXPECTED = ["Participant Published", "Participant Unpublished"]


class StreamReader:
    """Reads the server-sent events stream in a thread, as a console would."""

    def __init__(self, url: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        self._url = url
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(10), "the event stream did not open"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self._url) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                self.ready.set()
                event_id = ""
                for line in response.iter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        self.events.append((event_id, json.loads(line[6:])))
        except httpx.ReadError:
            pass  # close() cut the connection

    def close(self) -> None:
        self._client.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server], receiver: Receiver) -> Server:
    args = ["--ice-addresses", "127.0.0.1", "--webhook", receiver.url, "--webhook-secret", SECRET]
    return make_server("sqlite", args=args)


def test_publish_and_leave_reach_the_webhook_the_stream_and_events_tail(
    media_server: Server, receiver: Receiver
) -> None:
    ivs = media_server.client()
    stage_arn = ivs.create_stage(name="events")["stage"]["arn"]
    token = ivs.create_participant_token(stageArn=stage_arn, userId="alice", capabilities=["PUBLISH"])
    token = token["participantToken"]
    stream = StreamReader(f"{media_server.url}/api/events/stream?stage={stage_arn}")
    tail = subprocess.Popen(
        [sys.executable, "-m", "openstage.cli", "events", "tail", "--endpoint-url", media_server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # no AWS credentials: the dev-mode server takes unsigned requests
    )
    try:
        assert tail.stderr is not None and tail.stderr.readline().startswith("following ")

        async def publish_and_leave() -> None:
            async with Participant(token["token"], ice_addresses=["127.0.0.1"]) as participant:
                await participant.publish(video=PatternVideoTrack(160, 120))
                await asyncio.sleep(0.3)
                await participant.leave()

        asyncio.run(asyncio.wait_for(publish_and_leave(), 30))
        events = receiver.wait_for(2)
        assert [e["detail"]["event_name"] for e in events] == EXPECTED
        session_id = ivs.list_stage_sessions(stageArn=stage_arn)["stageSessions"][0]["sessionId"]
        for event in events:
            assert event["resources"] == [stage_arn] and event["detail-type"] == "IVS Stage Update"
            assert event["detail"] == {
                "session_id": session_id,
                "event_name": event["detail"]["event_name"],
                "event_time": event["time"],
                "user_id": "alice",
                "participant_id": token["participantId"],
            }
        assert all(d.signature_ok(SECRET) for d in receiver.deliveries)
        tailed = [json.loads(tail.stdout.readline()) for _ in EXPECTED] if tail.stdout else []
        assert tailed == events
    finally:
        tail.terminate()
        tail.wait(10)
        stream.close()
    assert [event for _, event in stream.events] == events
    ids = [int(event_id) for event_id, _ in stream.events]
    assert ids == sorted(ids)
    resumed = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
    with resumed.stream("GET", f"{media_server.url}/api/events/stream", headers={"Last-Event-ID": str(ids[0])}) as r:
        lines = r.iter_lines()
        data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data[6:]) == events[1]  # resumes after the id it was given
    resumed.close()
