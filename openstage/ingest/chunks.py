"""The RTMP handshake and chunk stream (Adobe RTMP specification, sections 5.2 and 5.3).

Messages arrive cut into chunks that interleave across chunk streams and compress their
headers against the previous chunk of the same stream; ``ChunkReader`` puts whole messages
back together, ``ChunkWriter`` cuts the server's few replies. Nothing here knows what a
message means.
"""

from __future__ import annotations

import asyncio
import os
import struct
from dataclasses import dataclass, field
from typing import Protocol

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3
DEFAULT_CHUNK_SIZE = 128
MAX_CHUNK_SIZE = 0x7FFFFFFF
# Larger messages are refused: an encoder within IVS limits never sends a frame near this.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
EXTENDED = 0xFFFFFF

# Message type ids the chunk layer itself acts on.
SET_CHUNK_SIZE, ABORT = 1, 2


class ByteSource(Protocol):
    """Where the handshake and chunks are read from: a stream reader, or one that keeps what was read."""

    async def readexactly(self, n: int) -> bytes: ...


class ProtocolError(Exception):
    """The peer broke the RTMP framing; the connection cannot continue."""


@dataclass
class Message:
    type_id: int
    stream_id: int
    timestamp: int  # milliseconds, as the sender counts them (wraps at 2^32)
    payload: bytes


async def handshake(reader: ByteSource, writer: asyncio.StreamWriter) -> None:
    """The plain (unsigned) handshake: S1 is random, S2 echoes C1. Encoders that publish accept it."""
    c0c1 = await reader.readexactly(1 + HANDSHAKE_SIZE)
    if c0c1[0] != RTMP_VERSION:
        raise ProtocolError(f"RTMP version {c0c1[0]} requested; only version 3 is spoken")
    c1 = c0c1[1:]
    s1 = struct.pack(">II", 0, 0) + os.urandom(HANDSHAKE_SIZE - 8)
    s2 = c1[:4] + struct.pack(">I", 0) + c1[8:]
    writer.write(bytes([RTMP_VERSION]) + s1 + s2)
    await writer.drain()
    await reader.readexactly(HANDSHAKE_SIZE)  # C2: an echo of S1, nothing to check in the plain handshake


@dataclass
class _InStream:
    """What one chunk stream remembers from its last header, and the message it is assembling."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    parts: list[bytes] = field(default_factory=list)
    received: int = 0


class ChunkReader:
    def __init__(self, reader: ByteSource) -> None:
        self._reader = reader
        self._streams: dict[int, _InStream] = {}
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.bytes_read = 0  # for acknowledgements

    async def _read(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
        self.bytes_read += n
        return data

    async def read_message(self) -> Message:
        """The next complete message; set-chunk-size and abort are applied here and not returned."""
        while True:
            message = await self._read_chunk()
            if message is None:
                continue
            if message.type_id == SET_CHUNK_SIZE:
                size = struct.unpack(">I", message.payload[:4])[0] & MAX_CHUNK_SIZE if len(message.payload) >= 4 else 0
                if size < 1:
                    raise ProtocolError("set chunk size to 0")
                self.chunk_size = size
                continue
            if message.type_id == ABORT and len(message.payload) >= 4:
                aborted = self._streams.get(struct.unpack(">I", message.payload[:4])[0])
                if aborted is not None:
                    aborted.parts, aborted.received = [], 0
                continue
            return message

    async def _read_chunk(self) -> Message | None:
        first = (await self._read(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self._read(1))[0]
        elif csid == 1:
            low, high = await self._read(2)
            csid = 64 + low + 256 * high
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts with a type {fmt} header, which needs a previous one")
            stream = self._streams[csid] = _InStream()
        starting = not stream.parts
        if fmt <= 2:
            header = await self._read(11 if fmt == 0 else 7 if fmt == 1 else 3)
            field_value = int.from_bytes(header[0:3], "big")
            if fmt <= 1:
                stream.length = int.from_bytes(header[3:6], "big")
                stream.type_id = header[6]
            if fmt == 0:
                stream.stream_id = struct.unpack("<I", header[7:11])[0]
            stream.extended = field_value == EXTENDED
            if stream.extended:
                field_value = struct.unpack(">I", await self._read(4))[0]
            if fmt == 0:
                stream.timestamp = field_value
                stream.delta = field_value
            else:
                stream.delta = field_value
                stream.timestamp = (stream.timestamp + field_value) & 0xFFFFFFFF
        else:
            if stream.extended:
                await self._read(4)  # repeated on every chunk of a message whose header had it
            if starting:  # a new message with every field as before, the delta included
                stream.timestamp = (stream.timestamp + stream.delta) & 0xFFFFFFFF
        if stream.length > MAX_MESSAGE_SIZE:
            raise ProtocolError(f"a {stream.length}-byte message is over the {MAX_MESSAGE_SIZE}-byte limit")
        size = min(self.chunk_size, stream.length - stream.received)
        if size:
            stream.parts.append(await self._read(size))
            stream.received += size
        if stream.received < stream.length:
            return None
        payload = b"".join(stream.parts)
        stream.parts, stream.received = [], 0
        return Message(stream.type_id, stream.stream_id, stream.timestamp, payload)


class ChunkWriter:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.chunk_size = DEFAULT_CHUNK_SIZE

    def write(self, csid: int, message: Message) -> None:
        """Sends ``message`` with a full header, then type-3 continuation chunks (csid below 64)."""
        timestamp = min(message.timestamp, EXTENDED)
        header = bytes([csid]) + timestamp.to_bytes(3, "big") + len(message.payload).to_bytes(3, "big")
        header += bytes([message.type_id]) + struct.pack("<I", message.stream_id)
        extended = struct.pack(">I", message.timestamp) if timestamp == EXTENDED else b""
        out = [header, extended]
        payload = message.payload
        for offset in range(0, max(len(payload), 1), self.chunk_size):
            if offset:
                out += [bytes([0xC0 | csid]), extended]
            out.append(payload[offset : offset + self.chunk_size])
        self._writer.write(b"".join(out))
