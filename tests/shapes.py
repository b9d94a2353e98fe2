"""Checks a boto3 response against the operation's output shape in botocore's model.

boto3 parses whatever JSON arrives, so a test that only reads the fields it expects would
miss an extra, misspelled or wrongly typed member; this walks the whole response.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.model import Shape

from openstage.control.model import service_model

_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "boolean": (bool,),
    "timestamp": (datetime,),
}


def _check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        # boto3 lifts header-bound members (e.g. CreateIngestConfiguration's security headers) into the result.
        extra = set(value) - set(shape.members)
        assert not extra, f"{path}: members not in shape {shape.name}: {sorted(extra)}"
        for name in shape.required_members:
            if shape.members[name].serialization.get("location") is None:
                assert name in value, f"{path}: required member {name!r} of {shape.name} missing"
        for name, item in value.items():
            _check(shape.members[name], item, f"{path}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected list, got {value!r}"
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map, got {value!r}"
        for key, item in value.items():
            _check(shape.value, item, f"{path}[{key!r}]")
    else:
        assert isinstance(value, _SCALARS[kind]), f"{path}: expected {kind}, got {value!r}"
        if getattr(shape, "enum", None):
            assert value in shape.enum, f"{path}: {value!r} not in enum {shape.enum}"


def assert_matches_output(operation: str, response: dict[str, Any]) -> None:
    """Fails unless ``response`` (minus ResponseMetadata) is exactly of the output shape."""
    shape = service_model().operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    _check(shape, body, operation)
