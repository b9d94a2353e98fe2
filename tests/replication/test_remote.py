"""Frames between nodes (openstage/replication/remote.py): what the source's node sends is what the destination's
node delivers. The replica itself, across real nodes, is in tests/cluster/test_replication.py."""

from __future__ import annotations

from fractions import Fraction

import av

from openstage.replication.remote import decode_frame, encode_frame


def test_a_frame_crosses_with_its_kind_keyframe_flag_timestamp_and_bytes() -> None:
    packet = av.Packet(b"\x00\x00\x00\x01\x65" + bytes(range(200)))
    packet.pts = 123_456_789_012
    packet.time_base = Fraction(1, 90000)
    kind, received, keyframe = decode_frame(encode_frame("video", packet, True))
    assert (kind, keyframe) == ("video", True)
    assert bytes(received) == bytes(packet)
    assert (received.pts, received.time_base) == (123_456_789_012, Fraction(1, 90000))
    audio = av.Packet(b"opus")
    audio.pts, audio.time_base = 960, Fraction(1, 48000)
    kind, received, keyframe = decode_frame(encode_frame("audio", audio, False))
    assert (kind, keyframe, bytes(received), received.pts, received.time_base) == (
        "audio",
        False,
        b"opus",
        960,
        Fraction(1, 48000),
    )
