"""Webhook settings from flags, the environment and the TOML file, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from openstage.config import ConfigError, load_settings


def test_webhooks_come_from_toml_environment_and_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "openstage.toml"
    config.write_text('webhooks = ["http://a.example/hook"]\nwebhook_secret = "s"\nwebhook_retry_base_seconds = 0.5\n')
    settings = load_settings({}, str(config))
    assert (settings.webhooks, settings.webhook_secret) == (["http://a.example/hook"], "s")
    assert (settings.webhook_retry_base_seconds, settings.webhook_retry_budget_seconds) == (0.5, 21600.0)
    monkeypatch.setenv("OPENSTAGE_WEBHOOKS", "http://b.example/1, http://b.example/2")
    assert load_settings({}, str(config)).webhooks == ["http://b.example/1", "http://b.example/2"]
    assert load_settings({"webhooks": ["https://c.example/"]}, str(config)).webhooks == ["https://c.example/"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"webhooks": ["http://a.example/hook"]},  # no secret
        {"webhooks": ["ftp://a.example/hook"], "webhook_secret": "s"},
        {"webhook_retry_base_seconds": "0"},
    ],
)
def test_unusable_webhook_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_settings(overrides)
