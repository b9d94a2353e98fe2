"""Everything answered 200 survives ``kill -9`` of the server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.tokens import TokenIssuer, TokenVerifier, load_or_create_server_key


def _public_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_acknowledged_writes_survive_kill_9(make_server, backend):
    server = make_server(backend)
    ivs = server.client()
    stages = [ivs.create_stage(name=f"durable-{i}", tags={"n": str(i)})["stage"] for i in range(20)]
    ivs.update_stage(arn=stages[0]["arn"], name="renamed")
    stages[0]["name"] = "renamed"
    ivs.delete_stage(arn=stages[1]["arn"])
    del stages[1]
    ivs.tag_resource(resourceArn=stages[2]["arn"], tags={"added": "later"})
    stages[2]["tags"]["added"] = "later"
    encoder = ivs.create_encoder_configuration(name="enc", video={"width": 640, "height": 360})["encoderConfiguration"]
    storage = ivs.create_storage_configuration(name="st", s3={"bucketName": "durable-bucket"})["storageConfiguration"]
    ingest = ivs.create_ingest_configuration(ingestProtocol="RTMPS", stageArn=stages[3]["arn"], userId="obs")
    ingest = ingest["ingestConfiguration"]
    public_key = ivs.import_public_key(publicKeyMaterial=_public_pem(), name="pk")["publicKey"]
    token = ivs.create_participant_token(stageArn=stages[4]["arn"], userId="u")["participantToken"]

    server.stop(signal.SIGKILL)
    server.start(port=server.port)
    ivs = server.client()

    for stage in stages:
        assert ivs.get_stage(arn=stage["arn"])["stage"] == stage
    listed = {s["arn"] for s in ivs.list_stages(maxResults=100)["stages"]}
    assert listed == {s["arn"] for s in stages}
    assert ivs.get_encoder_configuration(arn=encoder["arn"])["encoderConfiguration"] == encoder
    assert ivs.get_storage_configuration(arn=storage["arn"])["storageConfiguration"] == storage
    assert ivs.get_ingest_configuration(arn=ingest["arn"])["ingestConfiguration"] == ingest
    assert ivs.get_public_key(arn=public_key["arn"])["publicKey"] == public_key

    # The signing key persisted: a token issued before the crash still verifies after it.
    issuer = TokenIssuer(load_or_create_server_key(server.data_dir), stages[4]["endpoints"])
    claims = asyncio.run(TokenVerifier(issuer, lambda _kid: asyncio.sleep(0, None)).verify(token["token"]))
    assert (claims.participant_id, claims.user_id) == (token["participantId"], "u")
