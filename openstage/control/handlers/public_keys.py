"""Public keys: ImportPublicKey, GetPublicKey, DeletePublicKey, ListPublicKeys.

Imported keys verify self-signed participant tokens (docs 1.3), so only what a verifier can
use is accepted: an ECDSA P-384 public key. The model's pattern admits any text around a
PEM block; parsing it is what tells a usable key from garbage.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from openstage import ids
from openstage.control.context import Context
from openstage.control.errors import ConflictException, ValidationException
from openstage.control.pagination import paginate
from openstage.control.registry import operation
from openstage.control.resources import check_quota, get_or_404, put_tags, remove_tags, tags_for
from openstage.store.models import PublicKey
from openstage.tokens.keys import fingerprint

REQUIRED_CURVE = "secp384r1"


def _describe(key: object) -> str:
    """Names the key type a user gave, so the error says what to change."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on curve {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"an RSA {key.key_size}-bit key"
    if isinstance(key, dsa.DSAPublicKey):
        return f"a DSA {key.key_size}-bit key"
    names = {
        ed25519.Ed25519PublicKey: "an Ed25519 key",
        ed448.Ed448PublicKey: "an Ed448 key",
        x25519.X25519PublicKey: "an X25519 key",
        x448.X448PublicKey: "an X448 key",
    }
    for kind, name in names.items():
        if isinstance(key, kind):
            return name
    return f"a {type(key).__name__}"


def parse_public_key(material: str) -> ec.EllipticCurvePublicKey:
    """Returns the P-384 key in ``material`` or raises a ValidationException saying what is wrong."""
    try:
        key = serialization.load_pem_public_key(material.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValidationException(
            f"publicKeyMaterial is not a PEM-encoded public key (SubjectPublicKeyInfo): {exc}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != REQUIRED_CURVE:
        raise ValidationException(
            f"publicKeyMaterial must be an ECDSA P-384 ({REQUIRED_CURVE}) public key; got {_describe(key)}."
        )
    return key


async def _view(session: AsyncSession, row: PublicKey) -> dict[str, Any]:
    return {
        "arn": row.arn,
        "name": row.name,
        "publicKeyMaterial": row.material,
        "fingerprint": row.fingerprint,
        "tags": (await tags_for(session, [row.arn]))[row.arn],
    }


@operation("ImportPublicKey")
async def import_public_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    material: str = params["publicKeyMaterial"]
    key_fingerprint = fingerprint(parse_public_key(material))
    async with ctx.db.write() as session:
        # One lock for both checks, so two concurrent imports of one key cannot both pass.
        await ctx.db.lock(session, "quota:public_keys")
        existing = await session.scalar(select(PublicKey.arn).where(PublicKey.fingerprint == key_fingerprint))
        if existing is not None:
            raise ConflictException(
                f"This public key (fingerprint {key_fingerprint}) is already imported as {existing}."
            )
        await check_quota(ctx, session, PublicKey, "public_keys", "public keys")
        row = PublicKey(
            arn=ctx.arn("public-key", ids.random_id()),
            name=params.get("name", ""),
            material=material,
            fingerprint=key_fingerprint,
        )
        session.add(row)
        await put_tags(session, row.arn, params.get("tags"))
        await session.flush()
        view = await _view(session, row)
    return {"publicKey": view}


@operation("GetPublicKey")
async def get_public_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        row = await get_or_404(session, PublicKey, params["arn"], "PublicKey")
        return {"publicKey": await _view(session, row)}


@operation("DeletePublicKey")
async def delete_public_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Tokens signed with the key's private half stop verifying at once: the lookup finds nothing."""
    async with ctx.db.write() as session:
        row = await get_or_404(session, PublicKey, params["arn"], "PublicKey")
        await remove_tags(session, row.arn)
        await session.delete(row)
    return {}


@operation("ListPublicKeys")
async def list_public_keys(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    async with ctx.db.read() as session:
        rows, next_token = await paginate(session, select(PublicKey), PublicKey.pk, "ListPublicKeys", params, {})
        tags = await tags_for(session, [row.arn for row in rows])
    summaries = [{"arn": row.arn, "name": row.name, "tags": tags[row.arn]} for row in rows]
    return {"publicKeys": summaries, "nextToken": next_token}
