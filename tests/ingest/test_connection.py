"""The RTMP handshake, chunk stream and AMF commands against a real encoder: ffmpeg publishing to an in-process server.

No openstage server here: a recording handler shows exactly what the protocol layer hands on.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from typing import Any

from openstage.ingest import amf, flv
from openstage.ingest.chunks import HANDSHAKE_SIZE, ChunkWriter, Message
from openstage.ingest.connection import AUDIO, DATA_AMF0, MAX_BEFORE_PUBLISH, VIDEO, PublishRefused, RtmpConnection
from tests.ingest.encoder import push_command

SECONDS = 3


class Recorder:
    """A PublishHandler that keeps everything it is handed."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.keys: list[str] = []
        self.described: list[dict[str, Any]] = []
        self.messages: list[tuple[int, int, bytes]] = []
        self.ended = 0

    async def publish(self, connection: RtmpConnection, stream_key: str) -> None:
        self.keys.append(stream_key)
        if self.refuse:
            raise PublishRefused("not this key")

    def metadata(self, values: dict[str, Any]) -> None:
        self.described.append(values)

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        self.messages.append((type_id, timestamp, payload))

    async def unpublished(self) -> None:
        self.ended += 1

    def timestamps(self, kind: int) -> list[int]:
        return [timestamp for type_id, timestamp, _ in self.messages if type_id == kind]


def publish_with_ffmpeg(recorder: Recorder) -> int:
    """ffmpeg's exit status after pushing SECONDS of media to a server running ``recorder``."""

    async def scenario() -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await RtmpConnection(reader, writer, recorder, secure=False).serve()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        command = push_command(f"rtmp://127.0.0.1:{port}/app/rt_key?token=1", seconds=SECONDS)
        encoder = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        status = await asyncio.wait_for(encoder.wait(), 30)
        for _ in range(50):  # the connection's end reaches the handler
            if recorder.ended or recorder.refuse:
                break
            await asyncio.sleep(0.05)
        server.close()
        return status

    return asyncio.run(scenario())


def test_a_publish_from_ffmpeg_arrives_whole_and_in_order() -> None:
    recorder = Recorder()
    assert publish_with_ffmpeg(recorder) == 0
    assert recorder.keys == ["rt_key"]  # the query string is not part of the key
    assert recorder.ended == 1
    assert [(d["width"], d["height"]) for d in recorder.described] == [(320.0, 240.0)]
    video, audio = recorder.timestamps(VIDEO), recorder.timestamps(AUDIO)
    # 30 fps and 44.1 kHz AAC (1024 samples a frame) for SECONDS, plus each kind's sequence header.
    assert abs(len(video) - 30 * SECONDS - 1) <= 2
    assert abs(len(audio) - 44100 * SECONDS / 1024 - 1) <= 3
    # Timestamps keep advancing through type 3 headers, where a chunk carries no timestamp of its own.
    for stamps in (video, audio):
        assert stamps == sorted(stamps)
        assert stamps[-1] - stamps[0] >= (SECONDS - 0.2) * 1000
    assert len(set(audio[1:])) == len(audio) - 1
    # Keyframes are larger than ffmpeg's 4096-byte chunks: each arrives reassembled, starting as FLV AVC.
    tags = [flv.video_tag(payload) for type_id, _, payload in recorder.messages if type_id == VIDEO]
    assert tags[0].packet_type == flv.SEQUENCE_HEADER
    keyframes = [tag for tag in tags[1:] if tag.keyframe]
    assert len(keyframes) >= SECONDS and max(len(tag.data) for tag in keyframes) > 4096
    assert all(tag.codec == "avc" and tag.composition_time == 0 for tag in tags)


def test_a_refused_publish_ends_the_encoder() -> None:
    recorder = Recorder(refuse=True)
    assert publish_with_ffmpeg(recorder) != 0
    assert recorder.keys == ["rt_key"]
    assert recorder.messages == [] and recorder.ended == 0


def test_a_silent_encoder_is_dropped() -> None:
    """After the handshake, nothing: the server closes rather than keep a dead publisher."""

    async def scenario() -> bytes:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await RtmpConnection(reader, writer, Recorder(), secure=False, idle_timeout=0.5).serve()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(bytes([3]) + bytes(HANDSHAKE_SIZE))
        answer = await reader.readexactly(1 + 2 * HANDSHAKE_SIZE)
        writer.write(answer[1 : 1 + HANDSHAKE_SIZE])  # C2 echoes S1
        rest = await asyncio.wait_for(reader.read(), 5)  # EOF once the server gives up
        writer.close()
        server.close()
        return answer[1 + HANDSHAKE_SIZE :] + rest

    echoed = asyncio.run(scenario())
    assert echoed == bytes(HANDSHAKE_SIZE)  # S2 echoed our all-zero C1, then the server said nothing more


def test_an_encoder_sending_too_much_before_publishing_is_dropped() -> None:
    """What comes before the publish is kept for a relay to another node, so it is bounded."""

    async def scenario() -> tuple[bytes, int]:
        connections: list[RtmpConnection] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(RtmpConnection(reader, writer, Recorder(), secure=False))
            await connections[-1].serve()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(bytes([3]) + bytes(HANDSHAKE_SIZE))
        answer = await reader.readexactly(1 + 2 * HANDSHAKE_SIZE)
        writer.write(answer[1 : 1 + HANDSHAKE_SIZE])
        chunks = ChunkWriter(writer)
        filler = amf.encode("onTextData", {"text": "x" * 60_000})
        with contextlib.suppress(ConnectionError):  # the server may hang up while this still writes
            for _ in range(MAX_BEFORE_PUBLISH // len(filler) + 2):
                chunks.write(4, Message(DATA_AMF0, 0, 0, filler))
                await writer.drain()
        rest = await asyncio.wait_for(reader.read(), 10)  # EOF: dropped long before the 20 s idle timeout
        writer.close()
        server.close()
        return rest, len(connections[0].received)

    rest, kept = asyncio.run(scenario())
    assert rest == b""
    assert kept == 0  # nothing is held for a connection that is gone
