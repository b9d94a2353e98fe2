"""What the ingest tests share: polling, the configuration's state, the event log, a subscriber that decodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import av

from openstage.client import Participant

LOOPBACK = ["127.0.0.1"]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


def configuration(ivs: Any, stage: dict[str, Any], protocol: str = "RTMPS", **extra: Any) -> dict[str, Any]:
    created = ivs.create_ingest_configuration(stageArn=stage["arn"], ingestProtocol=protocol, **extra)
    return created["ingestConfiguration"]  # type: ignore[no-any-return]


def state(ivs: Any, config: dict[str, Any]) -> str:
    return ivs.get_ingest_configuration(arn=config["arn"])["ingestConfiguration"]["state"]  # type: ignore[no-any-return]


def events(ivs: Any, stage: dict[str, Any], participant_id: str) -> list[dict[str, Any]]:
    sessions = ivs.list_stage_sessions(stageArn=stage["arn"])["stageSessions"]
    found: list[dict[str, Any]] = []
    for session in sessions:
        found += ivs.list_participant_events(
            stageArn=stage["arn"], sessionId=session["sessionId"], participantId=participant_id
        )["events"]
    return found


def watch(token: str, publisher_id: str) -> tuple[list[av.VideoFrame], list[av.AudioFrame]]:
    """Joins, waits for ``publisher_id`` to publish, then decodes 2 s of its video and audio."""

    async def scenario() -> tuple[list[av.VideoFrame], list[av.AudioFrame]]:
        async with Participant(token, ice_addresses=LOOPBACK) as viewer:
            deadline = time.monotonic() + 20
            while publisher_id not in viewer.roster:
                assert time.monotonic() < deadline, "the encoder never appeared in the roster"
                await asyncio.sleep(0.05)
            subscription = await viewer.subscribe(publisher_id)
            assert subscription.codecs == {"video": "video/H264", "audio": "audio/opus"}
            video: list[av.VideoFrame] = []
            audio: list[av.AudioFrame] = []

            async def take(frames: Any, into: list[Any], count: int) -> None:
                async for frame in frames:
                    into.append(frame)
                    if len(into) >= count:
                        return

            await asyncio.gather(
                take(subscription.video_frames(), video, 60), take(subscription.audio_frames(), audio, 100)
            )
            return video, audio

    return asyncio.run(asyncio.wait_for(scenario(), 60))
