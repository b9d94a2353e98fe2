"""Sums every participant's audio into one 48 kHz stereo track, a video frame's worth at a time."""

from __future__ import annotations

import threading

import av
import numpy as np

RATE = 48000
MAX_BUFFERED = RATE // 2  # samples per participant; more means it sends faster than real time: drop the oldest


class AudioBuffer:
    """One participant's decoded audio waiting to be mixed, as float32 stereo; its decoder adds, the mixer takes."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._lock = threading.Lock()

    def add(self, frame: av.AudioFrame) -> None:
        chunks = [
            converted.to_ndarray().astype(np.float32, copy=False) for converted in self._resampler.resample(frame)
        ]
        with self._lock:
            for chunk in chunks:
                self._chunks.append(chunk)
                self._samples += chunk.shape[1]
            while self._samples > MAX_BUFFERED and len(self._chunks) > 1:
                self._samples -= self._chunks.pop(0).shape[1]

    def take(self, samples: int) -> np.ndarray | None:
        """Up to ``samples`` samples, padded with silence; None if nothing is buffered."""
        with self._lock:
            return self._take(samples)

    def _take(self, samples: int) -> np.ndarray | None:
        if not self._samples:
            return None
        joined = np.concatenate(self._chunks, axis=1) if len(self._chunks) > 1 else self._chunks[0]
        taken, rest = joined[:, :samples], joined[:, samples:]
        self._chunks = [rest] if rest.shape[1] else []
        self._samples = rest.shape[1]
        if taken.shape[1] < samples:
            taken = np.pad(taken, ((0, 0), (0, samples - taken.shape[1])))
        return taken


def mix(buffers: list[AudioBuffer], samples: int, pts: int) -> av.AudioFrame:
    """``samples`` of everyone's audio summed and clipped (silence when nobody speaks), at ``pts`` (1/48000)."""
    total = np.zeros((2, samples), np.float32)
    for buffer in buffers:
        taken = buffer.take(samples)
        if taken is not None:
            total += taken
    np.clip(total, -1.0, 1.0, out=total)
    frame = av.AudioFrame.from_ndarray(total, format="fltp", layout="stereo")
    frame.sample_rate = RATE
    frame.pts = pts
    return frame
