"""``openstage participant publish|watch``: join a stage from a terminal with the participant SDK.

``publish`` sends a media file, once, or a test pattern with a 440 Hz tone; ``watch``
subscribes to every publisher and prints roster changes and, each second, what arrives from
each one. Any refusal or removal ends the command with exit code 1 and a one-line message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import av
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack

from openstage.client.participant import (
    JoinError,
    Participant,
    ParticipantError,
    RemoteParticipant,
    StageLeft,
    Subscription,
)
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack
from openstage.client.whip_http import WhipError

REPORT_INTERVAL_SECONDS = 1.0


def run(args: argparse.Namespace) -> int:
    """Runs ``args.action`` ("publish" or "watch"); returns the exit code."""
    addresses = [a.strip() for a in args.ice_addresses.split(",") if a.strip()] if args.ice_addresses else None
    try:
        participant = Participant(args.token, ice_addresses=addresses)
        if args.action == "publish":
            asyncio.run(publish(participant, args.file, args.video_codec, args.seconds))
        else:
            asyncio.run(watch(participant, args.seconds))
    except KeyboardInterrupt:
        return 0
    except (ParticipantError, WhipError, ConnectionError, OSError, av.FFmpegError) as error:
        print(f"openstage participant: {describe(error)}", file=sys.stderr)
        return 1
    return 0


def describe(error: BaseException) -> str:
    if isinstance(error, JoinError):
        return f"cannot join the stage: {error}"
    if isinstance(error, StageLeft):
        return f"removed from the stage: {error}"
    if isinstance(error, WhipError):
        return f"the stage refused the media connection: {error}"
    return str(error) or type(error).__name__


async def publish(participant: Participant, path: str | None, video_codec: str | None, seconds: float | None) -> None:
    """Publishes until ``seconds`` have passed, the file has played or the stage removes the participant.

    A file plays once: aiortc's looping ``MediaPlayer`` restarts timestamps at zero, which stalls receivers.
    """
    tracks: list[MediaStreamTrack] = []
    played = asyncio.Event()
    if path:
        player = MediaPlayer(path)
        video, audio = player.video, player.audio
        tracks = [t for t in (video, audio) if t is not None]
        for track in tracks:
            track.on("ended", played.set)
    else:
        video, audio = PatternVideoTrack(), ToneAudioTrack()
    try:
        async with participant:
            publication = await participant.publish(video=video, audio=audio, video_codec=video_codec)
            codecs = ", ".join(f"{kind} {mime.split('/')[1]}" for kind, mime in sorted(publication.codecs.items()))
            claims = participant.claims
            print(f"publishing as {claims.participant_id} (user {claims.user_id or '-'}): {codecs}", flush=True)
            await _until_left(participant, seconds, played)
    finally:
        for track in tracks:
            track.stop()  # ends the player's decoding thread


async def watch(participant: Participant, seconds: float | None) -> None:
    """Subscribes to every publisher, those already there and those to come, and reports each second."""
    watched: dict[str, Watched] = {}
    tasks: set[asyncio.Task[None]] = set()

    def follow(remote: RemoteParticipant) -> None:
        if remote.is_publishing and remote.id not in watched:
            watched[remote.id] = Watched(remote)
            watched[remote.id].task = task = asyncio.create_task(watched[remote.id].run(participant))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def joined(remote: RemoteParticipant) -> None:
        print(f"joined: {remote.id} (user {remote.user_id or '-'}) {_flags(remote)}", flush=True)
        follow(remote)

    def updated(remote: RemoteParticipant) -> None:
        print(f"updated: {remote.id} (user {remote.user_id or '-'}) {_flags(remote)}", flush=True)
        follow(remote)

    def left(remote: RemoteParticipant) -> None:
        print(f"left: {remote.id} (user {remote.user_id or '-'})", flush=True)
        gone = watched.pop(remote.id, None)
        if gone is not None and gone.task is not None:
            gone.task.cancel()

    # Registered before joining, so those already publishing are reported as joined too.
    participant.on_participant_joined(joined)
    participant.on_participant_updated(updated)
    participant.on_participant_left(left)
    async with participant:
        print(f"watching as {participant.participant_id} (stage {participant.claims.topic})", flush=True)
        reporter = asyncio.create_task(_report(watched))
        try:
            await _until_left(participant, seconds)
        finally:
            for task in (reporter, *tasks):
                task.cancel()
            await asyncio.gather(reporter, *tasks, return_exceptions=True)


async def _until_left(participant: Participant, seconds: float | None, done: asyncio.Event | None = None) -> None:
    """Returns after ``seconds`` (None: never) or once ``done`` is set; raises ``StageLeft`` if the stage
    ends the participation first."""
    left = asyncio.ensure_future(participant.wait_left())
    finished = asyncio.ensure_future((done or asyncio.Event()).wait())
    await asyncio.wait([left, finished], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finished.cancel()
    if left.done():
        raise left.result()
    left.cancel()


@dataclass(eq=False)
class Watched:
    """What arrives from one publisher, counted between two reports."""

    remote: RemoteParticipant
    task: asyncio.Task[None] | None = None
    codecs: dict[str, str] = field(default_factory=dict)
    video_frames: int = 0
    size: str = "-"
    audio_rms: float | None = None
    error: str = ""

    async def run(self, participant: Participant) -> None:
        try:
            subscription = await participant.subscribe(self.remote.id)
        except (WhipError, ConnectionError) as error:
            self.error = f"cannot subscribe: {describe(error)}"
            return
        self.codecs = subscription.codecs
        try:
            await asyncio.gather(self._video(subscription), self._audio(subscription))
        finally:
            with contextlib.suppress(ParticipantError):
                await participant.unsubscribe(self.remote.id)

    async def _video(self, subscription: Subscription) -> None:
        async for frame in subscription.video_frames():
            self.video_frames += 1
            self.size = f"{frame.width}x{frame.height}"

    async def _audio(self, subscription: Subscription) -> None:
        async for frame in subscription.audio_frames():
            if frame.format.name == "s16":
                data = bytes(frame.planes[0])[: frame.samples * len(frame.layout.channels) * 2]  # planes are padded
                samples = array("h", data)[::7]
                rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))
                self.audio_rms = max(self.audio_rms or 0.0, rms)

    def report(self, elapsed: float) -> str:
        video, audio = self.codecs.get("video", "-"), self.codecs.get("audio", "-")
        fps = self.video_frames / elapsed
        level = "silent" if not self.audio_rms else f"{20 * math.log10(self.audio_rms / 32768):.1f} dBFS"
        self.video_frames, self.audio_rms = 0, None
        line = f"{self.remote.id} (user {self.remote.user_id or '-'}): video {video.split('/')[-1]} {self.size} "
        line += f"{fps:.1f} fps, audio {audio.split('/')[-1]} {level}"
        return f"{line} [{self.error}]" if self.error else line


async def _report(watched: dict[str, Watched]) -> None:
    last = time.monotonic()
    while True:
        await asyncio.sleep(REPORT_INTERVAL_SECONDS)
        now = time.monotonic()
        for each in list(watched.values()):
            print(each.report(now - last), flush=True)
        last = now


def _flags(remote: RemoteParticipant) -> str:
    flags: Sequence[str] = [
        name
        for name, on in (
            ("publishing", remote.is_publishing),
            ("audio-muted", remote.audio_muted),
            ("video-stopped", remote.video_stopped),
        )
        if on
    ]
    return ", ".join(flags) or "not publishing"
