"""ImportPublicKey, GetPublicKey, DeletePublicKey, ListPublicKeys through boto3."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.server import Server
from tests.shapes import assert_matches_output

ARN_RE = re.compile(r"arn:aws:ivs:us-east-1:123456789012:public-key/[A-Za-z0-9]{12}")
FINGERPRINT_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){15}")


@pytest.fixture(scope="module")
def server(backend: str, make_server: Callable[..., Server]) -> Server:
    """A server of this module's own: the default quota (3 keys) is shared by every test otherwise."""
    return make_server(backend, args=["--quota", "public_keys=100"])


def pem_of(public_key: object) -> str:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def new_p384() -> tuple[str, str]:
    """A fresh P-384 public key as (PEM, expected fingerprint = MD5 of its DER SubjectPublicKeyInfo)."""
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem_of(public), ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_import_returns_key_with_md5_fingerprint(ivs):
    pem, expected_fingerprint = new_p384()
    response = ivs.import_public_key(publicKeyMaterial=pem, name="signer-1", tags={"team": "video", "env": "dev"})
    assert_matches_output("ImportPublicKey", response)
    key = response["publicKey"]
    assert ARN_RE.fullmatch(key["arn"]), key["arn"]
    assert FINGERPRINT_RE.fullmatch(key["fingerprint"]), key["fingerprint"]
    assert key == {
        "arn": key["arn"],
        "name": "signer-1",
        "publicKeyMaterial": pem,
        "fingerprint": expected_fingerprint,
        "tags": {"team": "video", "env": "dev"},
    }


def test_import_echoes_material_exactly_and_defaults_name(ivs):
    pem, expected_fingerprint = new_p384()
    material = pem.replace("\n", "\r\n")  # the model's pattern admits CRLF; it must come back unchanged
    key = ivs.import_public_key(publicKeyMaterial=material)["publicKey"]
    assert key["publicKeyMaterial"] == material
    assert key["name"] == ""
    assert key["tags"] == {}
    assert key["fingerprint"] == expected_fingerprint


def test_get_returns_what_import_returned(ivs):
    pem, _ = new_p384()
    imported = ivs.import_public_key(publicKeyMaterial=pem, name="get-me", tags={"k": "v"})["publicKey"]
    response = ivs.get_public_key(arn=imported["arn"])
    assert_matches_output("GetPublicKey", response)
    assert response["publicKey"] == imported


def test_delete_removes_key_and_tags(ivs):
    pem, _ = new_p384()
    arn = ivs.import_public_key(publicKeyMaterial=pem, tags={"doomed": "yes"})["publicKey"]["arn"]
    response = ivs.delete_public_key(arn=arn)
    assert_matches_output("DeletePublicKey", response)
    assert {k for k in response if k != "ResponseMetadata"} == set()
    with pytest.raises(ClientError) as error:
        ivs.get_public_key(arn=arn)
    assert error_of(error)[:2] == ("ResourceNotFoundException", 404)
    assert arn not in [k["arn"] for k in all_keys(ivs)]
    # The same key can be imported again once deleted, under a new ARN and without the old tags.
    again = ivs.import_public_key(publicKeyMaterial=pem)["publicKey"]
    assert again["arn"] != arn
    assert again["tags"] == {}


def all_keys(ivs, **kwargs) -> list[dict]:
    found: list[dict] = []
    while True:
        page = ivs.list_public_keys(**kwargs)
        assert_matches_output("ListPublicKeys", page)
        found += page["publicKeys"]
        if "nextToken" not in page:
            return found
        kwargs["nextToken"] = page["nextToken"]


def test_list_paginates_one_at_a_time_in_import_order(ivs):
    mine = []
    for i in range(3):
        pem, _ = new_p384()
        mine.append(ivs.import_public_key(publicKeyMaterial=pem, name=f"page-{i}", tags={"i": str(i)})["publicKey"])
    pages: list[list[dict]] = []
    kwargs: dict = {"maxResults": 1}
    while True:
        page = ivs.list_public_keys(**kwargs)
        assert_matches_output("ListPublicKeys", page)
        pages.append(page["publicKeys"])
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert all(len(p) == 1 for p in pages), pages
    listed = [p[0] for p in pages]
    arns = [k["arn"] for k in listed]
    assert len(arns) == len(set(arns))
    assert [a for a in arns if a in {k["arn"] for k in mine}] == [k["arn"] for k in mine]
    assert next(k for k in listed if k["arn"] == mine[1]["arn"]) == {
        "arn": mine[1]["arn"],
        "name": "page-1",
        "tags": {"i": "1"},
    }
    assert all_keys(ivs) == listed  # the default page (50) holds them all, in the same order


@pytest.mark.parametrize("max_results", [0, 101])
def test_list_max_results_range(raw_ivs, max_results):
    with pytest.raises(ClientError) as error:
        raw_ivs.list_public_keys(maxResults=max_results)
    code, status, message = error_of(error)
    assert (code, status) == ("ValidationException", 400)
    assert "maxResults" in message


def test_duplicate_import_is_conflict_naming_existing_arn(ivs):
    pem, expected_fingerprint = new_p384()
    first = ivs.import_public_key(publicKeyMaterial=pem, name="first")["publicKey"]
    with pytest.raises(ClientError) as error:
        ivs.import_public_key(publicKeyMaterial=pem.replace("\n", "\r\n"), name="second")
    code, status, message = error_of(error)
    assert (code, status) == ("ConflictException", 409)
    assert first["arn"] in message
    assert expected_fingerprint in message
    assert [k["name"] for k in all_keys(ivs) if k["arn"] == first["arn"]] == ["first"]


def _p256() -> str:
    return pem_of(ec.generate_private_key(ec.SECP256R1()).public_key())


def _p521() -> str:
    return pem_of(ec.generate_private_key(ec.SECP521R1()).public_key())


def _rsa() -> str:
    return pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())


def _ed25519() -> str:
    return pem_of(ed25519.Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    "make_pem, named",
    [
        (_p256, "secp256r1"),
        (_p521, "secp521r1"),
        (_rsa, "RSA 2048-bit"),
        (_ed25519, "Ed25519"),
    ],
    ids=["p256", "p521", "rsa", "ed25519"],
)
def test_import_rejects_keys_other_than_p384(ivs, make_pem, named):
    with pytest.raises(ClientError) as error:
        ivs.import_public_key(publicKeyMaterial=make_pem())
    code, status, message = error_of(error)
    assert (code, status) == ("ValidationException", 400)
    assert "P-384" in message and "secp384r1" in message
    assert named in message


@pytest.mark.parametrize(
    "material",
    [
        "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    ],
    ids=["base64-of-text", "too-short"],
)
def test_import_rejects_garbage_inside_a_pem_block(ivs, material):
    with pytest.raises(ClientError) as error:
        ivs.import_public_key(publicKeyMaterial=material)
    code, status, message = error_of(error)
    assert (code, status) == ("ValidationException", 400)
    assert "publicKeyMaterial is not a PEM-encoded public key" in message


def test_import_rejects_text_without_pem_block(raw_ivs):
    with pytest.raises(ClientError) as error:
        raw_ivs.import_public_key(publicKeyMaterial="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host")
    code, status, message = error_of(error)
    assert (code, status) == ("ValidationException", 400)
    assert "publicKeyMaterial" in message


def test_import_rejects_bad_name(raw_ivs):
    pem, _ = new_p384()
    with pytest.raises(ClientError) as error:
        raw_ivs.import_public_key(publicKeyMaterial=pem, name="has space")
    assert error_of(error)[:2] == ("ValidationException", 400)
    assert "name" in error_of(error)[2]


def test_rejected_imports_store_nothing(ivs):
    before = all_keys(ivs)
    for make_pem in (_p256, _rsa):
        with pytest.raises(ClientError):
            ivs.import_public_key(publicKeyMaterial=make_pem(), name="rejected")
    assert all_keys(ivs) == before


@pytest.mark.parametrize("call", ["get_public_key", "delete_public_key"])
def test_unknown_key_is_not_found(ivs, call):
    arn = "arn:aws:ivs:us-east-1:123456789012:public-key/AbCdEf123456"
    with pytest.raises(ClientError) as error:
        getattr(ivs, call)(arn=arn)
    code, status, message = error_of(error)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert arn in message


def test_quota_of_three_keys_is_402(backend, make_server):
    server = make_server(backend, args=["--quota", "public_keys=3"])
    ivs = server.client()
    arns = [ivs.import_public_key(publicKeyMaterial=new_p384()[0])["publicKey"]["arn"] for _ in range(3)]
    with pytest.raises(ClientError) as error:
        ivs.import_public_key(publicKeyMaterial=new_p384()[0])
    code, status, message = error_of(error)
    assert (code, status) == ("ServiceQuotaExceededException", 402)
    assert "3" in message
    assert [k["arn"] for k in ivs.list_public_keys()["publicKeys"]] == arns
    # Deleting one frees its slot.
    ivs.delete_public_key(arn=arns[0])
    ivs.import_public_key(publicKeyMaterial=new_p384()[0])


def test_concurrent_imports_of_one_key_create_exactly_one(server):
    pem, _ = new_p384()
    clients = [server.client() for _ in range(6)]

    def attempt(client) -> str:
        try:
            client.import_public_key(publicKeyMaterial=pem)
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "ok"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = sorted(pool.map(attempt, clients))
    assert outcomes == ["ConflictException"] * 5 + ["ok"]


def test_concurrent_imports_respect_the_quota(backend, make_server):
    server = make_server(backend, args=["--quota", "public_keys=3"])
    clients = [server.client() for _ in range(8)]
    pems = [new_p384()[0] for _ in clients]

    def attempt(job: tuple[object, str]) -> str:
        client, pem = job
        try:
            client.import_public_key(publicKeyMaterial=pem)  # type: ignore[attr-defined]
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "ok"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = sorted(pool.map(attempt, zip(clients, pems, strict=True)))
    assert outcomes == ["ServiceQuotaExceededException"] * 5 + ["ok"] * 3
    assert len(server.client().list_public_keys()["publicKeys"]) == 3
