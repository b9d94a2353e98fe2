"""Every setting openstage reads, from flags, ``OPENSTAGE_*`` environment variables or a TOML file.

Precedence is flag > environment > TOML file > default, so an operator can keep a file for
the stable parts and override one value for a single run.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "OPENSTAGE_"

DEFAULT_QUOTAS: dict[str, int] = {
    "stages": 1000,
    "encoder_configurations": 20,
    "storage_configurations": 5,
    "ingest_configurations": 100,
    "public_keys": 3,
    "compositions": 20,
    "compositions_per_stage": 5,
}


class ConfigError(ValueError):
    """A setting that cannot be used; the message is shown to the operator as is."""


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".openstage")
    public_url: str = ""
    region: str = "us-east-1"
    account_id: str = "123456789012"
    database_url: str = ""
    log_level: str = "info"
    access_key: str = ""
    secret_key: str = ""
    credentials_file: str = ""
    rtmp_port: int = 1935
    rtmps_port: int = 1936
    # PEM files for RTMPS; both empty: a self-signed pair is made in the data dir on first start.
    rtmps_certificate: str = ""
    rtmps_private_key: str = ""
    # Media plane: the addresses ICE advertises (comma-separated; empty = every non-loopback
    # address of the machine, aioice's default) and the UDP ports it may bind (0 = any).
    ice_addresses: str = ""
    udp_port_min: int = 0
    udp_port_max: int = 0
    # A stage session ends when the stage has been empty this long (docs 3.1: "a few minutes").
    session_grace_seconds: int = 60
    # Event webhooks (docs/events.md): every URL gets every event, signed with the one secret;
    # a failing event is retried after base, 2x base, … (at most 10 min apart) until the budget is spent.
    webhooks: list[str] = field(default_factory=list)
    webhook_secret: str = ""
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_budget_seconds: float = 6 * 3600.0
    # AWS EventBridge (docs/events.md): PutEvents to this bus (name or ARN; empty = off) with the
    # credentials botocore finds; endpoint and region default to AWS's for ``region``.
    eventbridge_bus: str = ""
    eventbridge_endpoint_url: str = ""
    eventbridge_region: str = ""
    eventbridge_source: str = "aws.ivs"
    # Server-side composition (docs 5.2): stop after this long without publishers or in all; a stopped
    # or failed composition leaves Get/List this long after it ended; an RTMP destination that keeps
    # failing is FAILED after reconnecting for this long.
    composition_idle_seconds: float = 60.0
    composition_max_seconds: float = 24 * 3600.0
    composition_retention_seconds: float = 300.0
    composition_reconnect_seconds: float = 30.0
    # Recording storage (docs/storage.md): an S3-compatible endpoint; empty = local folder buckets in the data dir.
    s3_endpoint: str = ""
    s3_region: str = ""  # empty: --region
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # Scale-out (docs/cluster.md): nodes sharing one PostgreSQL database and one Redis act as one service. Without
    # redis_url the node is a cluster of one. node_id defaults to a random id per start; cluster_name prefixes every
    # Redis key, so clusters can share a Redis. A node is dead once it missed heartbeats for node_ttl_seconds.
    redis_url: str = ""
    node_id: str = ""
    cluster_name: str = "openstage"
    heartbeat_seconds: float = 2.0
    node_ttl_seconds: float = 10.0
    quotas: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))

    @property
    def resolved_public_url(self) -> str:
        """The base URL clients are told to use; defaults to where the server listens."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'openstage.db').resolve()}"

    @property
    def ice_address_list(self) -> list[str]:
        """``"127.0.0.1, ::1"`` -> ["127.0.0.1", "::1"]; raises ConfigError on anything but IP addresses."""
        try:
            return [str(ipaddress.ip_address(p.strip())) for p in self.ice_addresses.split(",") if p.strip()]
        except ValueError as exc:
            raise ConfigError(f"ice_addresses must be comma-separated IP addresses: {exc}") from None

    @property
    def udp_port_range(self) -> tuple[int, int]:
        """(udp_port_min, udp_port_max), (0, 0) for any port; raises ConfigError on a half-set or out-of-range pair."""
        low, high = self.udp_port_min, self.udp_port_max
        if (low, high) != (0, 0) and not 1024 <= low <= high <= 65535:
            raise ConfigError(
                "udp_port_min and udp_port_max must be set together with 1024 <= udp_port_min <= udp_port_max "
                f"<= 65535 (or both 0 for any port), got {low} and {high}"
            )
        return low, high

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def credentials(self) -> dict[str, str]:
        """Access key id -> secret key, from the flags and the credentials file together."""
        creds: dict[str, str] = {}
        if self.credentials_file:
            creds.update(_read_credentials_file(Path(self.credentials_file)))
        if self.access_key or self.secret_key:
            if not (self.access_key and self.secret_key):
                raise ConfigError("--access-key and --secret-key must be given together")
            creds[self.access_key] = self.secret_key
        return creds

    def validate(self) -> None:
        if not self.account_id.isdigit() or len(self.account_id) != 12:
            raise ConfigError(f"account id must be 12 digits, got {self.account_id!r}")
        if not self.region or not all(c.isalnum() or c == "-" for c in self.region):
            raise ConfigError(f"region must look like us-east-1, got {self.region!r}")
        for name, value in self.quotas.items():
            if name not in DEFAULT_QUOTAS:
                raise ConfigError(f"unknown quota {name!r}; known: {', '.join(DEFAULT_QUOTAS)}")
            if value < 0:
                raise ConfigError(f"quota {name} must be >= 0, got {value}")
        self.ice_address_list  # noqa: B018  (validates)
        self.udp_port_range  # noqa: B018  (validates)
        self._validate_webhooks()
        for name in ("composition_idle_seconds", "composition_max_seconds", "composition_reconnect_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.composition_retention_seconds < 0:
            raise ConfigError(f"composition_retention_seconds must be >= 0, got {self.composition_retention_seconds}")
        self._validate_cluster()
        if not self.credentials() and not self.is_loopback:
            raise ConfigError(
                f"refusing to listen on {self.host} without credentials: anyone who can reach it could "
                "mint participant tokens. Set --access-key/--secret-key (or --credentials-file), or bind "
                "to 127.0.0.1 for local development."
            )

    def _validate_cluster(self) -> None:
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"redis_url must start with redis://, rediss:// or unix://, got {self.redis_url!r}")
        if self.redis_url and not self.database_url.startswith("postgresql"):
            raise ConfigError("a cluster (--redis-url) needs a shared PostgreSQL --database-url: SQLite is one node's")
        if self.redis_url and not self.public_url and not self.is_loopback:
            raise ConfigError(
                f"a cluster node listening on {self.host} needs --public-url: the other nodes send participants there"
            )
        if self.node_id and not all(c.isalnum() or c in "-_." for c in self.node_id):
            raise ConfigError(f"node_id may hold letters, digits, '-', '_' and '.', got {self.node_id!r}")
        if not 0 < self.heartbeat_seconds < self.node_ttl_seconds:
            raise ConfigError(
                "heartbeat_seconds must be > 0 and below node_ttl_seconds, got "
                f"{self.heartbeat_seconds} and {self.node_ttl_seconds}"
            )

    def _validate_webhooks(self) -> None:
        for url in self.webhooks:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"webhook URL must start with http:// or https://, got {url!r}")
        if self.webhooks and not self.webhook_secret:
            raise ConfigError("webhooks need --webhook-secret: receivers check each event's signature with it")
        if self.webhook_retry_base_seconds <= 0 or self.webhook_retry_budget_seconds < 0:
            raise ConfigError("webhook_retry_base_seconds must be > 0 and webhook_retry_budget_seconds >= 0")
        if self.eventbridge_endpoint_url and not self.eventbridge_endpoint_url.startswith(("http://", "https://")):
            raise ConfigError(f"eventbridge_endpoint_url must be an http(s) URL, got {self.eventbridge_endpoint_url!r}")
        if (self.eventbridge_endpoint_url or self.eventbridge_region) and not self.eventbridge_bus:
            raise ConfigError("eventbridge_endpoint_url and eventbridge_region need eventbridge_bus")
        if self.eventbridge_bus and not self.eventbridge_source:
            raise ConfigError("eventbridge_source must not be empty")


def _read_credentials_file(path: Path) -> dict[str, str]:
    """Reads an AWS-style INI credentials file or a TOML file with ``[[credentials]]`` tables."""
    import configparser

    if not path.exists():
        raise ConfigError(f"credentials file {path} does not exist")
    text = path.read_text()
    if path.suffix == ".toml":
        data = tomllib.loads(text)
        entries = data.get("credentials", [])
        return {e["access_key"]: e["secret_key"] for e in entries}
    parser = configparser.ConfigParser()
    parser.read_string(text)
    creds = {}
    for section in parser.sections():
        key = parser.get(section, "aws_access_key_id", fallback="")
        secret = parser.get(section, "aws_secret_access_key", fallback="")
        if key and secret:
            creds[key] = secret
    if not creds:
        raise ConfigError(f"no aws_access_key_id/aws_secret_access_key pairs found in {path}")
    return creds


def _coerce(name: str, raw: Any) -> Any:
    default = getattr(Settings(), name)
    if name == "quotas":
        if isinstance(raw, dict):
            return {str(k): int(v) for k, v in raw.items()}
        return parse_quota_overrides(str(raw).split(","))
    if isinstance(default, list):  # a TOML array, or comma-separated in the environment
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return [str(item).strip() for item in items if str(item).strip()]
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if isinstance(default, bool):
        return str(raw).lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if isinstance(default, Path):
        return Path(raw)
    return str(raw)


def parse_quota_overrides(items: list[str]) -> dict[str, int]:
    quotas: dict[str, int] = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"quota override must be NAME=VALUE, got {item!r}")
        try:
            quotas[name.strip().replace("-", "_")] = int(value)
        except ValueError as exc:
            raise ConfigError(f"quota {name} must be an integer, got {value!r}") from exc
    return quotas


def load_settings(overrides: dict[str, Any], config_file: str | None = None) -> Settings:
    """Builds Settings from a TOML file, the environment and explicit overrides (flags)."""
    values: dict[str, Any] = {}
    names = [f.name for f in fields(Settings)]
    config_file = config_file or os.environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
        for key, raw in data.items():
            key = key.replace("-", "_")
            if key not in names:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            values[key] = _coerce(key, raw)
    for name in names:
        raw = os.environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, raw)
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    quotas = dict(DEFAULT_QUOTAS)
    quotas.update(values.pop("quotas", {}))
    settings = Settings(**values, quotas=quotas)
    settings.validate()
    return settings
