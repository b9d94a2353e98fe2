"""Replication into a stage on another node: the source's encoded frames pass over a WebSocket (docs/cluster.md).

The node hosting the source stage runs the replication (replicator.py). When another node hosts the destination
stage, that node holds the replica: the command ``replication.replica.open`` makes it publish a local publication
in the destination stage (the replica joins there, with its events), and the source's node opens a WebSocket to
``/cluster/replicas/{link}`` on it with the one-time secret the command carried (commands travel over the
cluster's Redis, which the nodes trust), then sends every frame its taps on the source produce, encoded as it
came. The destination node asks for keyframes on the same socket. The socket closing from the destination's
side (the replica kicked, its stage deleted, its node stopping) ends the replication on the source's node.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import av
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openstage import ids
from openstage.cluster import Cluster
from openstage.sfu import MediaEngine
from openstage.sfu.local import LocalPublication
from openstage.stage import EVERYONE, ClientInfo, StageRuntime
from openstage.tokens import ParticipantClaims

log = logging.getLogger("openstage.replication")

SECRET_HEADER = "x-openstage-replica-secret"
KEYFRAME = "keyframe"
KINDS = ("audio", "video")
# kind index, keyframe flag, pts, time base numerator and denominator; the frame's bytes follow
FRAME_HEADER = struct.Struct(">BBqII")
QUEUE_FRAMES = 512  # about 10 s of audio and video: a socket further behind than that loses frames
OPEN_TIMEOUT = 10.0
POLICY_VIOLATION = 1008


def replica_claims(
    destination: str, participant_id: str, user_id: str, attributes: dict[str, str]
) -> ParticipantClaims:
    """The replica's identity in the destination stage: the source participant's, publishing only."""
    now = datetime.now(UTC)
    return ParticipantClaims(
        participant_id=participant_id,
        stage_arn=destination,
        topic=ids.resource_id(destination),
        user_id=user_id,
        can_publish=True,
        can_subscribe=False,
        attributes=attributes,
        issued_at=now,
        expires_at=now + timedelta(hours=24),
        self_signed=False,
    )


def encode_frame(kind: str, packet: av.Packet, keyframe: bool) -> bytes:
    time_base = packet.time_base or Fraction(1, 90000)
    header = FRAME_HEADER.pack(KINDS.index(kind), keyframe, packet.pts or 0, time_base.numerator, time_base.denominator)
    return header + bytes(packet)


def decode_frame(data: bytes) -> tuple[str, av.Packet, bool]:
    kind, keyframe, pts, numerator, denominator = FRAME_HEADER.unpack_from(data)
    packet = av.Packet(data[FRAME_HEADER.size :])
    packet.pts = packet.dts = pts
    packet.time_base = Fraction(numerator, denominator)
    return KINDS[kind], packet, bool(keyframe)


# --- the destination's node ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Hosted:
    secret: str
    destination: str
    participant_id: str
    publication: LocalPublication
    socket: WebSocket | None = None
    keyframes: asyncio.Queue[None] = field(default_factory=lambda: asyncio.Queue(maxsize=1))


class ReplicaHost:
    """Holds the replicas of other nodes' participants in the stages this node hosts."""

    def __init__(self, runtime: StageRuntime, engine: MediaEngine, cluster: Cluster) -> None:
        self._runtime = runtime
        self._engine = engine
        self._hosted: dict[str, _Hosted] = {}
        cluster.register("replication.replica.open", self._open)
        cluster.register("replication.replica.close", self._close)
        runtime.add_kick_listener(self._kicked)

    def routes(self) -> list[WebSocketRoute]:
        return [WebSocketRoute("/cluster/replicas/{link}", self._serve)]

    async def stop(self) -> None:
        """Ends every replica held here (the source's node ends each replication); before the runtime stops."""
        for link in list(self._hosted):
            await self._end(link)

    async def _open(self, args: dict[str, Any]) -> str:
        """The replica joins the destination stage and publishes; returns its session there."""
        destination, participant_id = args["destination"], args["participant_id"]
        held: list[_Hosted] = []

        def ask() -> None:  # a subscriber in the destination needs a keyframe: the source's node is asked
            if held:
                _ask(held[0])

        publication = await self._engine.publish_local(destination, participant_id, args["codecs"], ask)
        hosted = _Hosted(args["secret"], destination, participant_id, publication)
        held.append(hosted)
        try:
            claims = replica_claims(destination, participant_id, args["user_id"], args["attributes"])
            await self._runtime.publish_started(claims, ClientInfo(replica=True))
        except BaseException:
            await publication.close("the replica could not join")
            raise
        self._hosted[args["link"]] = hosted
        info = self._runtime.participant_info(destination, participant_id)
        return info.session_id if info is not None else ""

    async def _close(self, args: dict[str, Any]) -> None:
        await self._end(args["link"])

    async def _end(self, link: str) -> None:
        hosted = self._hosted.pop(link, None)
        if hosted is None:
            return
        if hosted.socket is not None:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await hosted.socket.close()
        await hosted.publication.close("replication ended")
        await self._runtime.publish_stopped(hosted.destination, hosted.participant_id)

    async def _kicked(self, stage_arn: str, participant_id: str) -> None:
        for link, hosted in list(self._hosted.items()):
            if hosted.destination == stage_arn and participant_id in (hosted.participant_id, EVERYONE):
                await self._end(link)

    async def _serve(self, websocket: WebSocket) -> None:
        link = websocket.path_params["link"]
        hosted = self._hosted.get(link)
        given = websocket.headers.get(SECRET_HEADER, "")
        if hosted is None or not hmac.compare_digest(given.encode(), hosted.secret.encode()):
            await websocket.close(POLICY_VIOLATION, "unknown replica link")
            return
        await websocket.accept()
        hosted.socket = websocket
        asking = asyncio.create_task(_send_keyframe_requests(websocket, hosted))
        try:
            while True:
                kind, packet, keyframe = decode_frame(await websocket.receive_bytes())
                hosted.publication.deliver(kind, packet, keyframe)
        except (WebSocketDisconnect, RuntimeError, IndexError, struct.error):  # gone, or not a frame
            pass
        finally:
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
            if self._hosted.get(link) is hosted:
                await self._end(link)


def _ask(hosted: _Hosted) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        hosted.keyframes.put_nowait(None)


async def _send_keyframe_requests(websocket: WebSocket, hosted: _Hosted) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await hosted.keyframes.get()
            await websocket.send_text(KEYFRAME)


# --- the source's node -----------------------------------------------------------------------------------


class RemoteFeed:
    """The source's end of a replica on another node: its taps' frames, sent on the socket in order."""

    def __init__(self, socket: ClientConnection, on_keyframe: Callable[[], None], on_lost: Callable[[], None]) -> None:
        self._socket = socket
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_FRAMES)
        self._closing = False
        self._on_lost = on_lost
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive(on_keyframe))]

    @classmethod
    async def connect(
        cls, node_url: str, link: str, secret: str, on_keyframe: Callable[[], None], on_lost: Callable[[], None]
    ) -> RemoteFeed:
        url = node_url.replace("http", "ws", 1) + f"/cluster/replicas/{link}"
        socket = await asyncio.wait_for(connect(url, additional_headers={SECRET_HEADER: secret}), OPEN_TIMEOUT)
        return cls(socket, on_keyframe, on_lost)

    def sink(self, kind: str) -> _Sink:
        return _Sink(self, kind)

    def push(self, kind: str, packet: av.Packet, keyframe: bool) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a socket this far behind loses frames, as a slow subscriber
            self._queue.put_nowait(encode_frame(kind, packet, keyframe))

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._socket.close()

    async def _send(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._socket.send(await self._queue.get())

    async def _receive(self, on_keyframe: Callable[[], None]) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self._socket:
                if message == KEYFRAME:
                    on_keyframe()
        if not self._closing:
            self._on_lost()


@dataclass(eq=False)
class _Sink:
    """A tap's sink: hands each frame to the feed with its kind."""

    feed: RemoteFeed
    kind: str

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self.feed.push(self.kind, packet, keyframe)
