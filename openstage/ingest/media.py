"""An encoder's FLV audio and video turned into what a local publication forwards, with IVS's rules checked.

Video stays H.264 (re-framed only, h264.py), audio becomes Opus (opus.py). The rules are those
of the IVS media specification (docs 7.1): H.264 video and AAC audio, both present, no B-frames,
at most 720p and 8.5 Mb/s. A broken rule raises :class:`IngestViolation` with the participant
event's errorCode; the caller records it and disconnects the encoder.
"""

from __future__ import annotations

import fractions
from collections import deque
from collections.abc import Callable
from typing import Any

import av

from openstage.ingest import flv
from openstage.ingest.h264 import AvcConfig, AvcError, parse_config, to_annex_b
from openstage.ingest.opus import AacToOpus

MAX_BITRATE = 8_500_000  # bits per second, audio and video together
MAX_LONG_SIDE, MAX_SHORT_SIDE = 1280, 720  # 720p, landscape or portrait
BITRATE_WINDOW_MS = 4000  # averaged over this much media time…
BITRATE_MIN_SPAN_MS = 2000  # …once at least this much has been seen, so one large keyframe is no violation
MISSING_TRACK_MS = 5000  # media time by which both audio and video must have started
VIDEO_TIME_BASE = fractions.Fraction(1, 1000)  # RTMP timestamps are milliseconds

# (kind, packet, keyframe), as LocalPublication.deliver takes them
Deliver = Callable[[str, av.Packet, bool], None]


class IngestViolation(Exception):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class MediaConverter:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._avc: AvcConfig | None = None
        self._opus: AacToOpus | None = None
        self._seen: dict[str, int] = {}  # kind -> first timestamp
        self._bytes: deque[tuple[int, int]] = deque()  # (timestamp, size) within the bitrate window
        self._window_bytes = 0
        self.video_frames = 0
        self.audio_packets = 0

    def metadata(self, values: dict[str, Any]) -> None:
        """``onMetaData``: the declared size is checked before any frame arrives."""
        width, height = values.get("width"), values.get("height")
        if isinstance(width, float) and isinstance(height, float):
            check_resolution(int(width), int(height))

    def video(self, timestamp: int, body: bytes) -> None:
        tag: flv.VideoTag = _checked(flv.video_tag, body)
        if tag.codec != "avc":
            raise IngestViolation("INVALID_VIDEO_CODEC", f"the video is {tag.codec}; only H.264 (AVC) is accepted")
        self._account("video", timestamp, len(body))
        if tag.packet_type == flv.SEQUENCE_HEADER:
            self._avc = _checked(parse_config, tag.data)
            return
        if tag.packet_type != flv.DATA or not tag.data:
            return
        if tag.composition_time != 0:
            raise IngestViolation(
                "B_FRAME_PRESENT", "the video has B-frames (frames out of display order); disable them in the encoder"
            )
        config = self._avc
        if config is None:
            return  # frames before the sequence header cannot be decoded by anyone
        frame, idr = _checked(lambda data: to_annex_b(data, config), tag.data)
        if not frame:
            return
        packet = av.Packet(frame)
        packet.pts = packet.dts = timestamp
        packet.time_base = VIDEO_TIME_BASE
        self.video_frames += 1
        self._deliver("video", packet, idr)

    def audio(self, timestamp: int, body: bytes) -> None:
        tag: flv.AudioTag = _checked(flv.audio_tag, body)
        if tag.codec != "aac":
            raise IngestViolation("INVALID_AUDIO_CODEC", f"the audio is {tag.codec}; only AAC is accepted")
        self._account("audio", timestamp, len(body))
        if tag.packet_type == flv.SEQUENCE_HEADER:
            try:
                self._opus = AacToOpus(tag.data)
            except (av.FFmpegError, ValueError) as error:
                raise IngestViolation("INVALID_AUDIO_CODEC", f"the AAC configuration is unusable: {error}") from None
            return
        if self._opus is None or not tag.data:
            return
        try:
            packets = self._opus.transcode(tag.data, timestamp)
        except av.FFmpegError as error:
            raise IngestViolation("INVALID_INPUT", f"an AAC frame could not be decoded: {error}") from None
        for packet in packets:
            self.audio_packets += 1
            self._deliver("audio", packet, True)

    def _account(self, kind: str, timestamp: int, size: int) -> None:
        """Both kinds present within MISSING_TRACK_MS, and the bitrate within the limit."""
        self._seen.setdefault(kind, timestamp)
        if len(self._seen) < 2:
            first = min(self._seen.values())
            if timestamp - first > MISSING_TRACK_MS:
                missing = "audio" if "audio" not in self._seen else "video"
                raise IngestViolation(
                    "INVALID_INPUT", f"the stream has no {missing}; IVS requires both audio and video"
                )
        self._bytes.append((timestamp, size))
        self._window_bytes += size
        while self._bytes and self._bytes[0][0] < timestamp - BITRATE_WINDOW_MS:
            self._window_bytes -= self._bytes.popleft()[1]
        span = timestamp - self._bytes[0][0]
        if span >= BITRATE_MIN_SPAN_MS:
            bitrate = self._window_bytes * 8 * 1000 / span
            if bitrate > MAX_BITRATE:
                raise IngestViolation(
                    "BITRATE_EXCEEDED",
                    f"the stream sends {bitrate / 1e6:.1f} Mb/s; the limit is {MAX_BITRATE / 1e6:.1f} Mb/s",
                )


def check_resolution(width: int, height: int) -> None:
    if max(width, height) > MAX_LONG_SIDE or min(width, height) > MAX_SHORT_SIDE:
        raise IngestViolation(
            "RESOLUTION_EXCEEDED", f"the video is {width}x{height}; the limit is 720p (1280x720 or 720x1280)"
        )


def _checked(parse: Callable[[bytes], Any], data: bytes) -> Any:
    """``parse(data)``, with a malformed structure reported as the encoder's INVALID_INPUT."""
    try:
        return parse(data)
    except (flv.FlvError, AvcError) as error:
        raise IngestViolation("INVALID_INPUT", str(error)) from None
