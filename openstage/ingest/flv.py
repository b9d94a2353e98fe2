"""The bodies of RTMP audio and video messages, which are FLV tag data (FLV specification, annex E).

Video: a frame-type/codec byte, then for AVC a packet type (sequence header or NAL units) and a
composition-time offset. Audio: a format byte, then for AAC a packet type (AudioSpecificConfig
or a raw frame).
"""

from __future__ import annotations

from dataclasses import dataclass

VIDEO_AVC = 7
AUDIO_AAC = 10
KEY_FRAME, INFO_FRAME = 1, 5
SEQUENCE_HEADER, DATA, END_OF_SEQUENCE = 0, 1, 2
_ENHANCED = 0x80  # Enhanced RTMP: a FourCC follows instead of a codec id


class FlvError(ValueError):
    """A tag body too short or malformed to read."""


@dataclass(frozen=True)
class VideoTag:
    codec: str  # "avc", or what else was sent (e.g. "codec 2", "hvc1") for the error message
    keyframe: bool
    packet_type: int
    composition_time: int  # ms; non-zero only when frames are reordered (B-frames)
    data: bytes


@dataclass(frozen=True)
class AudioTag:
    codec: str  # "aac", or "format N"
    packet_type: int
    data: bytes


def video_tag(body: bytes) -> VideoTag:
    if not body:
        raise FlvError("empty video message")
    first = body[0]
    frame_type = (first >> 4) & 0x07
    if first & _ENHANCED:
        fourcc = body[1:5].decode("latin-1", "replace")
        return VideoTag(fourcc, frame_type == KEY_FRAME, first & 0x0F, 0, b"")
    codec_id = first & 0x0F
    if codec_id != VIDEO_AVC:
        return VideoTag(f"codec {codec_id}", frame_type == KEY_FRAME, DATA, 0, b"")
    if len(body) < 5:
        raise FlvError("AVC video message shorter than its 5-byte header")
    offset = int.from_bytes(body[2:5], "big", signed=True)
    return VideoTag("avc", frame_type == KEY_FRAME, body[1], offset, body[5:])


def audio_tag(body: bytes) -> AudioTag:
    if not body:
        raise FlvError("empty audio message")
    sound_format = body[0] >> 4
    if sound_format != AUDIO_AAC:
        return AudioTag(f"format {sound_format}", DATA, b"")
    if len(body) < 2:
        raise FlvError("AAC audio message shorter than its 2-byte header")
    return AudioTag("aac", body[1], body[2:])
