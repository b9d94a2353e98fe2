"""How an IvsRealTimeClient reaches the service: region, endpoint, credentials, retries, timeouts.

A field left ``None`` is resolved by botocore when the client makes its first call, the way boto3
resolves it: ``AWS_DEFAULT_REGION`` or the profile's region, ``AWS_ENDPOINT_URL_IVS_REALTIME`` /
``AWS_ENDPOINT_URL`` or the profile's endpoint, and credentials from the default provider chain
(environment, shared files, SSO, container and instance roles).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict, cast, get_args

RetryMode = Literal["legacy", "standard", "adaptive"]


@dataclass(frozen=True)
class StaticCredentials:
    """A fixed key pair (and session token), instead of the default provider chain."""

    access_key_id: str
    secret_access_key: str = field(repr=False)  # secrets stay out of logs and tracebacks
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Settings of one client; ``IvsRealTimeClient.with_config(**overrides)`` copies them with changes."""

    region: str | None = None
    endpoint_url: str | None = None
    credentials: StaticCredentials | None = None
    """``None``: the default provider chain (of ``profile``, if set), as boto3 resolves it."""
    profile: str | None = None
    max_attempts: int | None = None
    """Total attempts per call, the first included (``AWS_MAX_ATTEMPTS``'s meaning)."""
    retry_mode: RetryMode | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    max_pool_connections: int = 10
    """Connections kept open, and threads running calls at once."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientConfig:
        """The settings every AWS SDK reads from the environment, resolved now.

        ``AWS_REGION`` is read here although botocore itself only reads ``AWS_DEFAULT_REGION``.
        Credentials stay with the provider chain, which reads ``AWS_ACCESS_KEY_ID`` & co. itself
        and can refresh temporary ones.
        """
        env = os.environ if environ is None else environ
        endpoint = None
        if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
            endpoint = env.get("AWS_ENDPOINT_URL_IVS_REALTIME") or env.get("AWS_ENDPOINT_URL") or None
        mode = env.get("AWS_RETRY_MODE") or None
        if mode is not None and mode not in get_args(RetryMode):
            raise ValueError(f"AWS_RETRY_MODE must be one of {', '.join(get_args(RetryMode))}, got {mode!r}")
        attempts = env.get("AWS_MAX_ATTEMPTS")
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=endpoint,
            profile=env.get("AWS_PROFILE") or None,
            max_attempts=int(attempts) if attempts else None,
            retry_mode=cast("RetryMode | None", mode),
        )


class ConfigOverrides(TypedDict, total=False):
    """The fields of ClientConfig, as keyword arguments of the client and ``with_config``."""

    region: str | None
    endpoint_url: str | None
    credentials: StaticCredentials | None
    profile: str | None
    max_attempts: int | None
    retry_mode: RetryMode | None
    connect_timeout: float | None
    read_timeout: float | None
    max_pool_connections: int
