"""One token-signing key for the whole cluster: a token any node issues verifies on every node.

The first node to start proposes its own key (tokens/keys.py); later nodes adopt the cluster's and keep
it in their data folder, so after a restart of Redis, whichever node starts first proposes the same key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from openstage.cluster.node import Cluster
from openstage.tokens.keys import load_or_create_server_key, save_key_file

KEY_NAME = "token-signing-key"


async def cluster_signing_key(cluster: Cluster, data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The first thing a node needs from the cluster: raises ClusterUnavailable, with the reason, if it cannot
    reach it."""
    await cluster.backend.connect()
    own = load_or_create_server_key(data_dir)
    pem = own.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    adopted = (await cluster.backend.adopt(KEY_NAME, pem.decode())).encode()
    if adopted == pem:
        return own
    key = serialization.load_pem_private_key(adopted, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the cluster's token-signing key is not an EC private key")
    save_key_file(data_dir / "keys" / "token-signing-key.pem", adopted)
    return key
