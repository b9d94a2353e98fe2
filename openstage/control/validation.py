"""Checks a request against its input shape, the way AWS's front end words the failures.

botocore checks only required members and types on the client; patterns, enums, ranges
and sizes are the server's job. Messages follow AWS's
"N validation error(s) detected: Value X at 'path' failed to satisfy constraint: …".
"""

from __future__ import annotations

import math
from typing import Any

from botocore.model import Shape

from openstage.control.errors import ValidationException
from openstage.control.model import compiled_pattern, shape_pattern


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, (list, dict)) else f"'{value}'"


class _Collector:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, rule: str) -> None:
        self.errors.append(f"Value {_show(value)} at '{path}' failed to satisfy constraint: {rule}")

    def check(self, shape: Shape, value: Any, path: str) -> None:
        kind = shape.type_name
        handler = getattr(self, f"_check_{kind}", None)
        if handler is not None:
            handler(shape, value, path)

    def _check_structure(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path or "body", "Member must be an object")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _join(path, name), "Member must not be null")
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                self.check(member, value[name], _join(path, name))

    def _check_list(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, list):
            self.fail(value, path, "Member must be a list")
            return
        self._check_size(shape, len(value), value, path, "length")
        for index, item in enumerate(value, start=1):
            self.check(shape.member, item, f"{path}.{index}.member")

    def _check_map(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            self.fail(value, path, "Member must be a map")
            return
        self._check_size(shape, len(value), value, path, "length")
        for key, item in value.items():
            self.check(shape.key, key, f"{path}.key")
            self.check(shape.value, item, f"{path}.{key}")

    def _check_string(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, str):
            self.fail(value, path, "Member must be a string")
            return
        self._check_size(shape, len(value), value, path, "length")
        if "\x00" in value:  # PostgreSQL cannot store it in text; one answer on every backend
            self.fail(value, path, "Member must not contain the NUL character (U+0000)")
            return
        if shape.enum and value not in shape.enum:
            self.fail(value, path, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = shape_pattern(shape)
        if pattern and compiled_pattern(pattern).fullmatch(value) is None:
            self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def _check_integer(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path, "Member must be an integer")
            return
        self._check_size(shape, value, value, path, "value")

    _check_long = _check_integer

    def _check_float(self, shape: Shape, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(value, path, "Member must be a number")
            return
        self._check_size(shape, value, value, path, "value")

    _check_double = _check_float

    def _check_boolean(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.fail(value, path, "Member must be a boolean")

    def _check_size(self, shape: Shape, size: float, value: Any, path: str, what: str) -> None:
        low = shape.metadata.get("min")
        high = shape.metadata.get("max")
        if low is not None and size < low:
            self.fail(value, path, f"Member must have {what} greater than or equal to {low}")
        if high is not None and size > high:
            self.fail(value, path, f"Member must have {what} less than or equal to {high}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validation_error(errors: list[str]) -> ValidationException:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))


def validate(shape: Shape | None, params: dict[str, Any]) -> None:
    """Raises ValidationException listing every rule the request breaks."""
    if shape is None:
        return
    collector = _Collector()
    collector.check(shape, params, "")
    if collector.errors:
        raise validation_error(collector.errors)
