"""``openstage serve``: options from flags, environment and files; start-up refusals; shutdown."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from openstage.config import Settings


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openstage.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_base_env(), **(env or {})},
    )


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}


def test_refuses_non_loopback_without_credentials(tmp_path):
    result = _serve("--host", "0.0.0.0", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without credentials" in result.stderr
    assert not (tmp_path / "openstage.db").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--account-id", "12"], "account id must be 12 digits"),
        (["--quota", "stages"], "NAME=VALUE"),
        (["--quota", "widgets=3"], "unknown quota 'widgets'"),
        (["--access-key", "AKIA"], "must be given together"),
        (["--credentials-file", "/nonexistent/credentials"], "does not exist"),
    ],
)
def test_bad_settings_are_explained(tmp_path, args, message):
    result = _serve("--port", "0", "--data-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_port_in_use_is_explained(tmp_path, server):
    result = _serve("--port", str(server.port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr


def test_environment_and_config_file_set_region_account_and_public_url(make_server, tmp_path):
    config = tmp_path / "openstage.toml"
    config.write_text('region = "eu-central-1"\npublic_url = "https://stage.example.test"\n')
    server = make_server(env={"OPENSTAGE_CONFIG": str(config), "OPENSTAGE_ACCOUNT_ID": "210987654321"})
    banner = "".join(server.output)
    assert "region eu-central-1, account 210987654321" in banner
    assert 'endpoint_url="https://stage.example.test"' in banner
    stage = server.client(region="eu-central-1").create_stage(name="env")["stage"]
    assert stage["arn"].startswith("arn:aws:ivs:eu-central-1:210987654321:stage/")
    assert stage["endpoints"]["events"] == "wss://stage.example.test/events"
    assert stage["endpoints"]["whip"] == "https://stage.example.test/whip"
    assert stage["endpoints"]["rtmps"] == f"rtmps://stage.example.test:{server.rtmp_ports[1]}/app/"


def test_flags_override_environment(make_server):
    server = make_server(args=["--region", "ap-south-1"], env={"OPENSTAGE_REGION": "eu-west-1"})
    assert "region ap-south-1," in "".join(server.output)


def test_banner_says_where_data_lives_and_how_to_connect(server):
    banner = "".join(server.output)
    assert f"listening on {server.url}" in banner
    assert str(server.data_dir.resolve()) in banner
    assert f'boto3.client("ivs-realtime", endpoint_url="{server.url}", region_name="us-east-1")' in banner
    assert f"--endpoint-url {server.url}" in banner


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown(make_server, sig):
    server = make_server()
    server.client().create_stage(name="before-stop")
    assert server.stop(sig) == 0
    assert "Traceback" not in "".join(server.output)


def test_settings_defaults_match_the_docs():
    settings = Settings()
    assert (settings.region, settings.account_id, settings.host) == ("us-east-1", "123456789012", "127.0.0.1")
    assert settings.quotas == {
        "stages": 1000,
        "encoder_configurations": 20,
        "storage_configurations": 5,
        "ingest_configurations": 100,
        "public_keys": 3,
        "compositions": 20,
        "compositions_per_stage": 5,
    }


def test_listening_socket_lets_asyncio_disable_nagle():
    """Without IPPROTO_TCP, asyncio leaves Nagle on and keep-alive responses stall ~40 ms."""
    import socket as sockets

    from openstage.server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.proto == sockets.IPPROTO_TCP
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()


def test_bad_ice_address_is_explained(tmp_path):
    result = _serve("--port", "0", "--data-dir", str(tmp_path), "--ice-addresses", "127.0.0.1,not-an-ip")
    assert result.returncode == 2
    assert "ice_addresses must be comma-separated IP addresses" in result.stderr
