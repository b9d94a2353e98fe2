"""AMF0, the encoding of RTMP command messages and metadata (Adobe AMF0 specification).

Encoders send ``connect``, ``publish``, ``@setDataFrame``/``onMetaData`` in AMF0; this reads
every type they use and writes the few the server answers with. AMF3 is not needed: encoders
publish with ``objectEncoding`` 0.
"""

from __future__ import annotations

import struct
from typing import Any

# Type markers (AMF0 specification, 2.1); 4 (movieclip), 7 (reference) and others are not sent by encoders.
NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06
ECMA_ARRAY, STRICT_ARRAY, DATE, LONG_STRING = 0x08, 0x0A, 0x0B, 0x0C
_OBJECT_END_MARK = b"\x00\x00\x09"


class AmfError(ValueError):
    """Bytes that are not valid AMF0."""


class Null:
    """AMF0 null as a distinct value, so a command's null argument survives a decode/encode round trip."""

    def __repr__(self) -> str:
        return "Null"


NULL_VALUE = Null()


def decode_all(data: bytes) -> list[Any]:
    """Every value in ``data``, in order (a command: name, transaction id, command object, arguments)."""
    reader = _Reader(data)
    values = []
    while not reader.done:
        values.append(reader.value())
    return values


def encode(*values: Any) -> bytes:
    return b"".join(_encode(value) for value in values)


def _encode(value: Any) -> bytes:
    if value is None or isinstance(value, Null):
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, int(value)])
    if isinstance(value, int | float):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:
            return bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
        return bytes([STRING]) + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        body = b"".join(_key(str(k)) + _encode(v) for k, v in value.items())
        return bytes([OBJECT]) + body + _OBJECT_END_MARK
    if isinstance(value, list | tuple):
        return bytes([STRICT_ARRAY]) + struct.pack(">I", len(value)) + b"".join(_encode(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def _key(name: str) -> bytes:
    raw = name.encode()
    return struct.pack(">H", len(raw)) + raw


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AmfError(f"AMF0 value runs past the end of its message ({n} bytes needed at {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def short_string(self) -> str:
        (length,) = struct.unpack(">H", self.take(2))
        return self.take(length).decode("utf-8", "replace")

    def properties(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            if self.data[self.pos : self.pos + 3] == _OBJECT_END_MARK:
                self.pos += 3
                return result
            if self.pos + 2 > len(self.data):  # some encoders end an ECMA array at the end of the message
                return result
            name = self.short_string()
            result[name] = self.value()

    def value(self) -> Any:
        marker = self.take(1)[0]
        if marker == NUMBER:
            return struct.unpack(">d", self.take(8))[0]
        if marker == BOOLEAN:
            return self.take(1)[0] != 0
        if marker == STRING:
            return self.short_string()
        if marker == LONG_STRING:
            (length,) = struct.unpack(">I", self.take(4))
            return self.take(length).decode("utf-8", "replace")
        if marker == OBJECT:
            return self.properties()
        if marker == ECMA_ARRAY:
            self.take(4)  # an approximate count; the end marker is what counts
            return self.properties()
        if marker == STRICT_ARRAY:
            (count,) = struct.unpack(">I", self.take(4))
            return [self.value() for _ in range(count)]
        if marker in (NULL, UNDEFINED):
            return NULL_VALUE
        if marker == DATE:
            (millis,) = struct.unpack(">d", self.take(8))
            self.take(2)  # time zone, unused by the format
            return millis
        raise AmfError(f"unsupported AMF0 type marker {marker:#04x} at byte {self.pos - 1}")
