"""The IVS media rules on FLV tags, and what a local publication is handed (docs 7.1)."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from openstage.ingest.h264 import START_CODE
from openstage.ingest.media import IngestViolation, MediaConverter
from tests.ingest.test_h264 import IDR, PPS, SLICE, SPS, avcc, record


def video(payload: bytes, *, key: bool = False, packet_type: int = 1, offset: int = 0, codec: int = 7) -> bytes:
    return bytes([(0x10 if key else 0x20) | codec, packet_type]) + offset.to_bytes(3, "big", signed=True) + payload


def aac_stream(frames: int) -> tuple[bytes, list[bytes]]:
    """A real AAC-LC stream of a 440 Hz tone: the AudioSpecificConfig and raw frames."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 44100, "stereo", "fltp"
    encoder.open()
    packets: list[bytes] = []
    tone = np.sin(2 * np.pi * 440 * np.arange(1024 * frames) / 44100).astype(np.float32) * 0.3
    for index in range(frames):
        chunk = tone[index * 1024 : (index + 1) * 1024]
        frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 44100, index * 1024
        packets += [bytes(p) for p in encoder.encode(frame)]
    return bytes(encoder.extradata), packets


class Collector:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, av.Packet, bool]] = []
        self.converter = MediaConverter(lambda kind, packet, key: self.delivered.append((kind, packet, key)))


def test_h264_frames_are_delivered_re_framed_with_millisecond_timestamps() -> None:
    sink = Collector()
    sink.converter.video(0, video(record(), key=True, packet_type=0))
    sink.converter.video(0, video(avcc(IDR), key=True))
    sink.converter.video(33, video(avcc(SLICE)))
    (kind, first, key), (_, second, second_key) = sink.delivered
    assert (kind, key, second_key) == ("video", True, False)
    assert bytes(first) == START_CODE + SPS + START_CODE + PPS + START_CODE + IDR
    assert (second.pts, second.time_base) == (33, fractions.Fraction(1, 1000))


def test_aac_becomes_opus_on_the_same_clock() -> None:
    sink = Collector()
    config, frames = aac_stream(50)
    sink.converter.audio(1000, bytes([0xAF, 0]) + config)
    for index, frame in enumerate(frames):
        sink.converter.audio(1000 + index * 23, bytes([0xAF, 1]) + frame)
    packets = [packet for kind, packet, _ in sink.delivered if kind == "audio"]
    assert len(packets) >= 40
    assert packets[0].pts == 48_000 and all(b.pts - a.pts == 960 for a, b in zip(packets, packets[1:], strict=False))
    decoder = av.CodecContext.create("opus", "r")
    decoded = [frame for packet in packets for frame in decoder.decode(av.Packet(bytes(packet)))]
    assert sum(frame.samples for frame in decoded) == 960 * len(packets)


@pytest.mark.parametrize(
    ("feed", "code"),
    [
        (lambda c: c.video(0, video(b"\x00", codec=2)), "INVALID_VIDEO_CODEC"),
        (lambda c: c.video(0, bytes([0x90]) + b"hvc1" + b"\x00"), "INVALID_VIDEO_CODEC"),
        (lambda c: c.audio(0, bytes([0x2F, 0x00])), "INVALID_AUDIO_CODEC"),
        (lambda c: c.video(0, video(avcc(SLICE), offset=66)), "B_FRAME_PRESENT"),
        (lambda c: c.metadata({"width": 1920.0, "height": 1080.0}), "RESOLUTION_EXCEEDED"),
        (lambda c: c.metadata({"width": 720.0, "height": 1281.0}), "RESOLUTION_EXCEEDED"),
        (lambda c: c.video(0, b"\x17\x01"), "INVALID_INPUT"),
    ],
    ids=["vp6", "enhanced-hevc", "mp3", "b-frame", "1080p", "portrait", "truncated"],
)
def test_each_rule_has_its_error_code(feed: object, code: str) -> None:
    with pytest.raises(IngestViolation) as broken:
        feed(Collector().converter)  # type: ignore[operator]
    assert broken.value.error_code == code


def test_portrait_720p_is_allowed() -> None:
    Collector().converter.metadata({"width": 720.0, "height": 1280.0})


def test_a_missing_kind_is_noticed_after_five_seconds_of_the_other() -> None:
    converter = Collector().converter
    converter.video(0, video(record(), key=True, packet_type=0))
    converter.video(5000, video(avcc(SLICE)))
    with pytest.raises(IngestViolation) as broken:
        converter.video(5001, video(avcc(SLICE)))
    assert broken.value.error_code == "INVALID_INPUT" and "no audio" in broken.value.message


def test_the_bitrate_is_averaged_over_seconds() -> None:
    converter = Collector().converter
    for ms in range(0, 3000, 40):
        converter.audio(ms, bytes([0xAF, 1]))
        converter.video(ms, video(b"\x00" * (200_000 if ms == 0 else 30_000)))  # 6 Mb/s, a large first frame
    with pytest.raises(IngestViolation) as broken:
        for ms in range(3000, 7000, 40):
            converter.audio(ms, bytes([0xAF, 1]))
            converter.video(ms, video(b"\x00" * 60_000))  # 12 Mb/s
    assert broken.value.error_code == "BITRATE_EXCEEDED"
