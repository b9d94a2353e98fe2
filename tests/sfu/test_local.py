"""Local publications: frames delivered in-process reach subscriber tracks and taps; closing ends them."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from openstage.sfu.aiortc_engine import AiortcEngine
from openstage.sfu.forwarding import ForwardedTrack
from openstage.sfu.local import LocalPublication

CODECS = {"video": "video/H264", "audio": "audio/opus"}


class Tap:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, bool]] = []

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self.frames.append((bytes(packet), keyframe))


def test_delivered_frames_reach_subscribers_keyframe_first_and_taps() -> None:
    async def scenario() -> None:
        asked: list[int] = []
        publication = LocalPublication("stage", "p", CODECS, lambda: asked.append(1))
        track = ForwardedTrack("video", publication.sources["video"])  # asks for a keyframe at once
        tap = Tap()
        publication.sources["audio"].tap(tap)
        publication.deliver("video", av.Packet(b"delta"), False)  # skipped: the subscriber waits for a keyframe
        publication.deliver("video", av.Packet(b"key"), True)
        publication.deliver("audio", av.Packet(b"opus"), True)
        assert bytes(await track.recv()) == b"key"
        assert tap.frames == [(b"opus", True)] and asked
        publication.close_soon("done")
        assert publication.ended.is_set() and publication.end_reason == "done"
        with pytest.raises(MediaStreamError):
            await track.recv()
        publication.deliver("audio", av.Packet(b"late"), True)
        assert len(tap.frames) == 1

    asyncio.run(scenario())


def test_the_engine_replaces_a_participants_publication_and_forgets_an_ended_one() -> None:
    async def scenario() -> None:
        engine = AiortcEngine(["127.0.0.1"])  # ICE settings are process-wide: keep every peer on loopback
        first = await engine.publish_local("stage", "p", CODECS)
        second = await engine.publish_local("stage", "p", {"audio": "audio/opus"})
        assert first.ended.is_set() and first.end_reason == "replaced"
        assert engine.codecs("stage", "p") == {"audio": "audio/opus"}
        await engine.close_participant("stage", "p")
        assert second.ended.is_set() and engine.codecs("stage", "p") is None

    asyncio.run(scenario())
