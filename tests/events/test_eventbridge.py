"""The EventBridge sink against a real EventBridge-compatible endpoint (moto_server), read back through a rule target.

A rule on the bus matches IVS's source and detail-type and targets an SQS queue: what the queue
receives is what an existing EventBridge rule of a user's would see.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.events.helpers import SECRET, publish_error
from tests.events.receiver import Receiver
from tests.moto import CREDENTIALS, MotoServer
from tests.server import Server
from tests.storage.proxy import FlakyProxy

PATTERN = {"source": ["aws.ivs"], "detail-type": ["IVS Stage Update"]}


def route_bus_to_queue(moto: MotoServer, bus: str) -> str:
    """Creates ``bus`` with a rule matching IVS's stage updates into a new queue; returns the queue URL."""
    events, sqs = moto.client("events"), moto.client("sqs")
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName=f"{bus}-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"{bus}-ivs", EventBusName=bus, EventPattern=json.dumps(PATTERN))
    events.put_targets(Rule=f"{bus}-ivs", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return str(queue_url)


def receive(moto: MotoServer, queue_url: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    sqs = moto.client("sqs")
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in messages.get("Messages", []):
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert len(received) == count, f"{len(received)} of {count} events reached the rule's target"
    return received


def eventbridge_server(make_server: Callable[..., Server], endpoint: str, bus: str, receiver: Receiver) -> Server:
    args = [
        *("--eventbridge-bus", bus, "--eventbridge-endpoint-url", endpoint),
        *("--webhook", receiver.url, "--webhook-secret", SECRET),
        *("--webhook-retry-base-seconds", "0.05"),
    ]
    return make_server("sqlite", args=args, env=CREDENTIALS)


def wait_for_output(server: Server, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in "".join(server.output):
        assert time.monotonic() < deadline, f"the server never logged {text!r}"
        time.sleep(0.1)


@pytest.fixture
def receiver() -> Any:
    webhook = Receiver()
    yield webhook
    webhook.close()


def test_events_reach_an_eventbridge_rule_target_as_ivs_sends_them(
    make_server: Callable[..., Server], moto_server: MotoServer, receiver: Receiver
) -> None:
    queue_url = route_bus_to_queue(moto_server, "ivs-events")
    server = eventbridge_server(make_server, moto_server.url, "ivs-events", receiver)
    ivs = server.client()
    stage_arn = ivs.create_stage(name="eventbridge")["stage"]["arn"]
    participants = [publish_error(server.url, ivs, stage_arn, user) for user in ("ann", "bob")]

    received = receive(moto_server, queue_url, 2)
    sent = receiver.wait_for(2)  # the same events, as the webhook got them
    # EventBridge assigns its own id; everything a rule can match on is as openstage made it.
    for event, original in zip(received, sent, strict=True):
        assert event["source"] == "aws.ivs" and event["detail-type"] == "IVS Stage Update"
        assert event["resources"] == [stage_arn]
        assert event["time"] == original["time"]
        assert event["detail"] == original["detail"]
    assert [e["detail"]["participant_id"] for e in received] == participants
    assert {e["detail"]["event_name"] for e in received} == {"Participant Publish Error"}


def test_an_unreachable_endpoint_is_retried_until_it_answers_and_nothing_is_lost_or_reordered(
    make_server: Callable[..., Server], moto_server: MotoServer, receiver: Receiver
) -> None:
    queue_url = route_bus_to_queue(moto_server, "outage")
    endpoint = FlakyProxy(moto_server.port)
    endpoint.fail()
    try:
        server = eventbridge_server(make_server, endpoint.url, "outage", receiver)
        ivs = server.client()
        stage_arn = ivs.create_stage(name="outage")["stage"]["arn"]
        participants = [publish_error(server.url, ivs, stage_arn, f"user{i}") for i in range(3)]
        receiver.wait_for(3)  # the webhook is not held up by the failing EventBridge sink
        wait_for_output(server, "to eventbridge:outage failed")
        endpoint.recover()
        received = receive(moto_server, queue_url, 3)
        assert [e["detail"]["participant_id"] for e in received] == participants
        time.sleep(1.0)  # anything sent twice would have arrived by now
        assert not moto_server.client("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages")
    finally:
        endpoint.close()
