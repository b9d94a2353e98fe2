"""Identifiers and ARNs in the exact forms AWS uses (DESIGN.md "Names that must not drift")."""

from __future__ import annotations

import re
import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits

_ARN_RE = re.compile(r"arn:aws:ivs:(?P<region>[a-z0-9-]+):(?P<account>[0-9]+):(?P<kind>[a-z-]+)/(?P<id>[a-zA-Z0-9-]+)")


def random_id(length: int = 12) -> str:
    """12 alphanumerics: stage, participant, composition, destination and configuration ids."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def session_id() -> str:
    """``st-`` + 13 alphanumerics: the model fixes stage session ids at 16 characters."""
    return "st-" + random_id(13)


def arn(region: str, account: str, kind: str, resource_id: str) -> str:
    return f"arn:aws:ivs:{region}:{account}:{kind}/{resource_id}"


def parse_arn(value: str) -> tuple[str, str, str, str] | None:
    """Returns (region, account, kind, id), or None if ``value`` is no IVS ARN."""
    found = _ARN_RE.fullmatch(value)
    if found is None:
        return None
    return found["region"], found["account"], found["kind"], found["id"]


def resource_id(value: str) -> str:
    """The last ARN segment (a stage ARN's id is the token's ``topic``)."""
    return value.rsplit("/", 1)[-1]
