"""One encoder's RTMP connection: the NetConnection and NetStream commands of a publisher.

An encoder connects, creates a stream and publishes a stream key on it, then sends metadata,
audio and video messages. This class answers the commands as RTMP servers do and hands
everything about the publication to a :class:`PublishHandler`; it decides nothing itself.
A handler may also hand the encoder over to another node (:class:`HandOver`, openstage/ingest/relay.py):
the connection keeps what the encoder sent until its publish, for the relay to replay.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Protocol

from openstage.ingest import amf
from openstage.ingest.chunks import ChunkReader, ChunkWriter, Message, ProtocolError, handshake

log = logging.getLogger("openstage.ingest")

ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 3, 4, 5, 6
AUDIO, VIDEO, DATA_AMF0, COMMAND_AMF3, COMMAND_AMF0 = 8, 9, 18, 17, 20
SET_CHUNK_SIZE = 1
# Chunk streams the server writes on: protocol control, commands, per-stream status.
CONTROL_CSID, COMMAND_CSID, STATUS_CSID = 2, 3, 5
SERVER_CHUNK_SIZE = 4096
WINDOW_SIZE = 2_500_000
STREAM_ID = 1  # the one stream createStream hands out
HANDSHAKE_TIMEOUT = 10.0
# An encoder sends tens of messages a second; one silent this long is gone, whatever TCP says.
IDLE_TIMEOUT = 20.0
CONNECT_INFO = {"fmsVer": "FMS/3,5,7,7009", "capabilities": 31.0, "mode": 1.0}
# What an encoder may send before its publish (a few kB of commands in practice): kept for a relay, so bounded.
MAX_BEFORE_PUBLISH = 1 << 20


class PublishRefused(Exception):
    """The handler refuses the publish: the encoder is told ``description`` and disconnected."""

    def __init__(self, description: str, code: str = "NetStream.Publish.BadName") -> None:
        super().__init__(description)
        self.description = description
        self.code = code


class HandOver(Exception):
    """Raised by the handler's publish: the stage is hosted by node ``node_id``, whose ingest port is ``port`` on
    ``host``; the connection stops serving and is left open for :func:`openstage.ingest.relay.relay`."""

    def __init__(self, node_id: str, host: str, port: int) -> None:
        super().__init__(f"the stage is hosted by node {node_id} ({host}:{port})")
        self.node_id, self.host, self.port = node_id, host, port


class _Kept:
    """Reads the encoder's stream and keeps what was read until :meth:`forget`: a relay replays it."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self.data: bytearray | None = bytearray()

    async def readexactly(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
        if self.data is not None:
            self.data += data
            if len(self.data) > MAX_BEFORE_PUBLISH:
                raise ProtocolError(f"more than {MAX_BEFORE_PUBLISH} bytes before publishing")
        return data

    def forget(self) -> None:
        self.data = None


class PublishHandler(Protocol):
    async def publish(self, connection: RtmpConnection, stream_key: str) -> None:
        """Accepts the publish or raises :class:`PublishRefused`."""

    def metadata(self, values: dict[str, Any]) -> None: ...

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        """An audio (8) or video (9) message body: FLV tag data."""

    async def unpublished(self) -> None:
        """The publication is over, whatever ended it; called once, and only after ``publish`` accepted."""


class RtmpConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: PublishHandler,
        secure: bool,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.secure = secure
        self.idle_timeout = idle_timeout
        self.peer = str(writer.get_extra_info("peername"))
        self.stream, self.writer = reader, writer  # the encoder's own streams: a relay takes them over
        self.handed_over: HandOver | None = None
        self._kept = _Kept(reader)
        self._reader = ChunkReader(self._kept)
        self._out = ChunkWriter(writer)
        self._writer = writer
        self._handler = handler
        self._publishing = False
        self._acknowledged = 0
        self._peer_window = 0

    async def serve(self) -> None:
        """Runs the connection until the encoder leaves, breaks the protocol or :meth:`close` is called."""
        try:
            await asyncio.wait_for(handshake(self._kept, self._writer), HANDSHAKE_TIMEOUT)
            while True:
                message = await asyncio.wait_for(self._reader.read_message(), self.idle_timeout)
                await self._handle(message)
                self._acknowledge()
        except (asyncio.IncompleteReadError, OSError, TimeoutError):  # gone, reset, TLS failure, silent
            pass
        except (ProtocolError, amf.AmfError) as error:
            log.info("RTMP connection from %s closed: %s", self.peer, error)
        except PublishRefused as refused:
            log.info("RTMP publish from %s refused: %s", self.peer, refused.description)
        except HandOver as target:
            self.handed_over = target
        finally:
            if self.handed_over is None:
                await self.close()

    @property
    def received(self) -> bytes:
        """Every byte the encoder sent up to and including its publish command (kept until a publish succeeds)."""
        return bytes(self._kept.data or b"")

    async def answer_publish(self, status: dict[str, Any], stream_id: int = STREAM_ID) -> None:
        """Tells the encoder how its publish went, as another node answered it: ``status`` is that onStatus."""
        if status.get("code") == "NetStream.Publish.Start":
            self._control(USER_CONTROL, struct.pack(">HI", 0, stream_id))  # stream begin
        self._send(STATUS_CSID, stream_id, "onStatus", 0.0, None, status)
        await self._writer.drain()

    async def close(self) -> None:
        """Ends the publication (the handler hears once) and drops the connection; safe to call again."""
        self._kept.forget()
        if self._publishing:
            self._publishing = False
            await self._handler.unpublished()
        if not self._writer.is_closing():
            self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def _handle(self, message: Message) -> None:
        kind = message.type_id
        if kind in (AUDIO, VIDEO):
            if self._publishing:
                self._handler.media(kind, message.timestamp, message.payload)
        elif kind == COMMAND_AMF0:
            await self._command(amf.decode_all(message.payload), message.stream_id)
        elif kind == COMMAND_AMF3:
            await self._command(amf.decode_all(message.payload[1:]), message.stream_id)  # a leading AMF3 marker
        elif kind == DATA_AMF0:
            self._data(amf.decode_all(message.payload))
        elif kind == WINDOW_ACK_SIZE and len(message.payload) >= 4:
            self._peer_window = struct.unpack(">I", message.payload[:4])[0]
        # Acknowledgements, user control (ping answers) and bandwidth hints need no answer from a server.

    async def _command(self, values: list[Any], stream_id: int) -> None:
        if not values or not isinstance(values[0], str):
            raise ProtocolError("a command message without a command name")
        name = values[0]
        transaction = values[1] if len(values) > 1 and isinstance(values[1], float) else 0.0
        arguments = values[3:]
        if name == "connect":
            self._control(WINDOW_ACK_SIZE, struct.pack(">I", WINDOW_SIZE))
            self._control(SET_PEER_BANDWIDTH, struct.pack(">IB", WINDOW_SIZE, 2))
            self._control(SET_CHUNK_SIZE, struct.pack(">I", SERVER_CHUNK_SIZE))
            self._out.chunk_size = SERVER_CHUNK_SIZE
            status = _status("NetConnection.Connect.Success", "Connection succeeded.")
            self._send(COMMAND_CSID, 0, "_result", transaction, CONNECT_INFO, {**status, "objectEncoding": 0.0})
        elif name == "createStream":
            self._send(COMMAND_CSID, 0, "_result", transaction, None, float(STREAM_ID))
        elif name == "publish":
            await self._publish(str(arguments[0]) if arguments else "", stream_id or STREAM_ID)
        elif name in ("deleteStream", "closeStream", "FCUnpublish"):
            if self._publishing:
                self._publishing = False
                await self._handler.unpublished()
        elif transaction:  # releaseStream, FCPublish, getStreamLength…: a plain answer keeps encoders going
            self._send(COMMAND_CSID, 0, "_result", transaction, None, None)
        await self._writer.drain()

    async def _publish(self, stream_key: str, stream_id: int) -> None:
        if self._publishing:
            raise ProtocolError("a second publish on one connection")
        try:
            await self._handler.publish(self, stream_key.split("?", 1)[0])
        except PublishRefused as refused:
            failed = _status(refused.code, refused.description, "error")
            self._send(STATUS_CSID, stream_id, "onStatus", 0.0, None, failed)
            await self._writer.drain()
            raise
        self._publishing = True
        self._kept.forget()
        self._control(USER_CONTROL, struct.pack(">HI", 0, stream_id))  # stream begin
        started = _status("NetStream.Publish.Start", f"{stream_key} is now published.")
        self._send(STATUS_CSID, stream_id, "onStatus", 0.0, None, started)

    def _data(self, values: list[Any]) -> None:
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict) and self._publishing:
            self._handler.metadata(values[1])

    def _acknowledge(self) -> None:
        if self._peer_window and self._reader.bytes_read - self._acknowledged >= self._peer_window:
            self._acknowledged = self._reader.bytes_read
            self._control(ACK, struct.pack(">I", self._acknowledged & 0xFFFFFFFF))

    def _control(self, type_id: int, payload: bytes) -> None:
        self._out.write(CONTROL_CSID, Message(type_id, 0, 0, payload))

    def _send(self, csid: int, stream_id: int, *values: Any) -> None:
        self._out.write(csid, Message(COMMAND_AMF0, stream_id, 0, amf.encode(*values)))


def _status(code: str, description: str, level: str = "status") -> dict[str, Any]:
    return {"level": level, "code": code, "description": description}
