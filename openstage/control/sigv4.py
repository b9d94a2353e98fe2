"""Verifies AWS Signature Version 4 on control-plane requests (signing name ``ivs``).

The canonical request is rebuilt from the raw bytes the client sent (raw path, raw query),
so ARNs percent-encoded in the path verify exactly as botocore and the other SDKs sign them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from openstage.control.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

SIGNING_NAME = "ivs"
ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Caller:
    access_key: str
    region: str


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _canonical_headers(headers: Mapping[str, str], signed: list[str]) -> str:
    lines = []
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise IncompleteSignatureException(f"Signed header '{name}' is missing from the request.")
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def expected_signature(request: SignedRequest, secret: str, amz_date: str, scope: str, signed: list[str]) -> str:
    # Always the hash of the body received: a client's x-amz-content-sha256 only claims one, and
    # trusting it would let a captured request carry another body (verify() rejects a mismatch).
    payload_hash = hashlib.sha256(request.body).hexdigest()
    canonical = "\n".join(
        [
            request.method,
            quote(request.raw_path or "/", safe="/~"),
            _canonical_query(request.raw_query),
            _canonical_headers(request.headers, signed),
            ";".join(signed),
            payload_hash,
        ]
    )
    to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = _signing_key(secret, date, region, service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class SigV4Verifier:
    """Checks signatures against known credentials, or only their form in development mode."""

    def __init__(self, credentials: Mapping[str, str], region: str) -> None:
        self.credentials = dict(credentials)
        self.region = region

    @property
    def dev_mode(self) -> bool:
        return not self.credentials

    def verify(self, request: SignedRequest, now: datetime | None = None) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            raise MissingAuthenticationTokenException(
                "Missing Authentication Token: sign requests with AWS Signature Version 4 "
                "(any AWS SDK or the AWS CLI does)."
            )
        match = _AUTH_RE.match(header)
        if match is None:
            raise IncompleteSignatureException(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                f"with algorithm {ALGORITHM}."
            )
        credential = match["credential"].split("/")
        if len(credential) != 5 or credential[4] != "aws4_request":
            raise IncompleteSignatureException(
                "Credential must have the form ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request, "
                f"got '{match['credential']}'."
            )
        access_key, date, region, service, _ = credential
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise IncompleteSignatureException("SignedHeaders must include 'host'.")
        if service != SIGNING_NAME:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{SIGNING_NAME}', not '{service}'."
            )
        amz_date = request.headers.get("x-amz-date", "")
        signed_at = _parse_amz_date(amz_date)
        if not amz_date.startswith(date):
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                f"HTTP: '{date}' != '{amz_date[:8]}'."
            )
        now = now or datetime.now(UTC)
        if abs(now - signed_at) > MAX_SKEW:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is now earlier than "
                f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)"
                if signed_at < now
                else f"Signature not yet current: {amz_date} is still later than "
                f"{(now + MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({now.strftime('%Y%m%dT%H%M%SZ')} + 15 min.)"
            )
        if self.dev_mode:
            return Caller(access_key, region)
        secret = self.credentials.get(access_key)
        if secret is None:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        if region != self.region:
            raise InvalidSignatureException(
                f"Credential should be scoped to a valid region, not '{region}'. "
                f"This openstage serves region '{self.region}'."
            )
        claimed_hash = request.headers.get("x-amz-content-sha256")
        if claimed_hash is not None and claimed_hash.lower() != hashlib.sha256(request.body).hexdigest():
            raise InvalidSignatureException(
                "The x-amz-content-sha256 header does not match the SHA-256 of the request body "
                "(UNSIGNED-PAYLOAD is not accepted by this service)."
            )
        scope = "/".join(credential[:4] + ["aws4_request"])[len(access_key) + 1 :]
        want = expected_signature(request, secret, amz_date, scope, signed)
        if not hmac.compare_digest(want, match["signature"]):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details."
            )
        return Caller(access_key, region)


def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignatureException(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header "
            "in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z')."
        ) from None
