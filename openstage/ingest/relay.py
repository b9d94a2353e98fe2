"""An encoder that reached a node not hosting its stage, relayed over TCP to the node that does (docs/cluster.md).

RTMP has no redirect, so the node the encoder reached stays in the middle. It replays what the encoder sent
up to and including its publish command (handshake, connect, createStream, publish) to the hosting node's
ingest port and reads that node's answers up to its publish status: the hosting node admits the stream key
itself, records any refusal, and its status is what the encoder is told. From then on the encoder's bytes
pass through unchanged, so the hosting node reads the very chunk stream the encoder writes; what the hosting
node sends afterwards (acknowledgements) is read and dropped, since the encoder holds this node's answers.
Either side closing closes both: a kick on the hosting node drops the encoder here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from openstage.ingest import amf
from openstage.ingest.chunks import HANDSHAKE_SIZE, ChunkReader
from openstage.ingest.connection import COMMAND_AMF0, HANDSHAKE_TIMEOUT, HandOver, RtmpConnection

log = logging.getLogger("openstage.ingest")

READ_SIZE = 65536


async def relay(connection: RtmpConnection, target: HandOver) -> None:
    """Runs the relay of a connection whose handler handed it over, until the encoder or the hosting node leaves."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port, ssl=_tls() if connection.secure else None),
            HANDSHAKE_TIMEOUT,
        )
    except (OSError, TimeoutError) as error:
        log.warning("RTMP publish from %s: node %s unreachable: %s", connection.peer, target.node_id, error)
        await connection.answer_publish(_failed(f"the stage's node {target.node_id} cannot be reached; try again"))
        await connection.close()
        return
    try:
        writer.write(connection.received)
        status = await asyncio.wait_for(_publish_status(reader), HANDSHAKE_TIMEOUT)
        await connection.answer_publish(status)
        if status.get("code") != "NetStream.Publish.Start":
            return
        log.info("RTMP publish from %s relayed to node %s", connection.peer, target.node_id)
        passing = asyncio.create_task(_pass(connection.stream, writer))
        dropping = asyncio.create_task(_drop(reader))
        await asyncio.wait([passing, dropping], return_when=asyncio.FIRST_COMPLETED)
        for task in (passing, dropping):
            task.cancel()
        await asyncio.gather(passing, dropping, return_exceptions=True)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
        log.info("RTMP relay of %s to node %s ended: %s", connection.peer, target.node_id, error)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        await connection.close()


async def _publish_status(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The hosting node's answer to the replayed publish, after its handshake and its other answers."""
    await reader.readexactly(1 + 2 * HANDSHAKE_SIZE)  # S0, S1, S2
    chunks = ChunkReader(reader)
    while True:
        message = await chunks.read_message()
        if message.type_id != COMMAND_AMF0:
            continue
        values = amf.decode_all(message.payload)
        if values and values[0] == "onStatus" and len(values) > 3 and isinstance(values[3], dict):
            return values[3]


async def _pass(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    while data := await source.read(READ_SIZE):
        sink.write(data)
        await sink.drain()


async def _drop(source: asyncio.StreamReader) -> None:
    while await source.read(READ_SIZE):
        pass


def _failed(description: str) -> dict[str, Any]:
    return {"level": "error", "code": "NetStream.Publish.Failed", "description": description}


def _tls() -> ssl.SSLContext:
    """An RTMPS encoder is relayed to the hosting node's RTMPS port, so the node admits it as RTMPS. Each node's
    ingest certificate is its own (often self-signed, made at first start), so the relay cannot check it: it
    encrypts only. Nodes should talk over a private network (docs/cluster.md)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
