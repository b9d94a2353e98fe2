"""Fan-out of encoded frames from one publisher track to each subscriber, with no codec work.

A subscriber's ``RTCRtpSender`` reads a ``ForwardedTrack``; because ``recv()`` returns an
``av.Packet``, aiortc only re-packetizes it (media-stack.md). Each subscriber has its own bounded
queue: one that falls behind loses its backlog and waits for the next keyframe, so it never
holds up the publisher or the other subscribers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

# Frames a subscriber may lag before it is resynced: about 2 s of video, 1 s of 20 ms audio.
VIDEO_QUEUE_LIMIT = 60
AUDIO_QUEUE_LIMIT = 50
# At most one keyframe request upstream per interval, however many subscribers ask; while a
# subscriber waits for a keyframe, each frame it drops asks again, so this is also the retry period.
KEYFRAME_REQUEST_INTERVAL = 0.25


class PacketSink(Protocol):
    """An in-process reader of a publisher's encoded frames (a recorder, a compositor).

    ``push`` runs on the event loop for every frame and must not block: queue and return.
    Packets carry ``pts`` in RTP clock units with ``time_base`` 1/clockRate; H.264 frames are
    Annex-B access units.
    """

    def push(self, packet: av.Packet, keyframe: bool) -> None: ...


class TrackSource:
    """One publisher track: delivers each frame to every attached subscriber track and tap."""

    def __init__(self, kind: str, request_keyframe: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.sinks: list[ForwardedTrack] = []
        # In-process consumers: unlike subscriber tracks they are not stopped when the publication ends.
        self.taps: list[PacketSink] = []
        self.successor: TrackSource | None = None  # where the taps went when a new publication replaced this one
        self.frames = 0  # received from the publisher, for tests and the benchmark
        self._request_upstream = request_keyframe
        self._last_request = -KEYFRAME_REQUEST_INTERVAL

    def deliver(self, packet: av.Packet, keyframe: bool) -> None:
        self.frames += 1
        for sink in self.sinks:
            sink.push(packet, keyframe)
        for tap in self.taps:
            tap.push(packet, keyframe)

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

    def tap(self, sink: PacketSink) -> Callable[[], None]:
        """Attaches an in-process consumer; a video one gets a keyframe soon. Returns its detach function."""
        self.taps.append(sink)
        if self.kind == "video":
            self.request_keyframe()

        def detach() -> None:
            source: TrackSource | None = self
            while source is not None:  # the tap may have moved on to later publications' sources
                if sink in source.taps:
                    source.taps.remove(sink)
                    return
                source = source.successor

        return detach


def move_taps(old: Mapping[str, TrackSource], new: Mapping[str, TrackSource]) -> None:
    """A publication replaced by the same participant's next one hands its taps over, kind by kind, so a
    recorder or compositor goes on reading without noticing (timestamps jump: tap consumers must cope)."""
    for kind, source in old.items():
        successor = new.get(kind)
        if successor is None:
            continue
        moved, source.taps = source.taps, []
        successor.taps.extend(moved)
        source.successor = successor
        if moved and kind == "video":
            successor.request_keyframe()


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
