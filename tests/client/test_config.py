"""ClientConfig: what the environment sets, and how a client built from it signs and reaches the server."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from openstage.client import ClientConfig, IvsRealTimeClient, IvsRealTimeError, StaticCredentials
from openstage.client.config import ConfigOverrides
from tests.client.clients import SECURED_KEY
from tests.server import Server


def test_from_env_reads_the_sdk_variables() -> None:
    config = ClientConfig.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_ENDPOINT_URL_IVS_REALTIME": "http://127.0.0.1:9000",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9999",
            "AWS_PROFILE": "studio",
            "AWS_MAX_ATTEMPTS": "5",
            "AWS_RETRY_MODE": "adaptive",
        }
    )
    assert config == ClientConfig(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9000",
        profile="studio",
        max_attempts=5,
        retry_mode="adaptive",
    )


def test_from_env_fallbacks() -> None:
    env = {"AWS_DEFAULT_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:9999"}
    config = ClientConfig.from_env(env)
    assert (config.region, config.endpoint_url) == ("us-west-2", "http://127.0.0.1:9999")
    assert ClientConfig.from_env({**env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}).endpoint_url is None
    assert ClientConfig.from_env({}) == ClientConfig()


def test_from_env_rejects_an_unknown_retry_mode() -> None:
    with pytest.raises(ValueError, match="AWS_RETRY_MODE"):
        ClientConfig.from_env({"AWS_RETRY_MODE": "eager"})


def test_overrides_name_every_field() -> None:
    assert set(ConfigOverrides.__annotations__) == {field.name for field in dataclasses.fields(ClientConfig)}


def test_credentials_repr_hides_the_secret() -> None:
    credentials = StaticCredentials("AKIDSHOWN", "hidden-secret", "hidden-token")
    assert "AKIDSHOWN" in repr(credentials) and "hidden" not in repr(ClientConfig(credentials=credentials))


def test_client_from_env_signs_with_the_environment_credentials(secured: Server, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_REGION", "us-east-1")
    clean_env.setenv("AWS_ENDPOINT_URL_IVS_REALTIME", secured.url)
    clean_env.setenv("AWS_ACCESS_KEY_ID", SECURED_KEY.access_key_id)
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", SECURED_KEY.secret_access_key)

    async def main() -> None:
        async with IvsRealTimeClient.from_env(max_attempts=1) as client:
            assert (client.config.region, client.config.endpoint_url) == ("us-east-1", secured.url)
            assert client.config.credentials is None  # left to the provider chain, which read the variables
            assert isinstance((await client.list_stages()).stages, list)
        clean_env.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        async with IvsRealTimeClient.from_env(max_attempts=1) as client:
            with pytest.raises(IvsRealTimeError) as excinfo:
                await client.list_stages()
        assert excinfo.value.code == "InvalidSignatureException"

    asyncio.run(main())


def test_client_from_env_uses_the_global_endpoint_variable(secured: Server, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clean_env.setenv("AWS_ENDPOINT_URL", secured.url)
    clean_env.setenv("AWS_ACCESS_KEY_ID", SECURED_KEY.access_key_id)
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", SECURED_KEY.secret_access_key)

    async def main() -> None:
        async with IvsRealTimeClient.from_env(max_attempts=1) as client:
            assert isinstance((await client.list_stages()).stages, list)

    asyncio.run(main())
