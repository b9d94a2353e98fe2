"""Frames leave the SFU's jitter buffer as soon as they are whole."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from openstage.sfu.jitter import LowLatencyJitterBuffer


def packet(seq: int, timestamp: int, marker: bool = False) -> RtpPacket:
    rtp = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp)
    rtp._data = bytes([seq])  # what aiortc's receiver sets: the depayloaded bytes
    return rtp


def test_a_video_frame_is_released_at_its_marker():
    buffer = LowLatencyJitterBuffer(capacity=64, is_video=True)
    assert buffer.add(packet(10, 3000))[1] is None
    _, frame = buffer.add(packet(11, 3000, marker=True))
    assert frame is not None and (frame.data, frame.timestamp) == (b"\x0a\x0b", 3000)


def test_a_gap_holds_the_frame_until_the_packet_comes():
    buffer = LowLatencyJitterBuffer(capacity=64, is_video=True)
    buffer.add(packet(20, 3000))
    assert buffer.add(packet(22, 3000, marker=True))[1] is None
    _, frame = buffer.add(packet(21, 3000))
    assert frame is not None and frame.data == b"\x14\x15\x16"


def test_without_markers_a_frame_is_released_when_the_next_begins():
    buffer = LowLatencyJitterBuffer(capacity=64, is_video=True)
    buffer.add(packet(30, 3000))
    buffer.add(packet(31, 3000))
    _, frame = buffer.add(packet(32, 6000))
    assert frame is not None and (frame.data, frame.timestamp) == (b"\x1e\x1f", 3000)


def test_each_audio_packet_is_released_at_once():
    buffer = LowLatencyJitterBuffer(capacity=16, is_video=False)
    for seq in range(5):
        _, frame = buffer.add(packet(seq, seq * 960))
        assert frame is not None and frame.timestamp == seq * 960
