"""H.264 from FLV's AVCC form to the Annex B access units the SFU forwards, without re-encoding.

FLV carries NAL units with length prefixes and keeps SPS and PPS in a separate sequence header
(the AVCDecoderConfigurationRecord). WebRTC wants start codes, and a subscriber can only start
decoding at an IDR that carries its parameter sets, so they are put in front of every IDR.
"""

from __future__ import annotations

from dataclasses import dataclass

START_CODE = b"\x00\x00\x00\x01"
NAL_IDR, NAL_SPS, NAL_PPS, NAL_AUD = 5, 7, 8, 9


class AvcError(ValueError):
    """A sequence header or frame whose structure cannot be read."""


@dataclass(frozen=True)
class AvcConfig:
    length_size: int  # bytes in each NAL unit's length prefix
    parameter_sets: bytes  # SPS and PPS, in Annex B form
    profile: int


def parse_config(record: bytes) -> AvcConfig:
    """Reads an AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.2.4.1)."""
    if len(record) < 7 or record[0] != 1:
        raise AvcError("the AVC sequence header is not an AVCDecoderConfigurationRecord (version 1)")
    length_size = (record[4] & 0x03) + 1
    sets: list[bytes] = []
    pos = 5
    for count_mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count (8 bits)
        if pos >= len(record):
            raise AvcError("the AVC sequence header ends before its parameter sets")
        count = record[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(record[pos : pos + 2], "big")
            unit = record[pos + 2 : pos + 2 + size]
            if len(unit) != size:
                raise AvcError("an AVC parameter set runs past the end of the sequence header")
            sets.append(unit)
            pos += 2 + size
    if not sets:
        raise AvcError("the AVC sequence header has no SPS or PPS")
    return AvcConfig(length_size, b"".join(START_CODE + unit for unit in sets), record[1])


def to_annex_b(frame: bytes, config: AvcConfig) -> tuple[bytes, bool]:
    """The frame's NAL units with start codes, and whether it holds an IDR (then led by SPS and PPS).

    The encoder's own SPS, PPS and access unit delimiters are dropped: the sequence header's are
    the ones every IDR gets, and a delimiter means nothing to RTP packetization.
    """
    units: list[bytes] = []
    idr = False
    pos, size = 0, config.length_size
    while pos + size <= len(frame):
        length = int.from_bytes(frame[pos : pos + size], "big")
        unit = frame[pos + size : pos + size + length]
        if len(unit) != length or not length:
            raise AvcError(f"a NAL unit length ({length}) runs past the end of the frame")
        pos += size + length
        nal_type = unit[0] & 0x1F
        if nal_type in (NAL_SPS, NAL_PPS, NAL_AUD):
            continue
        idr = idr or nal_type == NAL_IDR
        units.append(START_CODE + unit)
    if idr:
        units.insert(0, config.parameter_sets)
    return b"".join(units), idr
