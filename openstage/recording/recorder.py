"""One publication's media into an HlsWriter: H.264 passed through, VP8 transcoded to H.264, Opus to AAC.

The engine's taps call ``push`` on the event loop; decoding happens in the recorder's own thread
so it never holds up forwarding. Thumbnails of a passed-through stream cost one keyframe decode
each: the recorder asks the publisher for a keyframe when a thumbnail or a segment is due.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import av

from openstage.recording.hls import HlsWriter
from openstage.sfu.engine import MediaEngine

log = logging.getLogger("openstage.recording")

DECODERS = {"video/H264": "h264", "video/VP8": "vp8", "audio/opus": "opus"}


class RtpClock:
    """Extends 32-bit RTP timestamps so they keep increasing across a wrap."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._value = 0

    def extend(self, timestamp: int) -> int:
        if self._last is not None:
            step = (timestamp - self._last) & 0xFFFFFFFF
            self._value += step - (1 << 32) if step >= 1 << 31 else step
        else:
            self._value = timestamp
        self._last = timestamp
        return self._value


# (kind, packet as the engine delivered it, keyframe, its extended timestamp); None ends the thread
Item = tuple[str, av.Packet, bool, int] | None


class _Tap:
    """What the engine pushes to: queues, nothing else on the loop. The packet is shared with the
    subscribers' senders, so it is never modified; its extended timestamp travels beside it."""

    def __init__(self, kind: str, inbox: queue.SimpleQueue[Item]) -> None:
        self.kind = kind
        self.inbox = inbox
        self.clock = RtpClock()

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self.inbox.put((self.kind, packet, keyframe, self.clock.extend(packet.pts)))


class ParticipantRecorder:
    def __init__(self, writer: HlsWriter, engine: MediaEngine, stage_id: str, participant_id: str) -> None:
        self.writer = writer
        self.engine, self.stage_id, self.participant_id = engine, stage_id, participant_id
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._detach: list[Callable[[], None]] = []
        self._codecs: dict[str, str] = {}
        self._decoders: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name=f"recorder {participant_id}", daemon=True)
        self._keyframes: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Taps what the writer needs; False when the participant publishes none of it."""
        codecs = self.engine.codecs(self.stage_id, self.participant_id) or {}
        wanted = {"audio": self.writer.audio, "video": self.writer.video or self.writer.thumbnails is not None}
        for kind, codec in codecs.items():
            if not wanted.get(kind) or codec not in DECODERS:
                continue
            detach = self.engine.tap(self.stage_id, self.participant_id, kind, _Tap(kind, self._inbox))
            if detach is not None:
                self._codecs[kind] = codec
                self._detach.append(detach)
        if not self._detach:
            return False
        self._thread.start()
        if "video" in self._codecs:
            self._keyframes = asyncio.create_task(self._ask_keyframes())
        return True

    async def stop(self) -> None:
        """Detaches and waits until what was already received reached the writer."""
        for detach in self._detach:
            detach()
        if self._keyframes is not None:
            self._keyframes.cancel()
        if self._thread.is_alive():
            self._inbox.put(None)
            await asyncio.to_thread(self._thread.join)

    async def _ask_keyframes(self) -> None:
        """A keyframe where a segment should start, and whenever a thumbnail is due."""
        period = self.writer.segment_seconds
        if self.writer.thumbnails is not None:
            period = min(period, self.writer.thumbnails.interval_seconds)
        while True:
            await asyncio.sleep(period)
            self.engine.request_keyframe(self.stage_id, self.participant_id)

    def _run(self) -> None:
        while (item := self._inbox.get()) is not None:
            kind, shared, keyframe, pts = item
            packet = av.Packet(bytes(shared))
            packet.pts, packet.time_base = pts, shared.time_base
            try:
                if kind == "audio":
                    self._audio(packet)
                else:
                    self._video(packet, keyframe)
            except (av.FFmpegError, ValueError) as error:
                # A corrupt frame costs that frame; the decoder resyncs at the next keyframe.
                log.warning("recorder %s: %s frame dropped: %s", self.participant_id, kind, error)

    def _audio(self, packet: av.Packet) -> None:
        for frame in self._decoder("audio").decode(packet):
            frame.pts, frame.time_base = packet.pts, packet.time_base
            self.writer.add_audio_frame(frame)

    def _video(self, packet: av.Packet, keyframe: bool) -> None:
        passthrough = self._codecs["video"] == "video/H264"
        if passthrough:
            self.writer.add_video_packet(packet, keyframe)
        needs_frames = self.writer.video and not passthrough
        if not needs_frames and not (keyframe and self.writer.wants_thumbnail()):
            return
        if keyframe and not needs_frames:
            self._decoders.pop("video", None)  # a keyframe decodes alone: start clean
        for frame in self._decoder("video").decode(packet):
            frame.pts, frame.time_base = packet.pts, packet.time_base
            if needs_frames:
                self.writer.add_video_frame(frame)
            self.writer.add_thumbnail_frame(frame)

    def _decoder(self, kind: str) -> Any:
        if kind not in self._decoders:
            self._decoders[kind] = av.CodecContext.create(DECODERS[self._codecs[kind]], "r")
        return self._decoders[kind]
