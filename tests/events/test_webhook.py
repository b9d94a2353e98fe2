"""Webhook delivery from the durable outbox: signed, in order, retried, dead-lettered, and kept across kill -9.

Events come from WHIP publishes a token does not allow (no media), so these run on every backend.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage.store.models import DeadLetter, SinkDelivery
from tests.events.helpers import SECRET, publish_error
from tests.events.receiver import Receiver, free_port
from tests.seed import run_in_db
from tests.server import ACCOUNT, REGION, Server


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started: list[Receiver] = []
    yield started
    for receiver in started:
        receiver.close()


def webhook_args(url: str, base: float = 0.05, budget: float = 60.0) -> list[str]:
    return [
        *("--webhook", url, "--webhook-secret", SECRET),
        *("--webhook-retry-base-seconds", str(base), "--webhook-retry-budget-seconds", str(budget)),
    ]


def test_a_publish_error_arrives_signed_in_the_ivs_envelope(
    backend: str, make_server: Callable[..., Server], receivers: list[Receiver]
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    server = make_server(backend, args=webhook_args(receiver.url))
    ivs = server.client()
    stage_arn = ivs.create_stage(name="events")["stage"]["arn"]
    participant_id = publish_error(server.url, ivs, stage_arn, "carol")
    [event] = receiver.wait_for(1)
    session_id = ivs.list_stage_sessions(stageArn=stage_arn)["stageSessions"][0]["sessionId"]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["version"], event["source"], event["detail-type"]) == ("0", "aws.ivs", "IVS Stage Update")
    assert (event["account"], event["region"], event["resources"]) == (ACCOUNT, REGION, [stage_arn])
    assert event["detail"] == {
        "session_id": session_id,
        "event_name": "Participant Publish Error",
        "event_time": event["time"],
        "user_id": "carol",
        "participant_id": participant_id,
        "error_code": "INSUFFICIENT_CAPABILITIES",
    }
    assert time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    [delivery] = receiver.deliveries
    assert delivery.signature_ok(SECRET) and not delivery.signature_ok("another secret")
    assert delivery.headers["x-openstage-event-id"] == event["id"]
    assert delivery.headers["content-type"] == "application/json"


def test_a_webhook_that_fails_for_a_while_gets_everything_once_and_in_order(
    backend: str, make_server: Callable[..., Server], receivers: list[Receiver]
) -> None:
    receiver = Receiver(failures=4)
    receivers.append(receiver)
    server = make_server(backend, args=webhook_args(receiver.url))
    ivs = server.client()
    stage_arn = ivs.create_stage(name="events")["stage"]["arn"]
    participants = [publish_error(server.url, ivs, stage_arn, f"user{i}") for i in range(3)]
    events = receiver.wait_for(3)
    assert [e["detail"]["participant_id"] for e in events] == participants
    assert len({e["id"] for e in events}) == 3
    time.sleep(0.3)
    assert len(receiver.accepted()) == 3  # nothing delivered again once acknowledged
    first = receiver.deliveries[0].event["id"]
    assert [d.event["id"] for d in receiver.deliveries[:5]] == [first] * 5  # event 2 waited for event 1


def test_events_not_yet_delivered_survive_kill_9(
    backend: str, make_server: Callable[..., Server], receivers: list[Receiver]
) -> None:
    port = free_port()  # nobody listens here yet: every attempt fails
    server = make_server(backend, args=webhook_args(f"http://127.0.0.1:{port}/hook", base=30))
    ivs = server.client()
    stage_arn = ivs.create_stage(name="events")["stage"]["arn"]
    participants = [publish_error(server.url, ivs, stage_arn, f"user{i}") for i in range(2)]
    server.stop(signal.SIGKILL)
    receiver = Receiver(port)
    receivers.append(receiver)
    server.start()
    events = receiver.wait_for(2)
    assert [e["detail"]["participant_id"] for e in events] == participants
    assert all(d.signature_ok(SECRET) for d in receiver.deliveries)


def test_an_event_past_its_retry_budget_becomes_a_dead_letter_and_the_next_goes_on(
    backend: str, make_server: Callable[..., Server], receivers: list[Receiver]
) -> None:
    receiver = Receiver(failures=1_000_000)
    receivers.append(receiver)
    server = make_server(backend, args=webhook_args(receiver.url, base=0.05, budget=0.3))
    ivs = server.client()
    stage_arn = ivs.create_stage(name="events")["stage"]["arn"]
    participants = [publish_error(server.url, ivs, stage_arn, f"user{i}") for i in range(2)]
    sink = f"webhook:{receiver.url}"

    async def dead(session: AsyncSession) -> list[DeadLetter]:
        return list(await session.scalars(select(DeadLetter).where(DeadLetter.sink == sink).order_by(DeadLetter.pk)))

    deadline = time.monotonic() + 10
    while len(letters := run_in_db(server, dead)) < 2:
        assert time.monotonic() < deadline, f"{len(letters)} dead letters"
        time.sleep(0.1)
    attempted = [d.event["detail"]["participant_id"] for d in receiver.deliveries]
    assert attempted == sorted(attempted, key=participants.index) and set(attempted) == set(participants)
    assert [letter.event_id for letter in letters] == list(dict.fromkeys(d.event["id"] for d in receiver.deliveries))
    assert all(letter.attempts >= 2 and letter.last_error == "HTTP 500" for letter in letters)
    state = run_in_db(server, lambda session: session.get(SinkDelivery, sink))
    assert state is not None and state.attempts == 0
