"""Keyframe recognition on real encoder output, the bytes aiortc's depayloaders reassemble."""

from __future__ import annotations

import fractions

import av
import pytest

from openstage.sfu.bitstream import is_keyframe


def encoded_frames(codec: str, count: int = 3) -> list[bytes]:
    encoder = av.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"tune": "zerolatency"} if codec == "libx264" else {"deadline": "realtime"}
    packets = []
    for i in range(count):
        frame = av.VideoFrame(64, 48, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([i * 40]) * plane.buffer_size)
        frame.pts = i
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return [bytes(p) for p in packets]


@pytest.mark.parametrize(("codec", "name"), [("libx264", "H264"), ("libvpx", "VP8")])
def test_first_frame_is_a_keyframe_and_the_next_are_not(codec, name):
    frames = encoded_frames(codec)
    assert [is_keyframe(name, f) for f in frames] == [True] + [False] * (len(frames) - 1)


def test_h264_idr_after_parameter_sets():
    sps, pps, idr, non_idr = b"\x67\x42\x00\x1f", b"\x68\xce", b"\x65\x88", b"\x41\x9a"
    start = b"\x00\x00\x00\x01"
    assert is_keyframe("H264", start + sps + start + pps + b"\x00\x00\x01" + idr)
    assert not is_keyframe("H264", start + non_idr)
    assert not is_keyframe("H264", b"")


def test_audio_frames_are_all_independent():
    assert is_keyframe("opus", b"\xfc\xff\xfe")
