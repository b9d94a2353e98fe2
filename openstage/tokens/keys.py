"""The server's token-signing key and the issuer that uses it.

The key is created on first start and kept in the data folder, so tokens issued before a
restart stay valid after it.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage import ids
from openstage.tokens import jws

SERVICE_TOKEN_VERSION = "0.0"  # what IVS-issued tokens carry (docs 1.2)


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """16 colon-separated hex bytes, the form IVS shows (an MD5 of the DER public key)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())


def load_or_create_server_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    path = data_dir / "keys" / "token-signing-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
            raise ValueError(f"{path} is not a P-384 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    save_key_file(path, pem)
    return key


def save_key_file(path: Path, pem: bytes) -> None:
    """Writes a private key atomically (a crash leaves the old file or the new one), readable by its owner only."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.rename(path)


class TokenIssuer:
    def __init__(self, key: ec.EllipticCurvePrivateKey, endpoints: dict[str, str]) -> None:
        self.key = key
        self.public_key = key.public_key()
        self.key_id = "openstage:" + fingerprint(self.public_key).replace(":", "")
        self.endpoints = endpoints

    def issue(
        self,
        stage_arn: str,
        participant_id: str,
        user_id: str,
        attributes: dict[str, str],
        capabilities: list[str],
        duration_minutes: int,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        """Returns the signed token and its expiry, with IVS's claims in IVS's order."""
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = now + timedelta(minutes=duration_minutes)
        claims: dict[str, Any] = {
            "exp": int(expires.timestamp()),
            "iat": int(now.timestamp()),
            "jti": participant_id,
            "resource": stage_arn,
            "topic": ids.resource_id(stage_arn),
            "events_url": self.endpoints["events"],
            "whip_url": self.endpoints["whip"],
            "user_id": user_id,
            "capabilities": {
                key: True
                for cap, key in (("PUBLISH", "allow_publish"), ("SUBSCRIBE", "allow_subscribe"))
                if cap in capabilities
            },
        }
        if attributes:
            claims["attributes"] = attributes
        claims["version"] = SERVICE_TOKEN_VERSION
        header = {"alg": "ES384", "typ": "JWT", "kid": self.key_id}
        return jws.sign(header, claims, self.key), expires
