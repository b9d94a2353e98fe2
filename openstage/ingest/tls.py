"""The certificate RTMPS listens with: the operator's, or a self-signed one made once for local use.

Encoders on one machine (ffmpeg, OBS) do not verify the certificate by default, so a self-signed
one lets RTMPS work out of the box; a deployment names its own with ``rtmps_certificate`` and
``rtmps_private_key``.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERTIFICATE_FILE, KEY_FILE = "rtmps-certificate.pem", "rtmps-private-key.pem"
VALIDITY = datetime.timedelta(days=3650)


def server_context(certificate: str, private_key: str, data_dir: Path) -> ssl.SSLContext:
    """A TLS server context from the given PEM files, or from the self-signed pair in ``data_dir``."""
    if bool(certificate) != bool(private_key):
        raise ValueError("rtmps_certificate and rtmps_private_key must be given together")
    if not certificate:
        cert_path, key_path = data_dir / CERTIFICATE_FILE, data_dir / KEY_FILE
        if not (cert_path.exists() and key_path.exists()):
            write_self_signed(cert_path, key_path)
        certificate, private_key = str(cert_path), str(key_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, private_key)
    return context


def write_self_signed(cert_path: Path, key_path: Path) -> None:
    """An ECDSA P-256 certificate for localhost and the loopback addresses; the key is readable by its owner only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openstage RTMPS (self-signed)")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    names.append(x509.IPAddress(ipaddress.ip_address("::1")))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.write_bytes(key_pem)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
