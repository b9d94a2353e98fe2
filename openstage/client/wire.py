"""Between the typed shapes of ``openstage.client.api`` and botocore's dicts.

Each generated shape (a frozen dataclass deriving from ``Shape``) maps its attributes to the
model's member names in ``_wire_names``; conversion follows the field annotations, so the
generated module holds declarations only.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="Shape")
Converter = Callable[[Any], Any]


class ModelEnum(StrEnum):
    """An enum of the model that also holds values newer than this client.

    A value the model does not list yet becomes a pseudo-member (name and value both the string),
    as the AWS SDKs' ``SdkUnknown``: a newer service never breaks an older client.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class Shape:
    """Base of the generated shapes: a structure of the model, as a frozen dataclass."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass: lets typed code use dataclasses.replace
    _wire_names: ClassVar[dict[str, str]] = {}
    """Attribute name -> the model's member name."""


def to_wire(value: Any) -> Any:
    """A shape as the dict botocore takes: wire names, enum values, no ``None`` members."""
    if isinstance(value, Shape):
        members = ((wire, getattr(value, name)) for name, wire in value._wire_names.items())
        return {wire: to_wire(member) for wire, member in members if member is not None}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def from_wire(cls: type[S], data: Mapping[str, Any]) -> S:
    """A shape from botocore's dict; members this client does not know are ignored."""
    return cls(**{name: convert(data[wire]) for name, wire, convert in _plan(cls) if data.get(wire) is not None})


_plans: dict[type[Shape], tuple[tuple[str, str, Converter], ...]] = {}


def _plan(cls: type[Shape]) -> tuple[tuple[str, str, Converter], ...]:
    """(attribute, wire name, converter) per member of ``cls``, worked out once per class."""
    plan = _plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = _plans[cls] = tuple((name, wire, _converter(hints[name])) for name, wire in cls._wire_names.items())
    return plan


def _converter(hint: Any) -> Converter:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):  # X | None
        (inner,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        return _converter(inner)
    if origin is list:
        item = _converter(typing.get_args(hint)[0])
        return lambda values: [item(value) for value in values]
    if origin is dict:
        key, item = (_converter(arg) for arg in typing.get_args(hint))
        return lambda values: {key(k): item(v) for k, v in values.items()}
    if hint is datetime:
        return _utc
    if hint is float:
        return float
    if isinstance(hint, type) and issubclass(hint, Shape):
        return functools.partial(from_wire, hint)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    return _same


def _utc(value: datetime) -> datetime:
    """botocore's timestamps carry dateutil's tzutc; the standard library's UTC prints the same everywhere."""
    return value.astimezone(UTC)


def _same(value: Any) -> Any:
    return value
