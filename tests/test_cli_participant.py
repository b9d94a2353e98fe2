"""``openstage participant publish|watch`` as subprocesses against a real server, all ICE on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import math
import re
import signal
import subprocess
import sys
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import av
import pytest

from tests.server import Server

COMMAND = [sys.executable, "-m", "openstage.cli", "participant"]
LOOPBACK = ["--ice-addresses", "127.0.0.1"]


@pytest.fixture(scope="module")
def media_server(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite", args=["--ice-addresses", "127.0.0.1"])


@pytest.fixture
def ivs(media_server: Server) -> Any:
    return media_server.client()


@pytest.fixture
def stage(ivs: Any) -> dict[str, Any]:
    return ivs.create_stage(name="cli")["stage"]  # type: ignore[no-any-return]


def token(ivs: Any, stage: dict[str, Any], user: str, *capabilities: str) -> dict[str, str]:
    created = ivs.create_participant_token(stageArn=stage["arn"], userId=user, capabilities=list(capabilities))
    return created["participantToken"]  # type: ignore[no-any-return]


def participant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=60)


def read_until(stream: IO[str], wanted: str) -> str:
    """Lines up to ``wanted`` (or the end of the stream), joined."""
    lines: list[str] = []
    while not lines or lines[-1] not in (wanted, ""):
        lines.append(stream.readline())
    return "".join(lines)


def test_watch_reports_what_publish_sends_and_a_kick_ends_publish(ivs: Any, stage: dict[str, Any]) -> None:
    alice = token(ivs, stage, "alice", "PUBLISH")
    viewer = token(ivs, stage, "viewer", "SUBSCRIBE")
    publisher = subprocess.Popen(
        [*COMMAND, "publish", "--token", alice["token"], "--seconds", "60", *LOOPBACK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert publisher.stdout is not None
        started = publisher.stdout.readline()
        assert started.startswith(f"publishing as {alice['participantId']} (user alice): audio opus, video H264")
        watched = participant("watch", "--token", viewer["token"], "--seconds", "4", *LOOPBACK)
        assert watched.returncode == 0, watched.stderr
        lines = watched.stdout.splitlines()
        assert f"joined: {alice['participantId']} (user alice) publishing" in lines
        who = rf"{alice['participantId']} \(user alice\)"
        pattern = rf"{who}: video H264 320x240 ([\d.]+) fps, audio opus (-[\d.]+) dBFS"
        reports = [re.fullmatch(pattern, line) for line in lines]
        rates = [float(found.group(1)) for found in reports if found]
        assert rates and max(rates) > 0, watched.stdout
        print(f"\nwatch saw {rates} fps")

        ivs.disconnect_participant(stageArn=stage["arn"], participantId=alice["participantId"], reason="bye")
        _, error = publisher.communicate(timeout=30)
        assert publisher.returncode == 1
        assert error == "openstage participant: removed from the stage: PARTICIPANT_DISCONNECTED: bye\n"
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait()

    kicked = participant("watch", "--token", alice["token"], "--seconds", "1")
    assert kicked.returncode == 1 and len(kicked.stderr.strip().splitlines()) == 1
    assert kicked.stderr.startswith("openstage participant: cannot join the stage: PARTICIPANT_DISCONNECTED")


def test_bad_tokens_are_one_line_errors(ivs: Any, stage: dict[str, Any]) -> None:
    header, claims, signature = token(ivs, stage, "late", "PUBLISH")["token"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    expired = base64.urlsafe_b64encode(json.dumps({**decoded, "exp": 1}).encode()).decode().rstrip("=")
    for action, bad, code in (
        ("publish", f"{header}.{expired}.{signature}", "TOKEN_EXPIRED"),
        ("watch", "garbage", "TOKEN_INVALID"),
    ):
        result = participant(action, "--token", bad, "--seconds", "1")
        assert result.returncode == 1
        assert result.stderr.startswith(f"openstage participant: cannot join the stage: {code}")
        assert len(result.stderr.strip().splitlines()) == 1
    assert participant("watch").returncode == 2  # --token is required


def write_clip(path: Path, seconds: int = 3) -> None:
    """An H.264 + AAC MP4: a grey picture brightening over time and a 500 Hz tone."""
    with av.open(str(path), "w") as clip:
        video = clip.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = clip.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for index in range(25 * seconds):
            picture = av.VideoFrame(320, 240, "yuv420p")
            for plane, value in zip(picture.planes, (index * 3 % 256, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            picture.pts = index
            clip.mux(video.encode(picture))
        for index in range(48000 * seconds // 1024):
            start = index * 1024
            tone = array("h", (int(8000 * math.sin(2 * math.pi * 500 * (start + k) / 48000)) for k in range(1024)))
            sound = av.AudioFrame(format="s16", layout="mono", samples=1024)
            sound.planes[0].update(tone.tobytes())
            sound.sample_rate, sound.pts = 48000, start
            clip.mux(audio.encode(sound))
        clip.mux(video.encode(None) + audio.encode(None))


def test_a_file_is_published_once(ivs: Any, stage: dict[str, Any], tmp_path: Path) -> None:
    write_clip(tmp_path / "clip.mp4")
    alice = token(ivs, stage, "alice", "PUBLISH")
    viewer = token(ivs, stage, "viewer", "SUBSCRIBE")
    watcher = subprocess.Popen(
        [*COMMAND, "watch", "--token", viewer["token"], "--seconds", "30", *LOOPBACK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().startswith("watching as ")
        args = ["--file", str(tmp_path / "clip.mp4"), "--video-codec", "VP8", *LOOPBACK]
        published = participant("publish", "--token", alice["token"], *args)
        assert published.returncode == 0, published.stderr
        assert published.stdout == f"publishing as {alice['participantId']} (user alice): audio opus, video VP8\n"
        output = read_until(watcher.stdout, f"left: {alice['participantId']} (user alice)\n")
        watcher.send_signal(signal.SIGINT)  # Ctrl-C: leaves the stage and exits 0
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    who = rf"{alice['participantId']} \(user alice\)"
    rates = re.findall(rf"{who}: video VP8 320x240 ([\d.]+) fps, audio opus -", output)
    assert rates and max(map(float, rates)) > 0, output
