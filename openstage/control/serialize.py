"""Turns a handler's result into the rest-json response its output shape describes.

Only members the shape declares reach the wire, timestamps become ISO-8601 strings, and
members bound to headers become headers: a handler cannot leak an internal field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape


def iso8601(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _serialize(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out = {
            name: _serialize(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None and member.serialization.get("location") is None
        }
        for name in shape.required_members:  # result lists are always present, even when empty
            if name not in out and shape.members[name].type_name == "list":
                out[name] = []
        return out
    if kind == "list":
        return [_serialize(shape.member, item) for item in value]
    if kind == "map":
        return {key: _serialize(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return iso8601(value) if isinstance(value, datetime) else value
    if kind in ("float", "double"):
        return float(value)
    return value


def serialize_output(shape: Shape | None, result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Returns (JSON body, headers) for a successful response."""
    if shape is None:
        return {}, {}
    headers = {
        member.serialization["name"]: str(result[name])
        for name, member in shape.members.items()
        if member.serialization.get("location") == "header" and result.get(name) is not None
    }
    return _serialize(shape, result), headers
