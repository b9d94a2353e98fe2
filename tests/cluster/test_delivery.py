"""Each sink is delivered by one node at a time: two nodes' dispatchers on one PostgreSQL outbox and one Redis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from openstage.cluster.delivery import LeasedDispatcher
from openstage.cluster.node import Cluster
from openstage.events.dispatcher import RetryPolicy
from openstage.events.outbox import add_to_outbox
from openstage.events.records import envelope
from openstage.events.webhook import WebhookSink
from openstage.store.db import Database
from openstage.store.models import utcnow
from tests.cluster.conftest import Backends
from tests.events.receiver import Receiver
from tests.seed import arn
from tests.server import create_postgres_database, drop_postgres_database

LEASE_SECONDS = 0.6


@pytest.fixture
def database_url(cluster_services: None) -> Iterator[str]:
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


async def write_events(db: Database, cluster: Cluster, count: int) -> None:
    stage = arn("stage")
    for n in range(count):
        async with db.write() as session:
            await add_to_outbox(session, envelope("IVS Stage Update", stage, {"n": n}, utcnow()))
    cluster.wakeup.notify()


async def wait_for(receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(receiver.accepted()) < count:
        assert time.monotonic() < deadline, f"{len(receiver.accepted())} of {count} events delivered"
        await asyncio.sleep(0.05)


def test_one_node_delivers_each_sink_and_another_takes_over_when_it_goes(database_url: str) -> None:
    receiver = Receiver()

    async def main() -> None:
        db = Database(database_url)
        await db.migrate()
        backends = Backends("redis")
        async with backends as first:
            clusters = [
                Cluster(first, db, "one", "http://127.0.0.1:1", 0.2, LEASE_SECONDS),
                Cluster(await backends.another(), db, "two", "http://127.0.0.1:2", 0.2, LEASE_SECONDS),
            ]
            policy = RetryPolicy(0.1, 60)
            dispatchers = [
                LeasedDispatcher(db, cluster, [WebhookSink(receiver.url, "secret")], policy) for cluster in clusters
            ]
            for cluster, dispatcher in zip(clusters, dispatchers, strict=True):
                await cluster.wakeup.start()
                await dispatcher.start()
            await write_events(db, clusters[1], 5)  # written on node two, delivered by node one, the lease holder
            await wait_for(receiver, 5)
            await dispatchers[0].stop()  # node one goes: node two takes the lease over
            await write_events(db, clusters[0], 5)
            await wait_for(receiver, 10)
            await asyncio.sleep(3 * LEASE_SECONDS)
            await dispatchers[1].stop()
        await db.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        receiver.close()
    delivered = [event["detail"]["n"] for event in receiver.accepted()]
    assert delivered == [0, 1, 2, 3, 4] * 2, "each event once, in outbox order"
    assert max(Counter(event["id"] for event in receiver.accepted()).values()) == 1


def test_a_commit_on_one_node_wakes_the_others_and_does_not_echo(backend_kind: str) -> None:
    async def main() -> None:
        backends = Backends(backend_kind)
        async with backends as first:
            one = Cluster(first, Database("sqlite+aiosqlite://"), "one", "http://127.0.0.1:1", 1, 5)
            two = Cluster(await backends.another(), Database("sqlite+aiosqlite://"), "two", "http://127.0.0.1:2", 1, 5)
            for cluster in (one, two):
                await cluster.wakeup.start()
            here, there = one.wakeup.listen(), two.wakeup.listen()
            one.wakeup.notify()
            assert here.is_set()
            await asyncio.wait_for(there.wait(), 5)
            here.clear()
            there.clear()
            await asyncio.sleep(0.3)
            assert not here.is_set() and not there.is_set()

    asyncio.run(asyncio.wait_for(main(), 20))
