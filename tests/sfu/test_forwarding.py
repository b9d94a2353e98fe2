"""The per-subscriber queue: keyframe-first start, bounded lag, resync, and rate-limited keyframe requests."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError

from openstage.sfu.forwarding import KEYFRAME_REQUEST_INTERVAL, ForwardedTrack, TrackSource
from tests.sfu.peers import run


def frame(n: int) -> av.Packet:
    packet = av.Packet(bytes([n % 256]))
    packet.pts = n
    return packet


class Upstream:
    def __init__(self) -> None:
        self.requests = 0

    def __call__(self) -> None:
        self.requests += 1


def test_a_new_video_subscriber_starts_on_a_keyframe_and_asks_for_one():
    async def scenario() -> None:
        upstream = Upstream()
        source = TrackSource("video", upstream)
        track = ForwardedTrack("video", source)
        assert upstream.requests == 1
        source.deliver(frame(1), keyframe=False)
        assert not track.frames
        source.deliver(frame(2), keyframe=True)
        source.deliver(frame(3), keyframe=False)
        assert [(await track.recv()).pts, (await track.recv()).pts] == [2, 3]

    run(scenario())


def test_a_lagging_video_subscriber_drops_its_backlog_and_resyncs_on_a_keyframe():
    async def scenario() -> None:
        upstream = Upstream()
        source = TrackSource("video", upstream)
        track = ForwardedTrack("video", source)
        source.deliver(frame(0), keyframe=True)
        for n in range(1, track.limit + 5):
            source.deliver(frame(n), keyframe=False)
        assert track.resyncs == 1 and track.waiting_for_keyframe and not track.frames
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        source.deliver(frame(100), keyframe=False)
        assert upstream.requests == 2, "the resync asks for a keyframe"
        source.deliver(frame(101), keyframe=True)
        assert (await track.recv()).pts == 101

    run(scenario())


def test_a_keyframe_arriving_on_a_full_queue_starts_it_afresh():
    async def scenario() -> None:
        source = TrackSource("video")
        track = ForwardedTrack("video", source)
        for n in range(track.limit):
            source.deliver(frame(n), keyframe=n == 0)
        source.deliver(frame(999), keyframe=True)
        assert [p.pts for p in track.frames] == [999] and not track.waiting_for_keyframe

    run(scenario())


def test_audio_drops_its_oldest_frames_and_needs_no_keyframe():
    async def scenario() -> None:
        source = TrackSource("audio")
        track = ForwardedTrack("audio", source)
        for n in range(track.limit + 3):
            source.deliver(frame(n), keyframe=True)
        assert len(track.frames) == track.limit and track.frames[0].pts == 3

    run(scenario())


def test_one_slow_subscriber_does_not_hold_back_another():
    async def scenario() -> None:
        source = TrackSource("audio")
        slow, fast = ForwardedTrack("audio", source), ForwardedTrack("audio", source)
        received = []

        async def read() -> None:
            while True:
                received.append((await fast.recv()).pts)

        reader = asyncio.ensure_future(read())
        for n in range(200):
            source.deliver(frame(n), keyframe=True)
            await asyncio.sleep(0)
        reader.cancel()
        assert received == list(range(200)) and len(slow.frames) == slow.limit

    run(scenario())


def test_keyframe_requests_are_rate_limited():
    async def scenario() -> None:
        upstream = Upstream()
        source = TrackSource("video", upstream)
        for _ in range(10):
            source.request_keyframe()
        assert upstream.requests == 1
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        source.request_keyframe()
        assert upstream.requests == 2

    run(scenario())


def test_a_stopped_track_ends_its_reader_and_leaves_the_source():
    async def scenario() -> None:
        source = TrackSource("audio")
        track = ForwardedTrack("audio", source)
        reader = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        track.stop()
        with pytest.raises(MediaStreamError):
            await reader
        assert source.sinks == []

    run(scenario())
