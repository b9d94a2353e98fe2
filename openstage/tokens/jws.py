"""Compact JWS with ES384: the one algorithm participant tokens use.

JOSE wants the raw r||s signature (96 bytes for P-384); ``cryptography`` speaks DER, so the
conversion lives here and nowhere else.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

_COORD = 48  # bytes per P-384 coordinate


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sign(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    signing_input = f"{b64url(_json(header))}.{b64url(_json(claims))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))
    return f"{signing_input}.{b64url(r.to_bytes(_COORD, 'big') + s.to_bytes(_COORD, 'big'))}"


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str, bytes]:
    """Returns (header, claims, signing input, signature); raises ValueError on any malformation."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except RecursionError:  # deeply nested JSON: json raises this, not ValueError
        raise ValueError("JWT header or claims nest too deeply") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header and claims must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}", b64url_decode(parts[2])


def verify(signing_input: str, signature: bytes, key: ec.EllipticCurvePublicKey) -> bool:
    if len(signature) != 2 * _COORD:
        return False
    r = int.from_bytes(signature[:_COORD], "big")
    s = int.from_bytes(signature[_COORD:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signing_input.encode(), ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        return False
    return True
