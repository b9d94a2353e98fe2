"""The channel registry and ``openstage channels``: the one lookup StartComposition uses for channel ARNs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openstage.composition import channels

ARN = "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEf123456"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openstage.cli", "channels", *args], capture_output=True, text=True, timeout=60
    )


def test_add_list_remove_through_the_cli(tmp_path):
    added = cli("--data-dir", str(tmp_path), "add", ARN, "rtmp://127.0.0.1:1935/live/secret")
    assert added.returncode == 0, added.stderr
    assert channels.ingest_url(tmp_path, ARN) == "rtmp://127.0.0.1:1935/live/secret"
    listed = cli("--data-dir", str(tmp_path), "list")
    assert listed.stdout == f"{ARN}\trtmp://127.0.0.1:1935/live/secret\n"
    replaced = cli("--data-dir", str(tmp_path), "add", ARN, "rtmps://127.0.0.1:1936/app/other")
    assert replaced.returncode == 0 and channels.ingest_url(tmp_path, ARN) == "rtmps://127.0.0.1:1936/app/other"
    assert cli("--data-dir", str(tmp_path), "remove", ARN).returncode == 0
    assert channels.ingest_url(tmp_path, ARN) is None
    again = cli("--data-dir", str(tmp_path), "remove", ARN)
    assert again.returncode == 1 and f"no channel {ARN}" in again.stderr


@pytest.mark.parametrize(
    "arn, url, message",
    [
        ("arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456", "rtmp://h/app/key", "is not an IVS channel ARN"),
        (ARN, "http://h/app/key", "is not an RTMP ingest URL"),
        (ARN, "rtmp:///app/key", "is not an RTMP ingest URL"),
        (ARN, "rtmp://h/app", "names no stream key"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(tmp_path, arn, url, message):
    result = cli("--data-dir", str(tmp_path), "add", arn, url)
    assert result.returncode == 2 and message in result.stderr
    assert channels.read(tmp_path) == {}


def test_data_dir_from_the_environment(tmp_path):
    env = {"OPENSTAGE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "openstage.cli", "channels", "add", ARN, "rtmp://127.0.0.1/live/k"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / channels.FILE_NAME).read_text()) == {ARN: "rtmp://127.0.0.1/live/k"}


def test_an_unreadable_registry_is_explained(tmp_path):
    (tmp_path / channels.FILE_NAME).write_text("[1, 2]")
    with pytest.raises(channels.ChannelError, match="must hold a JSON object"):
        channels.ingest_url(tmp_path, ARN)
    (tmp_path / channels.FILE_NAME).write_text("{not json")
    with pytest.raises(channels.ChannelError, match="cannot read the channel registry"):
        channels.read(tmp_path)
