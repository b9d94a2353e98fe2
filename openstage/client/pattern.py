"""Built-in media for publishing without a camera: a video test pattern and a tone.

Frames are filled with byte operations (no numpy, no per-pixel Python), so a test pattern
costs little next to encoding it. A solid ``colour`` makes what a subscriber decodes easy to check.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array

import av
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

# SMPTE-like bars as (Y, U, V): white, yellow, cyan, green, magenta, red, blue.
BARS = [(235, 128, 128), (210, 16, 146), (170, 166, 16), (145, 54, 34), (106, 202, 222), (81, 90, 240), (41, 240, 110)]
SAMPLE_RATE = 48000
AUDIO_FRAME_SAMPLES = 960  # 20 ms, what Opus sends


class PatternVideoTrack(VideoStreamTrack):
    """Colour bars with a white band moving down them, or one solid ``colour`` (Y, U, V), paced at 30 fps."""

    def __init__(self, width: int = 320, height: int = 240, colour: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._colour = colour
        self._planes: list[bytes] = []  # Y, U, V with each plane's row padding, made at the first frame
        self._count = 0

    def _plane(self, index: int, line_size: int) -> bytes:
        scale = 1 if index == 0 else 2
        width, height = self.width // scale, self.height // scale
        if self._colour is not None:
            row = bytes([self._colour[index]]) * width
        else:
            row = bytes(BARS[x * len(BARS) // width][index] for x in range(width))
        return row.ljust(line_size, b"\0") * height

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        if not self._planes:
            self._planes = [self._plane(i, plane.line_size) for i, plane in enumerate(frame.planes)]
        luma = self._planes[0]
        if self._colour is None:
            line = frame.planes[0].line_size
            row = (self._count * 4) % (self.height - 1)
            luma = luma[: row * line] + b"\xeb" * (2 * line) + luma[(row + 2) * line :]
        for plane, data in zip(frame.planes, [luma, *self._planes[1:]], strict=True):
            plane.update(data)
        self._count += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneAudioTrack(AudioStreamTrack):
    """A stereo sine at ``frequency`` Hz, 48 kHz, in 20 ms frames paced in real time."""

    def __init__(self, frequency: float = 440.0, amplitude: int = 8000) -> None:
        super().__init__()
        period = SAMPLE_RATE  # one second of samples, reused: whole-hertz tones repeat every second
        samples = array("h")
        for i in range(period):
            value = int(amplitude * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE))
            samples.extend((value, value))
        self._second = samples.tobytes() * 2  # twice, so a frame never wraps
        self._sent = 0
        self._start = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._sent == 0:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(self._start + self._sent / SAMPLE_RATE - time.monotonic())
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME_SAMPLES)
        offset = (self._sent % SAMPLE_RATE) * 4
        frame.planes[0].update(self._second[offset : offset + AUDIO_FRAME_SAMPLES * 4])
        frame.pts, frame.sample_rate = self._sent, SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._sent += AUDIO_FRAME_SAMPLES
        return frame
