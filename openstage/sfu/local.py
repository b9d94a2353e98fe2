"""A publication fed from inside the process (RTMP ingest, a replica from another stage), not by a peer.

It has the track sources a WebRTC publication has, so subscribers attach to it exactly as to a
WebRTC publisher (subscriber.py) and taps read it the same way; what would come from RTP comes
from :meth:`LocalPublication.deliver` instead.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping

import av

from openstage.sfu.forwarding import TrackSource

log = logging.getLogger("openstage.sfu")


class LocalPublication:
    def __init__(
        self,
        stage_id: str,
        participant_id: str,
        codecs: Mapping[str, str],
        request_keyframe: Callable[[], None] | None = None,
    ) -> None:
        """``codecs``: kind -> MIME type of what will be delivered (H.264 as Annex B access units, Opus).

        ``request_keyframe`` is called (rate-limited) when a subscriber needs a video keyframe;
        without it subscribers wait for the next one the source sends.
        """
        self.stage_id = stage_id
        self.participant_id = participant_id
        self.resource_id = secrets.token_urlsafe(18)
        self.answer_sdp = ""
        self.codecs = dict(codecs)
        self.sources = {kind: TrackSource(kind, request_keyframe if kind == "video" else None) for kind in self.codecs}
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._end_callbacks: list[Callable[[LocalPublication], None]] = []

    def deliver(self, kind: str, packet: av.Packet, keyframe: bool) -> None:
        """One encoded frame (``pts`` and ``time_base`` set) to every subscriber and tap of ``kind``."""
        source = self.sources.get(kind)
        if source is not None and not self.ended.is_set():
            source.deliver(packet, keyframe)

    def on_end(self, callback: Callable[[LocalPublication], None]) -> None:
        self._end_callbacks.append(callback)

    async def close(self, reason: str = "closed") -> None:
        self.close_soon(reason)

    def close_soon(self, reason: str) -> None:
        """Ends at once (nothing to tear down but the subscribers' tracks); later calls do nothing."""
        if self.ended.is_set():
            return
        self.end_reason = reason
        for source in self.sources.values():
            for sink in list(source.sinks):
                sink.stop()
        self.ended.set()
        for callback in self._end_callbacks:
            callback(self)
        log.debug("LocalPublication %s/%s ended: %s", self.stage_id, self.participant_id, reason)
