"""The one interface signaling uses to move media, so the engine behind it can be replaced.

The WHIP layer knows only these names: it hands an SDP offer in, gets an answer and a handle
out, and learns from ``ended`` when the media session is over, whatever ended it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

from openstage.sfu.forwarding import PacketSink
from openstage.sfu.local import LocalPublication


class MediaError(Exception):
    """A refused offer. ``error_code`` is the participant-event errorCode (docs 3.4) to record."""

    error_code = "INTERNAL_SERVER_EXCEPTION"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOffer(MediaError):
    """The offer cannot be used at all: not SDP, or not the shape IVS accepts (docs 2.4)."""

    def __init__(self, message: str, error_code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.error_code = error_code


class NoMatchingCodec(MediaError):
    """No codec in common for one media kind (WHIP 2014)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.error_code = f"INVALID_{kind.upper()}_CODEC"


class PublisherNotFound(MediaError):
    """The remote participant is not publishing (WHIP 2004)."""

    error_code = "PUBLISHER_NOT_FOUND"


class MediaSession(Protocol):
    """What publications and subscriptions share: the answer, an id for the WHIP resource, an end."""

    stage_id: str
    participant_id: str
    answer_sdp: str
    resource_id: str
    # kind ("audio", "video") -> MIME type forwarded, e.g. {"video": "video/H264", "audio": "audio/opus"}
    codecs: Mapping[str, str]
    # Set once the session is over: closed by us, by the peer, ICE/DTLS failure or connect timeout.
    ended: asyncio.Event
    end_reason: str

    async def close(self, reason: str = "closed") -> None: ...


class Publication(MediaSession, Protocol):
    pass


class Subscription(MediaSession, Protocol):
    publisher_id: str


class MediaEngine(Protocol):
    async def publish(self, stage_id: str, participant_id: str, offer_sdp: str) -> Publication:
        """Answers a publisher's offer; a participant's earlier publication is replaced."""
        ...

    async def publish_local(
        self,
        stage_id: str,
        participant_id: str,
        codecs: Mapping[str, str],
        request_keyframe: Callable[[], None] | None = None,
    ) -> LocalPublication:
        """A publication fed in-process (RTMP ingest, a replica) that subscribers see as any publisher's."""
        ...

    async def subscribe(self, stage_id: str, subscriber_id: str, publisher_id: str, offer_sdp: str) -> Subscription:
        """Answers a subscriber's offer with the publisher's media; raises PublisherNotFound."""
        ...

    async def close_participant(self, stage_id: str, participant_id: str) -> None:
        """Ends the participant's publication and subscriptions; ``"*"`` ends the whole stage."""
        ...

    def tap(self, stage_id: str, participant_id: str, kind: str, sink: PacketSink) -> Callable[[], None] | None:
        """Feeds ``sink`` the participant's encoded ``kind`` ("audio", "video") frames; returns the detach
        function, or None when the participant does not publish that kind.

        A video tap asks the publisher for a keyframe. A publication that replaces the participant's
        current one (a second publish while the first is live) inherits its taps, timestamps jumping;
        once the publication has ended, nothing more arrives: tap again when the participant publishes.
        """
        ...

    def request_keyframe(self, stage_id: str, participant_id: str) -> None:
        """Asks the participant for a video keyframe (rate-limited), e.g. where a recording wants a segment."""
        ...

    def codecs(self, stage_id: str, participant_id: str) -> Mapping[str, str] | None:
        """What the participant publishes, kind -> MIME type (as ``MediaSession.codecs``); None if nothing."""
        ...

    async def close(self) -> None: ...
