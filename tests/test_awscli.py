"""The AWS CLI, unchanged, against a credentialed openstage: create, get, list, tag, delete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ACCESS_KEY = "AKIACLITEST000000001"
SECRET_KEY = "cli-secret"


@pytest.fixture(scope="module")
def cli_server(make_server):
    return make_server(args=["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])


def aws(server, *args: str, secret: str = SECRET_KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "awscli",
            "ivs-realtime",
            *args,
            "--endpoint-url",
            server.url,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_round_trip(cli_server):
    created = aws(
        cli_server,
        "create-stage",
        "--name",
        "from-cli",
        "--participant-token-configurations",
        "userId=alice,capabilities=PUBLISH,SUBSCRIBE,duration=30",
    )
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    arn = document["stage"]["arn"]
    assert document["participantTokens"][0]["userId"] == "alice"
    assert document["participantTokens"][0]["duration"] == 30

    fetched = aws(cli_server, "get-stage", "--arn", arn)
    assert fetched.returncode == 0, fetched.stderr
    assert json.loads(fetched.stdout)["stage"]["name"] == "from-cli"

    tagged = aws(cli_server, "tag-resource", "--resource-arn", arn, "--tags", "team=video")
    assert tagged.returncode == 0, tagged.stderr
    listed = aws(cli_server, "list-stages")
    assert listed.returncode == 0, listed.stderr
    mine = [s for s in json.loads(listed.stdout)["stages"] if s["arn"] == arn]
    assert mine == [{"arn": arn, "name": "from-cli", "tags": {"team": "video"}}]

    deleted = aws(cli_server, "delete-stage", "--arn", arn)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() in ("", "{}")

    missing = aws(cli_server, "get-stage", "--arn", arn)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


def test_validation_error_reaches_the_cli_user(cli_server):
    result = aws(cli_server, "create-stage", "--name", "no spaces allowed")
    assert result.returncode != 0
    assert "ValidationException" in result.stderr
    assert "regular expression pattern" in result.stderr


def test_wrong_secret_is_refused(cli_server):
    result = aws(cli_server, "list-stages", secret="wrong")
    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
