"""AMF0 as encoders write it: commands and metadata round-trip, truncation is an error."""

from __future__ import annotations

import struct

import pytest

from openstage.ingest import amf


def test_a_command_round_trips() -> None:
    values = ["connect", 1.0, {"app": "app", "tcUrl": "rtmp://127.0.0.1/app", "fpad": False}, None, [1.0, "x"]]
    decoded = amf.decode_all(amf.encode(*values))
    assert decoded[:3] == values[:3]
    assert decoded[3] is amf.NULL_VALUE and decoded[4] == [1.0, "x"]


def test_ffmpeg_style_metadata_in_an_ecma_array_is_read() -> None:
    body = b"".join(
        struct.pack(">H", len(k)) + k.encode() + amf.encode(v) for k, v in {"width": 320.0, "x": "y"}.items()
    )
    message = amf.encode("@setDataFrame", "onMetaData") + bytes([amf.ECMA_ARRAY]) + struct.pack(">I", 2) + body
    assert amf.decode_all(message + b"\x00\x00\x09") == ["@setDataFrame", "onMetaData", {"width": 320.0, "x": "y"}]


def test_long_strings_and_dates_are_read() -> None:
    text = "k" * 70000
    assert amf.decode_all(amf.encode(text)) == [text]
    assert amf.decode_all(bytes([amf.DATE]) + struct.pack(">d", 1500.0) + b"\x00\x00") == [1500.0]


@pytest.mark.parametrize("broken", [b"\x00\x40", b"\x02\x00\x05ab", b"\x04"], ids=["short", "string", "movieclip"])
def test_malformed_amf_is_an_error(broken: bytes) -> None:
    with pytest.raises(amf.AmfError):
        amf.decode_all(broken)
