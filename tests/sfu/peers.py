"""Real aiortc peers for media tests: a publisher whose frames carry a checkable colour and tone,
and subscribers that decode what arrives and check it.

All ICE stays on 127.0.0.1: importing this module makes every peer in the test process gather
only that address, and the peers use no STUN server.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from array import array
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from aiortc.sdp import SessionDescription

from openstage.client.pattern import ToneAudioTrack
from openstage.sfu.aiortc_engine import AiortcEngine
from openstage.sfu.peer import configure_ice, new_peer_connection
from openstage.sfu.publisher import AiortcPublication
from openstage.sfu.subscriber import AiortcSubscription

WIDTH, HEIGHT = 320, 240
# Solid colours as (Y, U, V); the publisher changes colour every FRAMES_PER_COLOUR frames.
PALETTE = [(81, 90, 240), (145, 54, 34), (41, 240, 110), (210, 16, 146)]
FRAMES_PER_COLOUR = 6
COLOUR_TOLERANCE = 40
TONE_HZ = 440


configure_ice(["127.0.0.1"])


def free_udp_ports(count: int) -> int:
    """The first of ``count`` consecutive UDP ports free on 127.0.0.1, below Linux's ephemeral range
    so that peers binding any port (port 0) do not take them meanwhile."""
    for _ in range(100):
        first = random.randrange(10000, 32000 - count)
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sockets.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                sockets[-1].bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise AssertionError(f"no {count} consecutive free UDP ports")


def candidate_ports(sdp: str) -> list[int]:
    """The ports of every ICE candidate in a description."""
    return [c.port for m in SessionDescription.parse(sdp).media for c in m.ice_candidates]


def run(scenario: Coroutine[Any, Any, None], timeout: float = 30.0) -> None:
    """Runs a test scenario on a fresh event loop, failing it (not hanging) after ``timeout``."""
    asyncio.run(asyncio.wait_for(scenario, timeout))


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


class ColourTrack(VideoStreamTrack):
    """30 fps of solid colours cycling through PALETTE."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        y, u, v = PALETTE[(self.count // FRAMES_PER_COLOUR) % len(PALETTE)]
        self.count += 1
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane, value in zip(frame.planes, (y, u, v), strict=True):
            plane.update(bytes([value]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


def capabilities(kind: str, mime: str) -> list:
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == mime.lower()]


async def publisher(video_codecs: list[str], audio: bool = True, video: bool = True) -> tuple[RTCPeerConnection, str]:
    """A sending peer and its offer; ``video_codecs`` in order of preference, e.g. ["video/VP8", "video/H264"]."""
    pc = new_peer_connection()
    if audio:
        pc.addTransceiver(ToneAudioTrack(TONE_HZ), direction="sendonly")
    if video:
        transceiver = pc.addTransceiver(ColourTrack(), direction="sendonly")
        preferences = [c for mime in video_codecs for c in capabilities("video", mime)]
        transceiver.setCodecPreferences(preferences + capabilities("video", "video/rtx"))
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


@dataclass
class Watcher:
    """Reads one received track, decoded by aiortc, and keeps what the test checks."""

    track: MediaStreamTrack
    colours: list[int | None] = field(default_factory=list)
    first_frame_at: float | None = None
    loud_frames: int = 0
    frames: int = 0
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> Watcher:
        self.paused.set()
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        try:
            while True:
                await self.paused.wait()
                frame = await self.track.recv()
                self.frames += 1
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    self.colours.append(colour_of(frame))
                elif rms(frame) > 1000:
                    self.loud_frames += 1
        except MediaStreamError:
            pass

    async def wait_frames(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < count:
            assert time.monotonic() < deadline, f"{self.track.kind}: {self.frames} frames, wanted {count}"
            await asyncio.sleep(0.02)


def colour_of(frame: av.VideoFrame) -> int | None:
    """Index in PALETTE of the frame's centre colour, or None when it matches none."""
    assert (frame.width, frame.height) == (WIDTH, HEIGHT)
    samples = []
    for index, plane in enumerate(frame.planes[:3]):
        scale = 1 if index == 0 else 2
        row, col = HEIGHT // 2 // scale, WIDTH // 2 // scale
        samples.append(bytes(plane)[plane.line_size * row + col])
    distances = [max(abs(a - b) for a, b in zip(samples, colour, strict=True)) for colour in PALETTE]
    best = min(range(len(PALETTE)), key=distances.__getitem__)
    return best if distances[best] <= COLOUR_TOLERANCE else None


def rms(frame: av.AudioFrame) -> float:
    samples = array("h", bytes(frame.planes[0]))
    return math.sqrt(sum(s * s for s in samples[::8]) / max(1, len(samples[::8])))


class Subscriber:
    """A receive-only peer with one watcher per incoming track; ``video_codecs`` narrows its offer."""

    def __init__(self, kinds: tuple[str, ...] = ("audio", "video"), video_codecs: list[str] | None = None) -> None:
        self.pc = new_peer_connection()
        self.watchers: dict[str, Watcher] = {}
        self.answered_at = 0.0
        for kind in kinds:
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if kind == "video" and video_codecs:
                preferences = [c for mime in video_codecs for c in capabilities("video", mime)]
                transceiver.setCodecPreferences(preferences + capabilities("video", "video/rtx"))
        self.pc.on("track", lambda track: self.watchers.setdefault(track.kind, Watcher(track).start()))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        self.answered_at = time.monotonic()

    @property
    def video(self) -> Watcher:
        return self.watchers["video"]

    @property
    def audio(self) -> Watcher:
        return self.watchers["audio"]

    def first_frame_delay(self) -> float:
        assert self.video.first_frame_at is not None
        return self.video.first_frame_at - self.answered_at

    async def close(self) -> None:
        await self.pc.close()


def answer_codecs(answer_sdp: str) -> dict[str, list[str]]:
    """kind -> the MIME types an answer lists (RTX left out), in order."""
    description = SessionDescription.parse(answer_sdp)
    return {m.kind: [c.mimeType for c in m.rtp.codecs if c.name.lower() != "rtx"] for m in description.media}


def candidate_hosts(answer_sdp: str) -> list[list[str]]:
    """Per m-section, the hosts of its ICE candidates."""
    description = SessionDescription.parse(answer_sdp)
    return [[c.ip for c in m.ice_candidates] for m in description.media]


class EngineStage:
    """An in-process engine with real client peers; ``close`` closes everything, so no thread outlives a test."""

    def __init__(self, stage_id: str = "stage", connect_timeout: float = 15.0) -> None:
        self.stage_id = stage_id
        self.engine = AiortcEngine(["127.0.0.1"], connect_timeout=connect_timeout)
        self.peers: list[RTCPeerConnection] = []

    async def publish(
        self, participant_id: str, video_codecs: list[str], audio: bool = True
    ) -> tuple[AiortcPublication, RTCPeerConnection]:
        pc, offer = await publisher(video_codecs, audio=audio)
        self.peers.append(pc)
        publication = await self.engine.publish(self.stage_id, participant_id, offer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=publication.answer_sdp, type="answer"))
        return publication, pc

    async def subscribe(
        self, subscriber_id: str, publisher_id: str, **options: Any
    ) -> tuple[AiortcSubscription, Subscriber]:
        client = Subscriber(**options)
        self.peers.append(client.pc)
        subscription = await self.engine.subscribe(self.stage_id, subscriber_id, publisher_id, await client.offer())
        await client.accept(subscription.answer_sdp)
        return subscription, client

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.peers))
        await self.engine.close()


def engine_scenario(scenario: Callable[[EngineStage], Coroutine[Any, Any, None]], **options: Any) -> None:
    async def main() -> None:
        stage = EngineStage(**options)
        try:
            await scenario(stage)
        finally:
            await stage.close()

    run(main())
