"""A channel destination: the composition's packets pushed as FLV over RTMP(S), reconnecting when the push fails.

Muxing runs in the output's own thread behind a bounded queue, so a slow or unreachable
server never holds up the compositor; packets that do not fit are dropped, and after a
reconnect the output waits for a keyframe (asked of the encoder) before it sends video again.
A push that keeps failing for ``reconnect_seconds`` is FAILED (docs 5.2).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

import av

from openstage.composition.encoder import Encoder

log = logging.getLogger("openstage.composition")

QUEUE_PACKETS = 512
RETRY_SECONDS = 1.0

# (destination id, state, reason): "ACTIVE", "RECONNECTING" or "FAILED"
StateCallback = Callable[[str, str, str], None]


class RtmpOutput:
    def __init__(self, destination_id: str, url: str, reconnect_seconds: float, on_state: StateCallback) -> None:
        self.destination_id = destination_id
        self.url = url
        self.reconnect_seconds = reconnect_seconds
        self._on_state = on_state
        self._queue: queue.Queue[tuple[str, av.Packet] | None] = queue.Queue(QUEUE_PACKETS)
        self._encoder: Encoder | None = None
        self._thread = threading.Thread(target=self._run, name=f"rtmp {destination_id}", daemon=True)
        self.failed = False
        self.failure: str | None = None

    def start(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._thread.start()

    def write(self, kind: str, packet: av.Packet) -> None:
        if self.failed:
            return
        try:
            self._queue.put_nowait((kind, packet))
        except queue.Full:
            pass  # the server is slower than real time: it loses packets, the composition goes on

    def picture(self, frame: av.VideoFrame) -> None:
        """A channel gets no thumbnails."""

    async def finish(self) -> str | None:
        """Sends what is queued and ends the stream; returns why the push failed, if it did."""
        if self._thread.is_alive():
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
        return self.failure

    def _run(self) -> None:
        assert self._encoder is not None
        failing_since: float | None = None
        reason = ""
        while True:
            try:
                finished = self._push(self._encoder, recovering=failing_since is not None)
            except (av.FFmpegError, OSError) as error:
                reason = f"RTMP push to {_redacted(self.url)} failed: {error}"
                log.warning("composition destination %s: %s", self.destination_id, reason)
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    self._on_state(self.destination_id, "RECONNECTING", reason)
                if now - failing_since >= self.reconnect_seconds:
                    self.failed, self.failure = True, reason
                    self._on_state(self.destination_id, "FAILED", reason)
                    self._drain()
                    return
                if self._wait(RETRY_SECONDS):
                    return
                continue
            if finished:
                return
            failing_since = None

    def _push(self, encoder: Encoder, recovering: bool) -> bool:
        """One connection: True once the stream ended normally; raises when the push fails."""
        container = av.open(self.url, "w", format="flv")
        try:
            video = container.add_stream_from_template(encoder.video)
            audio = container.add_stream_from_template(encoder.audio)
            encoder.request_keyframe()
            started = False
            while True:
                item = self._queue.get()
                if item is None:
                    return True
                kind, packet = item
                if not started:
                    if kind != "video" or not packet.is_keyframe:
                        continue
                    started = True
                if packet.dts is not None and packet.dts < 0:
                    continue  # the AAC encoder's priming packet: FLV has no negative timestamps
                packet.stream = video if kind == "video" else audio
                container.mux(packet)
                if recovering:
                    recovering = False
                    self._on_state(self.destination_id, "ACTIVE", "")
        finally:
            try:
                container.close()
            except (av.FFmpegError, OSError):
                pass

    def _wait(self, seconds: float) -> bool:
        """Drops queued packets for ``seconds``; True if the output was closed meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self._queue.get(timeout=left) is None:
                    return True
            except queue.Empty:
                return False
        return False

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return


def _redacted(url: str) -> str:
    """The URL without its last segment: the stream key is a secret."""
    return url.rsplit("/", 1)[0] + "/…"
