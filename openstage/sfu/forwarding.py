"""Fan-out of encoded frames from one publisher track to each subscriber, with no codec work.

A subscriber's ``RTCRtpSender`` reads a ``ForwardedTrack``; because ``recv()`` returns an
``av.Packet``, aiortc only re-packetizes it (media-stack.md). Each subscriber has its own bounded
queue: one that falls behind loses its backlog and waits for the next keyframe, so it never
holds up the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

# Frames a subscriber may lag before it is resynced: about 2 s of video, 1 s of 20 ms audio.
VIDEO_QUEUE_LIMIT = 60
AUDIO_QUEUE_LIMIT = 50
# At most one keyframe request upstream per interval, however many subscribers ask; while a
# subscriber waits for a keyframe, each frame it drops asks again, so this is also the retry period.
KEYFRAME_REQUEST_INTERVAL = 0.25


class TrackSource:
    """One publisher track: delivers each frame to every attached subscriber track."""

    def __init__(self, kind: str, request_keyframe: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.sinks: list[ForwardedTrack] = []
        self.frames = 0  # received from the publisher, for tests and the benchmark
        self._request_upstream = request_keyframe
        self._last_request = -KEYFRAME_REQUEST_INTERVAL

    def deliver(self, packet: av.Packet, keyframe: bool) -> None:
        self.frames += 1
        for sink in self.sinks:
            sink.push(packet, keyframe)

    def request_keyframe(self) -> None:
        """Asks the publisher for a keyframe (PLI), rate-limited."""
        if self._request_upstream is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_request >= KEYFRAME_REQUEST_INTERVAL:
            self._last_request = now
            self._request_upstream()

    def attach(self, sink: ForwardedTrack) -> None:
        self.sinks.append(sink)

    def detach(self, sink: ForwardedTrack) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)


class ForwardedTrack(MediaStreamTrack):
    """What one subscriber's sender reads: the publisher's encoded frames, bounded, keyframe-first."""

    def __init__(self, kind: str, source: TrackSource | None) -> None:
        super().__init__()
        self.kind = kind
        self.source = source
        self.limit = VIDEO_QUEUE_LIMIT if kind == "video" else AUDIO_QUEUE_LIMIT
        self.frames: deque[av.Packet] = deque()
        self.waiting_for_keyframe = kind == "video"
        self.resyncs = 0
        self._available = asyncio.Event()
        if source is not None:
            source.attach(self)
            if self.waiting_for_keyframe:
                source.request_keyframe()

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        if self.waiting_for_keyframe:
            if not keyframe:
                self._ask_keyframe()
                return
            self.waiting_for_keyframe = False
        if len(self.frames) >= self.limit:
            if self.kind == "video":
                self.resyncs += 1
                self.frames.clear()
                if not keyframe:
                    self.waiting_for_keyframe = True
                    self._ask_keyframe()
                    return
            else:
                self.frames.popleft()
        self.frames.append(packet)
        self._available.set()

    async def recv(self) -> av.Packet:
        while not self.frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._available.clear()
            await self._available.wait()
        return self.frames.popleft()

    def stop(self) -> None:
        super().stop()
        if self.source is not None:
            self.source.detach(self)
        self._available.set()

    def _ask_keyframe(self) -> None:
        if self.source is not None:
            self.source.request_keyframe()
