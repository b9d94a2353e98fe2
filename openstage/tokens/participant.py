"""Verifying participant tokens at join time: openstage's own, and self-signed ones.

Self-signed tokens (docs 1.3) name an imported public key by its ARN in ``kid`` and must
carry ``version "1.0"`` and every claim but ``user_id``. Failures carry the code the events
WebSocket sends in ``aws:ivs:JOIN_ERROR``, so the media plane passes them on unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage import ids
from openstage.tokens import jws
from openstage.tokens.keys import SERVICE_TOKEN_VERSION, TokenIssuer

SELF_SIGNED_VERSION = "1.0"
MAX_LIFETIME = timedelta(days=14)
MAX_CLOCK_SKEW = timedelta(minutes=5)  # between a self-signing backend's clock and ours
MAX_ATTRIBUTES_BYTES = 1024
_PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Looks up an imported public key's PEM by its ARN; None when no such key exists (any more).
PublicKeyLookup = Callable[[str], Awaitable[str | None]]


class TokenError(Exception):
    """``code`` is one of the JOIN_ERROR codes: TOKEN_MISSING, TOKEN_INVALID, TOKEN_EXPIRED,
    TOKEN_INVALID_SIGNATURE."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ParticipantClaims:
    participant_id: str
    stage_arn: str
    topic: str
    user_id: str
    can_publish: bool
    can_subscribe: bool
    attributes: dict[str, str]
    issued_at: datetime
    expires_at: datetime
    self_signed: bool
    key_arn: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class TokenVerifier:
    def __init__(self, issuer: TokenIssuer, lookup_public_key: PublicKeyLookup) -> None:
        self.issuer = issuer
        self.lookup_public_key = lookup_public_key

    async def verify(self, token: str | None, now: datetime | None = None) -> ParticipantClaims:
        if not token:
            raise TokenError("TOKEN_MISSING", "no participant token was presented")
        try:
            header, claims, signing_input, signature = jws.split(token.strip())
        except ValueError as exc:
            raise TokenError("TOKEN_INVALID", f"token is not a JWT: {exc}") from None
        if header.get("alg") != "ES384":
            raise TokenError("TOKEN_INVALID", f"token alg must be ES384, got {header.get('alg')!r}")
        kid = header.get("kid")
        self_signed = kid != self.issuer.key_id
        key = self.issuer.public_key if not self_signed else await self._imported_key(kid)
        if not jws.verify(signing_input, signature, key):
            raise TokenError("TOKEN_INVALID_SIGNATURE", "token signature does not verify")
        parsed = _check_claims(claims, self_signed, kid if self_signed else None)
        now = now or datetime.now(UTC)
        if now >= parsed.expires_at:
            raise TokenError("TOKEN_EXPIRED", f"token expired at {parsed.expires_at.isoformat()}")
        if parsed.issued_at > now + MAX_CLOCK_SKEW:
            # Otherwise an iat years ahead would stretch the 14-day limit on exp - iat indefinitely.
            raise TokenError("TOKEN_INVALID", f"token iat {parsed.issued_at.isoformat()} is in the future")
        return parsed

    async def _imported_key(self, kid: Any) -> ec.EllipticCurvePublicKey:
        if not isinstance(kid, str) or not kid:
            raise TokenError("TOKEN_INVALID", "self-signed token header needs kid = the public key ARN")
        if ids.parse_arn(kid) is None or ":public-key/" not in kid:
            raise TokenError("TOKEN_INVALID_SIGNATURE", f"kid {kid!r} is not a public key ARN of this service")
        pem = await self.lookup_public_key(kid)
        if pem is None:
            raise TokenError("TOKEN_INVALID_SIGNATURE", f"no imported public key {kid}")
        key: object = None
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass
        # ImportPublicKey accepts only P-384; anything else in the table was put there by hand.
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
            raise TokenError("TOKEN_INVALID_SIGNATURE", f"public key {kid} is not a usable P-384 key")
        return key


def _require(claims: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = claims.get(name)
    if value is None:
        raise TokenError("TOKEN_INVALID", f"token claim {name!r} is missing")
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise TokenError("TOKEN_INVALID", f"token claim {name!r} has the wrong type")
    return value


def _check_claims(claims: dict[str, Any], self_signed: bool, key_arn: str | None) -> ParticipantClaims:
    exp = _require(claims, "exp", int)
    iat = _require(claims, "iat", int)
    jti = _require(claims, "jti", str)
    resource = _require(claims, "resource", str)
    topic = _require(claims, "topic", str)
    _require(claims, "events_url", str)
    _require(claims, "whip_url", str)
    capabilities = _require(claims, "capabilities", dict)
    version = _require(claims, "version", str)
    want_version = SELF_SIGNED_VERSION if self_signed else SERVICE_TOKEN_VERSION
    if version != want_version:
        raise TokenError("TOKEN_INVALID", f"token version must be {want_version!r}, got {version!r}")
    if _PARTICIPANT_ID.fullmatch(jti) is None:
        raise TokenError("TOKEN_INVALID", "jti must be 1-64 characters of [A-Za-z0-9_-]")
    parsed_arn = ids.parse_arn(resource)
    if parsed_arn is None or parsed_arn[2] != "stage":
        raise TokenError("TOKEN_INVALID", f"resource {resource!r} is not a stage ARN")
    if topic != parsed_arn[3]:
        raise TokenError("TOKEN_INVALID", "topic must be the stage id, the last segment of resource")
    if self_signed and key_arn is not None:
        key_parts = ids.parse_arn(key_arn)
        if key_parts is not None and key_parts[:2] != parsed_arn[:2]:
            raise TokenError("TOKEN_INVALID", "the stage and the public key are in different accounts/regions")
    if exp - iat > MAX_LIFETIME.total_seconds():
        raise TokenError("TOKEN_INVALID", "exp may be at most 14 days after iat")
    user_id = claims.get("user_id", "")
    if not isinstance(user_id, str) or len(user_id) > 128 or "\x00" in user_id:
        raise TokenError("TOKEN_INVALID", "user_id must be a string of at most 128 characters, without NUL")
    if self_signed and claims.get("attributes") is None:  # null counts as missing, as for every claim
        raise TokenError("TOKEN_INVALID", "token claim 'attributes' is missing")
    attributes = claims.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise TokenError("TOKEN_INVALID", "attributes must map strings to strings")
    if attributes_size(attributes) > MAX_ATTRIBUTES_BYTES:
        raise TokenError("TOKEN_INVALID", "attributes exceed 1 KB")
    try:
        issued_at = datetime.fromtimestamp(iat, UTC)
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError("TOKEN_INVALID", "token claims 'iat'/'exp' are outside the representable time range") from None
    return ParticipantClaims(
        participant_id=jti,
        stage_arn=resource,
        topic=topic,
        user_id=user_id,
        can_publish=capabilities.get("allow_publish") is True,
        can_subscribe=capabilities.get("allow_subscribe") is True,
        attributes=dict(attributes),
        issued_at=issued_at,
        expires_at=expires_at,
        self_signed=self_signed,
        key_arn=key_arn,
        raw=claims,
    )


def attributes_size(attributes: dict[str, str]) -> int:
    """The "1 KB total" rule counts the UTF-8 bytes of every key and value."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items())
