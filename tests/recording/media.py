"""What the recording tests share: a real publisher, polling boto3 for recording states, reading a recording back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from openstage.client import Participant
from openstage.client.pattern import PatternVideoTrack, ToneAudioTrack

LOOPBACK = ["127.0.0.1"]


def recording_config(storage_arn: str, **overrides: Any) -> dict[str, Any]:
    """Segments of 2 s and a thumbnail every 2 s (both kinds): a 10 s recording has several of each."""
    config: dict[str, Any] = {
        "storageConfigurationArn": storage_arn,
        "mediaTypes": ["AUDIO_VIDEO"],
        "thumbnailConfiguration": {"recordingMode": "INTERVAL", "targetIntervalSeconds": 2, "storage": ["SEQUENTIAL"]},
        "hlsConfiguration": {"targetSegmentDurationSeconds": 2},
    }
    config.update(overrides)
    return config


async def publish_for(
    participant: Participant, seconds: float, codec: str = "H264", colour: tuple[int, int, int] | None = None
) -> None:
    """Publishes a test pattern (or one solid (Y, U, V) ``colour``) and a tone for ``seconds``, then unpublishes."""
    video = PatternVideoTrack(320, 240, colour)
    await participant.publish(video=video, audio=ToneAudioTrack(), video_codec=codec)
    await asyncio.sleep(seconds)
    await participant.unpublish()


def run(scenario: Callable[[], Any], timeout: float = 90.0) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout))


def token(ivs: Any, stage_arn: str, user: str = "alice") -> dict[str, Any]:
    created = ivs.create_participant_token(stageArn=stage_arn, userId=user, capabilities=["PUBLISH", "SUBSCRIBE"])
    return dict(created["participantToken"])


def session_id(ivs: Any, stage_arn: str) -> str:
    return str(ivs.list_stage_sessions(stageArn=stage_arn)["stageSessions"][0]["sessionId"])


def wait_participant(
    ivs: Any, stage_arn: str, participant_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> dict[str, Any]:
    """GetParticipant, polled until ``condition`` holds (in the stage's newest session)."""
    deadline = time.monotonic() + timeout
    participant: dict[str, Any] = {}
    while time.monotonic() < deadline:
        sessions = ivs.list_stage_sessions(stageArn=stage_arn)["stageSessions"]
        if sessions:
            found = ivs.get_participant(
                stageArn=stage_arn, sessionId=sessions[0]["sessionId"], participantId=participant_id
            )
            participant = found["participant"]
            if condition(participant):
                return participant
        time.sleep(0.1)
    raise AssertionError(f"participant never matched; last seen {participant}")


def state_is(*states: str) -> Callable[[dict[str, Any]], bool]:
    return lambda participant: participant.get("recordingState") in states


class Recording:
    """One recording's objects by key relative to its prefix, whichever backend held them."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def json(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self.objects[f"events/{name}"]))

    def playlist(self) -> str:
        return self.objects["media/hls/high/playlist.m3u8"].decode()

    def segments(self) -> list[str]:
        return [line for line in self.playlist().splitlines() if line and not line.startswith("#")]

    def thumbnails(self) -> list[str]:
        return sorted(key for key in self.objects if key.startswith("media/thumbnails/high/"))

    def decode(self, folder: Path) -> dict[str, Any]:
        """Writes the HLS tree to ``folder`` and decodes all of it through the multivariant playlist."""
        for key, body in self.objects.items():
            path = folder / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        found: dict[str, Any] = {"video_frames": 0, "audio_frames": 0, "video_codec": None, "audio_codec": None}
        found["loud_audio_frames"], found["centre_colours"] = 0, []
        last = {"video": 0.0, "audio": 0.0}
        with av.open(str(folder / "media/hls/multivariant.m3u8")) as container:
            for stream in container.streams:
                found[f"{stream.type}_codec"] = stream.codec_context.name
            for frame in container.decode(*container.streams):
                kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
                found[f"{kind}_frames"] += 1
                if frame.time is not None:
                    last[kind] = max(last[kind], frame.time)
                if kind == "video":
                    found["size"] = (frame.width, frame.height)
                    found["centre_colours"].append(centre_colour(frame))
                elif loudness(frame) > 0.05:
                    found["loud_audio_frames"] += 1
        found["video_seconds"], found["audio_seconds"] = last["video"], last["audio"]
        return found


def centre_colour(frame: av.VideoFrame) -> tuple[int, int, int]:
    """(Y, U, V) at the middle of the picture."""
    yuv = frame.reformat(format="yuv420p")
    samples = []
    for index, plane in enumerate(yuv.planes[:3]):
        scale = 1 if index == 0 else 2
        row, col = yuv.height // 2 // scale, yuv.width // 2 // scale
        samples.append(bytes(plane)[plane.line_size * row + col])
    return samples[0], samples[1], samples[2]


def loudness(frame: av.AudioFrame) -> float:
    """Peak amplitude of the first channel, 0 to 1 (AAC decodes to float planes)."""
    return float(abs(frame.to_ndarray()[0]).max())


def local_recording(bucket_folder: Path, prefix: str) -> Recording:
    root = bucket_folder / prefix
    return Recording({str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()})
