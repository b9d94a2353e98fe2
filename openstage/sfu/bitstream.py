"""Recognising keyframes in encoded frames, so a subscriber starts (or resyncs) on one."""

from __future__ import annotations

_START_CODE = b"\x00\x00\x01"
_H264_IDR = 5


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """``data`` is a whole frame as aiortc reassembles it: Annex B NAL units for H.264, the raw VP8 frame.

    Audio frames are all independent, so everything that is not H.264 or VP8 counts as a keyframe.
    """
    if codec_name == "VP8":
        return bool(data) and not data[0] & 0x01  # frame tag: P bit 0 means key frame (RFC 6386 9.1)
    if codec_name == "H264":
        i = data.find(_START_CODE)
        while i != -1 and i + 3 < len(data):
            if data[i + 3] & 0x1F == _H264_IDR:
                return True
            i = data.find(_START_CODE, i + 3)
        return False
    return True
