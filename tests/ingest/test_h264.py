"""AVCC to Annex B: parameter sets from the sequence header in front of every IDR, lengths turned into start codes."""

from __future__ import annotations

import pytest

from openstage.ingest.h264 import START_CODE, AvcError, parse_config, to_annex_b

SPS, PPS = b"\x67\x42\xc0\x1e\xaa", b"\x68\xce\x3c\x80"
IDR, SLICE, AUD = b"\x65\x88\x84\x00", b"\x41\x9a\x02", b"\x09\xf0"


def record(length_size: int = 4) -> bytes:
    """An AVCDecoderConfigurationRecord with one SPS and one PPS."""
    sps = len(SPS).to_bytes(2, "big") + SPS
    pps = len(PPS).to_bytes(2, "big") + PPS
    return bytes([1, 0x42, 0xC0, 0x1E, 0xFC | (length_size - 1), 0xE1]) + sps + bytes([1]) + pps


def avcc(*units: bytes, length_size: int = 4) -> bytes:
    return b"".join(len(unit).to_bytes(length_size, "big") + unit for unit in units)


def test_the_sequence_header_gives_the_parameter_sets() -> None:
    config = parse_config(record())
    assert (config.length_size, config.profile) == (4, 0x42)
    assert config.parameter_sets == START_CODE + SPS + START_CODE + PPS


def test_an_idr_gets_the_parameter_sets_and_delimiters_are_dropped() -> None:
    config = parse_config(record())
    frame, idr = to_annex_b(avcc(AUD, SPS, PPS, IDR), config)
    assert idr and frame == START_CODE + SPS + START_CODE + PPS + START_CODE + IDR


@pytest.mark.parametrize("length_size", [2, 4])
def test_other_frames_pass_with_start_codes(length_size: int) -> None:
    frame, idr = to_annex_b(avcc(SLICE, SLICE, length_size=length_size), parse_config(record(length_size)))
    assert not idr and frame == START_CODE + SLICE + START_CODE + SLICE


def test_broken_structures_are_errors() -> None:
    with pytest.raises(AvcError):
        parse_config(b"\x00\x01")
    with pytest.raises(AvcError):
        to_annex_b(b"\x00\x00\x00\x09\x65", parse_config(record()))
