"""ClientConfig becomes botocore's configuration; unset values stay botocore's to resolve."""

from __future__ import annotations

import pytest

from openstage.client import ClientConfig, StaticCredentials
from openstage.client.transport import create_botocore_client


def test_config_maps_onto_botocore() -> None:
    config = ClientConfig(
        region="eu-central-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=StaticCredentials("AKIDMAPPED", "mapped-secret", "mapped-token"),
        max_attempts=4,
        retry_mode="standard",
        connect_timeout=2.5,
        read_timeout=7,
        max_pool_connections=3,
    )
    client = create_botocore_client(config)
    try:
        assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-central-1", "http://127.0.0.1:9")
        assert client.meta.config.retries == {"total_max_attempts": 4, "mode": "standard"}
        assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.5, 7)
        assert client.meta.config.max_pool_connections == 3
        credentials = client._request_signer._credentials  # botocore keeps no public view of a client's keys
        assert (credentials.access_key, credentials.secret_key, credentials.token) == (
            "AKIDMAPPED",
            "mapped-secret",
            "mapped-token",
        )
        assert client.meta.service_model.signing_name == "ivs"
    finally:
        client.close()


def test_unset_values_are_botocores_defaults(clean_env: pytest.MonkeyPatch) -> None:
    client = create_botocore_client(ClientConfig(region="us-east-1", credentials=StaticCredentials("a", "b")))
    try:
        assert client.meta.config.connect_timeout == 60 and client.meta.config.read_timeout == 60
        assert client.meta.endpoint_url == "https://ivsrealtime.us-east-1.amazonaws.com"
    finally:
        client.close()
