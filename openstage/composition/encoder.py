"""The one encode of a composition: H.264 (baseline, 2 s GOP, the configured bitrate) and AAC.

The encoders live in streams of a "null" container, whose header fills their codec parameters
(SPS/PPS, AudioSpecificConfig); outputs copy those streams as templates and mux the same
packets. SPS/PPS also repeat in-band at every keyframe, which the HLS writer and a reconnecting
RTMP output need.
"""

from __future__ import annotations

import fractions
import os
from dataclasses import dataclass
from typing import Any

import av
from av.video.frame import PictureType

from openstage.composition.mixer import RATE

GOP_SECONDS = 2
AUDIO_BITRATE = 128_000


@dataclass(frozen=True)
class VideoSettings:
    """An encoder configuration's ``video`` (docs 5.1)."""

    width: int
    height: int
    framerate: float
    bitrate: int

    @classmethod
    def from_api(cls, video: dict[str, Any]) -> VideoSettings:
        return cls(int(video["width"]), int(video["height"]), float(video["framerate"]), int(video["bitrate"]))

    @property
    def rendition(self) -> str:
        """``720p30``: how IVS names a composite rendition (docs 5.4), before its id."""
        return f"{min(self.width, self.height)}p{round(self.framerate)}"


# A channel destination without an encoder configuration gets IVS's defaults (docs 5.1).
DEFAULT_VIDEO = VideoSettings(1280, 720, 30.0, 2_500_000)


class Encoder:
    def __init__(self, video: VideoSettings) -> None:
        self.settings = video
        self.rate = fractions.Fraction(video.framerate).limit_denominator(1001)
        self._container = av.open(os.devnull, "w", format="null")
        self.video = self._container.add_stream("libx264", rate=self.rate)
        context = self.video.codec_context
        context.width, context.height = video.width, video.height
        context.pix_fmt = "yuv420p"
        context.bit_rate = video.bitrate
        context.gop_size = max(1, round(video.framerate * GOP_SECONDS))
        context.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "profile": "baseline",
            "forced-idr": "1",
            "x264-params": f"repeat-headers=1:scenecut=0:vbv-maxrate={video.bitrate // 1000}:"
            f"vbv-bufsize={video.bitrate // 1000}",
        }
        context.flags |= av.codec.context.Flags.global_header
        self.audio = self._container.add_stream("aac", rate=RATE)
        self.audio.codec_context.layout = "stereo"
        self.audio.codec_context.bit_rate = AUDIO_BITRATE
        self.audio.codec_context.flags |= av.codec.context.Flags.global_header
        self._container.start_encoding()
        self._keyframe_wanted = False

    def request_keyframe(self) -> None:
        """The next picture is an IDR: a reconnected output can start there."""
        self._keyframe_wanted = True

    def encode_video(self, frame: av.VideoFrame | None) -> list[av.Packet]:
        """``frame`` carries ``pts`` in frames (time base 1/``rate``); None flushes."""
        if frame is not None:
            if (frame.width, frame.height) != (self.settings.width, self.settings.height):
                pts = frame.pts
                frame = frame.reformat(width=self.settings.width, height=self.settings.height)
                frame.pts = pts
            if self._keyframe_wanted:
                frame.pict_type = PictureType.I
                self._keyframe_wanted = False
        return list(self.video.encode(frame))

    def encode_audio(self, frame: av.AudioFrame | None) -> list[av.Packet]:
        return list(self.audio.encode(frame))

    def close(self) -> None:
        self._container.close()
