"""Starts real ``openstage serve`` processes for tests, on SQLite or a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import boto3
from botocore.config import Config

POSTGRES_ADMIN_URL = os.environ.get("OPENSTAGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REGION = "us-east-1"
ACCOUNT = "123456789012"


def postgres_available() -> bool:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    return True


def create_postgres_database() -> str:
    """Creates an empty database and returns its SQLAlchemy URL."""
    import asyncpg

    name = "openstage_test_" + uuid.uuid4().hex[:12]

    async def create() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@dataclass
class Server:
    """One running ``openstage serve``; ``restart`` keeps its data dir and database."""

    data_dir: Path
    database_url: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    wrapper: list[str] = field(default_factory=list)  # runs the server through it, e.g. ``ip netns exec NS``
    process: subprocess.Popen[str] | None = None
    url: str = ""
    rtmp_ports: tuple[int, int] = (0, 0)  # RTMP, RTMPS, as the banner names them
    output: list[str] = field(default_factory=list)
    _reader: threading.Thread = field(init=False, repr=False)

    def start(self, port: int = 0) -> Server:
        command = [
            *self.wrapper,
            sys.executable,
            "-m",
            "openstage.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            "--rtmp-port",  # any free ports at first, so servers run side by side; the same ones on a restart
            str(self.rtmp_ports[0]),
            "--rtmps-port",
            str(self.rtmp_ports[1]),
            *self.args,
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
        env.update(self.env)
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + 60
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"listening on (http://\S+)", line)
            if found:
                self.url = found.group(1)
            ingest = re.search(r"RTMP on port (\d+), RTMPS on port (\d+)", line)
            if ingest:
                self.rtmp_ports = (int(ingest.group(1)), int(ingest.group(2)))
            if self.url and "or the AWS CLI" in line:  # the banner's last line
                self._drain()
                return self
        self.process.kill()
        raise RuntimeError("openstage serve did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        """Keeps reading the server's output: a full pipe would block its logging and hang the server."""
        assert self.process is not None and self.process.stdout is not None
        self._reader = threading.Thread(target=self.output.extend, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._reader.join(timeout=10)
        return code

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(
        self, access_key: str = "AKIDEXAMPLE", secret_key: str = "secret", region: str = REGION, validate: bool = True
    ):
        """A boto3 client; ``validate=False`` turns off botocore's own checks so the server's are tested."""
        return boto3.client(
            "ivs-realtime",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 1}, parameter_validation=validate),
        )


def signed_request(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    access_key: str = "AKIDEXAMPLE",
    secret_key: str = "secret",
    region: str = REGION,
    service: str = "ivs",
    headers: dict[str, str] | None = None,
    sign: bool = True,
    timestamp: datetime | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Sends one raw HTTP request, SigV4-signed by botocore, and returns (status, headers, body).

    For what boto3 cannot send: malformed JSON, unknown operations, stale or foreign signatures.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=server.url + path, data=body, headers=dict(headers or {}))
    if sign:
        signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
        if timestamp is not None:
            with mock_time(timestamp):
                signer.add_auth(request)
        else:
            signer.add_auth(request)
    prepared = request.prepare()
    out = urllib.request.Request(prepared.url, data=body or None, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(out, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@contextmanager
def mock_time(moment: datetime) -> Iterator[None]:
    """Pins the clock botocore's signer reads, to sign a request as if at ``moment``."""
    import botocore.auth

    real = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *args, **kwargs: moment.replace(tzinfo=None)
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = real
