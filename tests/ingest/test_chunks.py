"""The chunk stream's header compression, reassembly across interleaved streams and extended timestamps."""

from __future__ import annotations

import asyncio
import struct

import pytest

from openstage.ingest.chunks import ChunkReader, Message, ProtocolError


def read_all(data: bytes, count: int, chunk_size: int = 128) -> list[Message]:
    async def scenario() -> list[Message]:
        stream = asyncio.StreamReader()
        stream.feed_data(data)
        stream.feed_eof()
        reader = ChunkReader(stream)
        reader.chunk_size = chunk_size
        return [await reader.read_message() for _ in range(count)]

    return asyncio.run(scenario())


def header0(csid: int, timestamp: int, length: int, type_id: int, stream_id: int = 1) -> bytes:
    return (
        bytes([csid])
        + timestamp.to_bytes(3, "big")
        + length.to_bytes(3, "big")
        + bytes([type_id])
        + struct.pack("<I", stream_id)
    )


def test_type_3_headers_start_new_messages_with_the_previous_delta() -> None:
    """ffmpeg sends same-sized audio frames as type 3 chunks: each is a new message, 23 ms later."""
    data = header0(4, 1000, 2, 8) + b"a1"
    data += bytes([0x80 | 4]) + (23).to_bytes(3, "big") + b"a2"  # type 2: a delta
    data += bytes([0xC0 | 4]) + b"a3"  # type 3: the same delta again
    data += bytes([0x40 | 4]) + (10).to_bytes(3, "big") + (3).to_bytes(3, "big") + bytes([8]) + b"a4!"  # type 1
    messages = read_all(data, 4)
    assert [(m.timestamp, m.payload, m.stream_id) for m in messages] == [
        (1000, b"a1", 1),
        (1023, b"a2", 1),
        (1046, b"a3", 1),
        (1056, b"a4!", 1),
    ]


def test_messages_interleave_across_chunk_streams_and_respect_the_chunk_size() -> None:
    video = bytes(range(200))
    data = header0(6, 0, len(video), 9) + video[:128]
    data += header0(4, 5, 3, 8) + b"aac"  # an audio message between two chunks of the video one
    data += bytes([0xC0 | 6]) + video[128:]
    messages = read_all(data, 2)
    assert [(m.type_id, m.payload) for m in messages] == [(8, b"aac"), (9, video)]


def test_extended_timestamps_are_read_on_every_chunk() -> None:
    payload = b"x" * 150
    data = bytes([6]) + b"\xff\xff\xff" + len(payload).to_bytes(3, "big") + bytes([9]) + struct.pack("<I", 1)
    data += struct.pack(">I", 0x01000000) + payload[:128] + bytes([0xC0 | 6]) + struct.pack(">I", 0x01000000)
    data += payload[128:]
    (message,) = read_all(data, 1)
    assert (message.timestamp, message.payload) == (0x01000000, payload)


def test_set_chunk_size_applies_to_what_follows() -> None:
    big = b"y" * 300
    data = header0(2, 0, 4, 1, 0) + struct.pack(">I", 4096) + header0(6, 0, len(big), 9) + big
    assert read_all(data, 1)[0].payload == big


def test_a_stream_that_starts_without_a_full_header_is_refused() -> None:
    with pytest.raises(ProtocolError):
        read_all(bytes([0xC0 | 5]) + b"zz", 1)
