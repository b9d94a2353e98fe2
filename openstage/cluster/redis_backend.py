"""The backend interface on Redis, for several nodes: every key starts with ``openstage:{cluster name}:``.

A node's heartbeat is a key that expires, so a node killed with -9 is dead once it expires; placements
live in one hash and outlast their node until a live node reaps them (see :mod:`openstage.cluster.node`).
Compare-and-set steps are Lua scripts, which Redis runs atomically.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from openstage.cluster.backend import ClusterUnavailable, MessageHandler, NodeInfo, dispatch

log = logging.getLogger("openstage.cluster")

RECONNECT_SECONDS = 0.5

_UNPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBackend:
    def __init__(self, url: str, cluster_name: str) -> None:
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = f"openstage:{cluster_name}:"
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._unplace = self._client.register_script(_UNPLACE)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._release = self._client.register_script(_RELEASE)

    def _key(self, name: str) -> str:
        return self._prefix + name

    async def connect(self) -> None:
        """Fails at start-up, with the reason, if Redis cannot be reached."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            where = self._client.connection_pool.connection_kwargs
            address = where.get("path") or f"{where.get('host')}:{where.get('port')}"  # never the password
            raise ClusterUnavailable(f"cannot reach Redis at {address}: {error}") from None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await self._pubsub.aclose()
        await self._client.aclose()

    async def heartbeat(self, node: NodeInfo, ttl: float) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(self._key(f"node:{node.node_id}"), node.to_json(), px=int(ttl * 1000))
            pipe.sadd(self._key("nodes"), node.node_id)
            await pipe.execute()

    async def forget_node(self, node_id: str) -> None:
        await self._client.delete(self._key(f"node:{node_id}"))
        await self._client.srem(self._key("nodes"), node_id)

    async def nodes(self) -> dict[str, NodeInfo]:
        ids = sorted(str(node_id) for node_id in await self._client.smembers(self._key("nodes")))
        if not ids:
            return {}
        values = await self._client.mget([self._key(f"node:{node_id}") for node_id in ids])
        gone = [node_id for node_id, value in zip(ids, values, strict=True) if value is None]
        if gone:
            await self._client.srem(self._key("nodes"), *gone)
        return {node_id: NodeInfo.from_json(value) for node_id, value in zip(ids, values, strict=True) if value}

    async def placements(self) -> dict[str, str]:
        placed = await self._client.hgetall(self._key("placements"))
        return {str(stage_arn): str(node_id) for stage_arn, node_id in placed.items()}

    async def placement(self, stage_arn: str) -> str | None:
        found = await self._client.hget(self._key("placements"), stage_arn)
        return None if found is None else str(found)

    async def claim(self, stage_arn: str, node_id: str) -> bool:
        return bool(await self._client.hsetnx(self._key("placements"), stage_arn, node_id))

    async def unplace(self, stage_arn: str, node_id: str) -> bool:
        return bool(await self._unplace(keys=[self._key("placements")], args=[stage_arn, node_id]))

    async def acquire(self, name: str, holder: str, ttl: float) -> bool:
        return bool(await self._acquire(keys=[self._key(f"lease:{name}")], args=[holder, int(ttl * 1000)]))

    async def release(self, name: str, holder: str) -> None:
        await self._release(keys=[self._key(f"lease:{name}")], args=[holder])

    async def adopt(self, name: str, proposed: str) -> str:
        key = self._key(f"value:{name}")
        await self._client.set(key, proposed, nx=True)
        return str(await self._client.get(key))

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._client.publish(self._key(channel), json.dumps(message, separators=(",", ":")))

    async def subscribe(self, channel: str, handler: MessageHandler) -> None:
        key = self._key(channel)
        if key not in self._handlers:
            await self._pubsub.subscribe(key)
        self._handlers.setdefault(key, []).append(handler)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="cluster-pubsub")

    async def _read(self) -> None:
        """Hands each message to its handlers in a task of its own, so a slow command holds up no other."""
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as error:
                log.warning("cluster messages interrupted (%s); reconnecting", error)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            for handler in self._handlers.get(message["channel"], []):
                dispatch(handler, payload, self._deliveries)
