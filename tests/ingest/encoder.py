"""A real encoder for the ingest tests: Debian's ffmpeg pushing a test pattern and a tone over RTMP(S)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

TONE_HZ = 440.0


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0"]  # no B-frames, as IVS requires


def push_command(
    url: str, *, size: str = "320x240", seconds: float = 30, video: list[str] | None = None, audio: bool = True
) -> list[str]:
    """A test pattern and a tone, a keyframe a second; ``video`` replaces the H.264 options, ``audio=False`` mutes."""
    sound = ["-f", "lavfi", "-i", f"sine=frequency={TONE_HZ}:sample_rate=44100"] if audio else []
    aac = ["-c:a", "aac", "-b:a", "64k"] if audio else ["-an"]
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", f"testsrc=size={size}:rate=30", *sound,
        *(X264 if video is None else video), "-g", "30", "-pix_fmt", "yuv420p", *aac,
        "-t", str(seconds), "-f", "flv", url,
    ]  # fmt: skip


@contextmanager
def pushing(url: str, **options: object) -> Iterator[subprocess.Popen[bytes]]:
    """ffmpeg publishing to ``url`` for the block; stopped (if still running) on the way out."""
    process = subprocess.Popen(push_command(url, **options), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # type: ignore[arg-type]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=15)
