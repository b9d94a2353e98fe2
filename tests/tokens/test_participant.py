"""openstage.tokens: verifying tokens the server minted and self-signed ones (docs 1.3).

The verifier is built the way the media plane builds it: from the server's key file, with
imported public keys looked up through the control API (and, last, straight from the database).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from openstage.store.db import Database
from openstage.tokens import ParticipantClaims, TokenError, TokenIssuer, TokenVerifier, jws, load_or_create_server_key
from openstage.tokens.lookup import database_lookup
from tests.server import Server

FOURTEEN_DAYS = 14 * 24 * 3600


@pytest.fixture(scope="module")
def server(backend: str, make_server: Callable[..., Server]) -> Server:
    """A server of this module's own: the tests import more keys than the default quota of 3."""
    return make_server(backend, args=["--quota", "public_keys=100"])


@pytest.fixture(scope="module")
def stage(server: Server) -> dict[str, Any]:
    return server.client().create_stage(name="verify")["stage"]


@pytest.fixture(scope="module")
def verifier(server: Server, stage: dict[str, Any]) -> TokenVerifier:
    client = server.client()

    async def lookup(arn: str) -> str | None:
        try:
            return client.get_public_key(arn=arn)["publicKey"]["publicKeyMaterial"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise

    issuer = TokenIssuer(load_or_create_server_key(server.data_dir), stage["endpoints"])
    return TokenVerifier(issuer, lookup)


def verify(verifier: TokenVerifier, token: str | None, now: datetime | None = None) -> ParticipantClaims:
    return asyncio.run(verifier.verify(token, now))


def rejection(verifier: TokenVerifier, token: str | None, now: datetime | None = None) -> TokenError:
    with pytest.raises(TokenError) as error:
        verify(verifier, token, now)
    return error.value


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def imported(server: Server) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-384 key pair whose public half is imported; returns (private key, public key ARN)."""
    key = new_key()
    arn = server.client().import_public_key(publicKeyMaterial=pem_of(key), name="self-signer")["publicKey"]["arn"]
    return key, arn


def self_claims(stage: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Every claim docs 1.3 lists, in IVS's order; ``changes`` replace claims, None removes one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "exp": now + 3600,
        "iat": now,
        "jti": "self-Signed_01",
        "resource": stage["arn"],
        "topic": stage["arn"].rsplit("/", 1)[1],
        "events_url": stage["endpoints"]["events"],
        "whip_url": stage["endpoints"]["whip"],
        "user_id": "alice",
        "capabilities": {"allow_publish": True, "allow_subscribe": False},
        "attributes": {"seat": "7"},
        "version": "1.0",
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def self_sign(key: ec.EllipticCurvePrivateKey, kid: str | None, claims: dict[str, Any]) -> str:
    header: dict[str, Any] = {"alg": "ES384", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return jws.sign(header, claims, key)


def b64url(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- tokens the server minted ---------------------------------------------------------------


def test_server_token_verifies(server, stage, verifier):
    token = server.client().create_participant_token(
        stageArn=stage["arn"], userId="bob", attributes={"team": "red"}, capabilities=["PUBLISH"], duration=30
    )["participantToken"]
    claims = verify(verifier, token["token"])
    assert claims.participant_id == token["participantId"]
    assert claims.stage_arn == stage["arn"]
    assert claims.topic == stage["arn"].rsplit("/", 1)[1]
    assert claims.user_id == "bob"
    assert (claims.can_publish, claims.can_subscribe) == (True, False)
    assert claims.attributes == {"team": "red"}
    assert claims.expires_at == token["expirationTime"]
    assert claims.expires_at - claims.issued_at == timedelta(minutes=30)
    assert claims.self_signed is False
    assert claims.key_arn is None
    assert claims.raw["version"] == "0.0"


def test_server_token_defaults(server, stage, verifier):
    token = server.client().create_participant_token(stageArn=stage["arn"])["participantToken"]
    claims = verify(verifier, token["token"])
    assert (claims.can_publish, claims.can_subscribe) == (True, True)
    assert claims.user_id == ""
    assert claims.attributes == {}


def test_server_token_without_capabilities_grants_nothing(server, stage, verifier):
    token = server.client().create_participant_token(stageArn=stage["arn"], capabilities=[])["participantToken"]
    claims = verify(verifier, token["token"])
    assert (claims.can_publish, claims.can_subscribe) == (False, False)


def test_server_token_expires(server, stage, verifier):
    token = server.client().create_participant_token(stageArn=stage["arn"], duration=1)["participantToken"]
    expires = token["expirationTime"]
    assert verify(verifier, token["token"], now=expires - timedelta(seconds=1)).expires_at == expires
    error = rejection(verifier, token["token"], now=expires)
    assert error.code == "TOKEN_EXPIRED"


def test_tampered_server_token_has_invalid_signature(server, stage, verifier):
    token = server.client().create_participant_token(stageArn=stage["arn"], capabilities=["SUBSCRIBE"])
    header, payload, signature = token["participantToken"]["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["capabilities"] = {"allow_publish": True, "allow_subscribe": True}
    error = rejection(verifier, f"{header}.{b64url(claims)}.{signature}")
    assert error.code == "TOKEN_INVALID_SIGNATURE"


def test_server_kid_with_another_key_has_invalid_signature(stage, verifier):
    token = self_sign(new_key(), verifier.issuer.key_id, self_claims(stage, version="0.0"))
    assert rejection(verifier, token).code == "TOKEN_INVALID_SIGNATURE"


def test_server_kid_with_self_signed_version_is_invalid(stage, verifier):
    token = jws.sign(
        {"alg": "ES384", "typ": "JWT", "kid": verifier.issuer.key_id}, self_claims(stage), verifier.issuer.key
    )
    assert rejection(verifier, token).code == "TOKEN_INVALID"


# --- self-signed tokens ---------------------------------------------------------------------


def test_self_signed_token_verifies(stage, verifier, imported):
    key, arn = imported
    sent = self_claims(stage)
    claims = verify(verifier, self_sign(key, arn, sent))
    assert claims.self_signed is True
    assert claims.key_arn == arn
    assert claims.participant_id == "self-Signed_01"
    assert claims.stage_arn == stage["arn"]
    assert claims.topic == sent["topic"]
    assert claims.user_id == "alice"
    assert (claims.can_publish, claims.can_subscribe) == (True, False)
    assert claims.attributes == {"seat": "7"}
    assert claims.issued_at == datetime.fromtimestamp(sent["iat"], UTC)
    assert claims.expires_at == datetime.fromtimestamp(sent["exp"], UTC)
    assert claims.raw == sent


def test_self_signed_token_without_user_id_verifies(stage, verifier, imported):
    key, arn = imported
    claims = verify(verifier, self_sign(key, arn, self_claims(stage, user_id=None)))
    assert claims.user_id == ""
    assert claims.self_signed is True


def test_self_signed_token_may_live_exactly_fourteen_days(stage, verifier, imported):
    key, arn = imported
    now = int(time.time())
    claims = verify(verifier, self_sign(key, arn, self_claims(stage, iat=now, exp=now + FOURTEEN_DAYS)))
    assert claims.expires_at - claims.issued_at == timedelta(days=14)


def test_self_signed_by_another_key_with_same_kid_has_invalid_signature(stage, verifier, imported):
    _, arn = imported
    assert rejection(verifier, self_sign(new_key(), arn, self_claims(stage))).code == "TOKEN_INVALID_SIGNATURE"


def test_deleted_key_no_longer_verifies(server, stage, verifier):
    client = server.client()
    key = new_key()
    arn = client.import_public_key(publicKeyMaterial=pem_of(key))["publicKey"]["arn"]
    token = self_sign(key, arn, self_claims(stage))
    assert verify(verifier, token).key_arn == arn
    client.delete_public_key(arn=arn)
    error = rejection(verifier, token)
    assert error.code == "TOKEN_INVALID_SIGNATURE"
    assert arn in error.message


def test_unknown_kid_has_invalid_signature(stage, verifier, imported):
    key, arn = imported
    unknown = arn.rsplit("/", 1)[0] + "/AbCdEf123456"
    assert rejection(verifier, self_sign(key, unknown, self_claims(stage))).code == "TOKEN_INVALID_SIGNATURE"


@pytest.mark.parametrize("kid", [None, "", 7])
def test_self_signed_without_kid_is_invalid(stage, verifier, imported, kid):
    key, _ = imported
    token = jws.sign({"alg": "ES384", "typ": "JWT", **({} if kid is None else {"kid": kid})}, self_claims(stage), key)
    assert rejection(verifier, token).code == "TOKEN_INVALID"


def test_kid_that_is_not_a_public_key_arn_has_invalid_signature(stage, verifier, imported):
    key, _ = imported
    token = self_sign(key, stage["arn"], self_claims(stage))
    assert rejection(verifier, token).code == "TOKEN_INVALID_SIGNATURE"


def test_expired_self_signed_token(stage, verifier, imported):
    key, arn = imported
    now = int(time.time())
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, iat=now - 7200, exp=now - 60)))
    assert error.code == "TOKEN_EXPIRED"


def test_self_signed_token_with_service_version_is_invalid(stage, verifier, imported):
    key, arn = imported
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, version="0.0")))
    assert error.code == "TOKEN_INVALID"
    assert "1.0" in error.message


@pytest.mark.parametrize(
    "claim",
    ["exp", "iat", "jti", "resource", "topic", "events_url", "whip_url", "capabilities", "attributes", "version"],
)
def test_self_signed_token_missing_a_mandatory_claim_is_invalid(stage, verifier, imported, claim):
    key, arn = imported
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, **{claim: None})))
    assert error.code == "TOKEN_INVALID"
    assert claim in error.message


@pytest.mark.parametrize(
    "claim, value",
    [
        ("exp", "tomorrow"),
        ("exp", True),
        ("iat", 1.5),
        ("capabilities", ["PUBLISH"]),
        ("attributes", {"n": 1}),
        ("attributes", None),
        ("jti", "has space"),
        ("jti", "x" * 65),
        ("user_id", "u" * 129),
        ("user_id", "nul\u0000"),  # PostgreSQL cannot store it: the join would fail with a database error
        ("resource", "arn:aws:ivs:us-east-1:123456789012:composition/AbCdEf123456"),
    ],
)
def test_self_signed_token_with_a_malformed_claim_is_invalid(stage, verifier, imported, claim, value):
    key, arn = imported
    claims = self_claims(stage)
    claims[claim] = value  # None here means JSON null, not a removed claim
    assert rejection(verifier, self_sign(key, arn, claims)).code == "TOKEN_INVALID"


def test_attributes_over_one_kilobyte_are_invalid(stage, verifier, imported):
    key, arn = imported
    claims = self_claims(stage, attributes={"k1": "v" * 600, "k2": "w" * 600})
    assert rejection(verifier, self_sign(key, arn, claims)).code == "TOKEN_INVALID"


def test_lifetime_over_fourteen_days_is_invalid(stage, verifier, imported):
    key, arn = imported
    now = int(time.time())
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, iat=now, exp=now + FOURTEEN_DAYS + 1)))
    assert error.code == "TOKEN_INVALID"
    assert "14 days" in error.message


def test_an_iat_in_the_future_cannot_stretch_the_lifetime(stage, verifier, imported):
    key, arn = imported
    later = int(time.time()) + 10 * 365 * 86400
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, iat=later, exp=later + 86400)))
    assert error.code == "TOKEN_INVALID"
    assert "future" in error.message


def test_a_little_clock_skew_is_tolerated(stage, verifier, imported):
    key, arn = imported
    soon = int(time.time()) + 60
    claims = asyncio.run(verifier.verify(self_sign(key, arn, self_claims(stage, iat=soon, exp=soon + 3600))))
    assert claims.self_signed


def test_topic_not_matching_resource_is_invalid(stage, verifier, imported):
    key, arn = imported
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, topic="AbCdEf123456")))
    assert error.code == "TOKEN_INVALID"
    assert "topic" in error.message


def test_stage_in_another_account_is_invalid(stage, verifier, imported):
    key, arn = imported
    resource = stage["arn"].replace(":123456789012:", ":210987654321:")
    assert rejection(verifier, self_sign(key, arn, self_claims(stage, resource=resource))).code == "TOKEN_INVALID"


def test_timestamps_beyond_the_calendar_are_invalid(stage, verifier, imported):
    key, arn = imported
    huge = 10**20
    error = rejection(verifier, self_sign(key, arn, self_claims(stage, iat=huge - 60, exp=huge)))
    assert error.code == "TOKEN_INVALID"


def test_alg_other_than_es384_is_invalid(stage, verifier, imported):
    key, arn = imported
    signed = self_sign(key, arn, self_claims(stage))
    _, payload, signature = signed.split(".")
    for alg in ("none", "HS256", "KMS"):
        token = f"{b64url({'alg': alg, 'typ': 'JWT', 'kid': arn})}.{payload}.{signature}"
        assert rejection(verifier, token).code == "TOKEN_INVALID"


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        f"{b64url([1, 2])}.{b64url({'a': 1})}.{b64url(b'sig')}",
        f"{b64url({'alg': 'ES384'})}.{b64url(b'[' * 100_000)}.{b64url(b'sig')}",
        "   ",
    ],
    ids=["no-dots", "two-parts", "four-parts", "not-base64", "header-not-object", "deeply-nested", "blank"],
)
def test_not_a_jwt_is_invalid(verifier, token):
    assert rejection(verifier, token).code == "TOKEN_INVALID"


@pytest.mark.parametrize("token", ["", None])
def test_no_token_is_missing(verifier, token):
    assert rejection(verifier, token).code == "TOKEN_MISSING"


# --- the database lookup the media plane uses -----------------------------------------------


def test_database_lookup_reads_imported_keys(server, imported):
    _, arn = imported
    material = server.client().get_public_key(arn=arn)["publicKey"]["publicKeyMaterial"]
    url = server.database_url or f"sqlite+aiosqlite:///{server.data_dir}/openstage.db"

    async def run() -> tuple[str | None, str | None]:
        db = Database(url)
        try:
            lookup = database_lookup(db)
            return await lookup(arn), await lookup(arn.rsplit("/", 1)[0] + "/AbCdEf123456")
        finally:
            await db.close()

    found, missing = asyncio.run(run())
    assert found == material
    assert found is not None and found.startswith("-----BEGIN PUBLIC KEY-----")
    assert missing is None


def test_verifier_with_database_lookup(server, stage, verifier, imported):
    key, arn = imported
    url = server.database_url or f"sqlite+aiosqlite:///{server.data_dir}/openstage.db"

    async def run() -> ParticipantClaims:
        db = Database(url)
        try:
            return await TokenVerifier(verifier.issuer, database_lookup(db)).verify(
                self_sign(key, arn, self_claims(stage))
            )
        finally:
            await db.close()

    assert asyncio.run(run()).key_arn == arn


@pytest.mark.parametrize("stored", ["rsa", "p256", "garbage"])
def test_stored_key_that_is_not_p384_has_invalid_signature(stage, verifier, stored):
    """Only ImportPublicKey's checks keep such rows out; the verifier must still refuse them, not crash."""
    materials = {
        "rsa": lambda: (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        ),
        "p256": lambda: pem_of(ec.generate_private_key(ec.SECP256R1())),
        "garbage": lambda: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    }
    pem = materials[stored]()
    arn = "arn:aws:ivs:us-east-1:123456789012:public-key/AbCdEf123456"

    async def lookup(kid: str) -> str | None:
        return pem if kid == arn else None

    token = self_sign(new_key(), arn, self_claims(stage))
    with pytest.raises(TokenError) as error:
        asyncio.run(TokenVerifier(verifier.issuer, lookup).verify(token))
    assert error.value.code == "TOKEN_INVALID_SIGNATURE"
    assert arn in error.value.message
