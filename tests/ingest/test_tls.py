"""RTMPS certificates: a self-signed pair made once in the data dir, or the operator's files."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from openstage.ingest.tls import CERTIFICATE_FILE, KEY_FILE, server_context


def test_a_self_signed_certificate_is_made_once_and_kept(tmp_path: Path) -> None:
    assert isinstance(server_context("", "", tmp_path), ssl.SSLContext)
    made = (tmp_path / CERTIFICATE_FILE).read_bytes()
    certificate = x509.load_pem_x509_certificate(made)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    server_context("", "", tmp_path)
    assert (tmp_path / CERTIFICATE_FILE).read_bytes() == made


def test_the_operators_files_are_used_and_must_come_as_a_pair(tmp_path: Path) -> None:
    server_context("", "", tmp_path / "made")
    own = tmp_path / "made"
    context = server_context(str(own / CERTIFICATE_FILE), str(own / KEY_FILE), tmp_path / "unused")
    assert isinstance(context, ssl.SSLContext) and not (tmp_path / "unused" / CERTIFICATE_FILE).exists()
    with pytest.raises(ValueError, match="together"):
        server_context(str(own / CERTIFICATE_FILE), "", tmp_path)
