"""Starts real ``openstage serve`` processes for tests, on SQLite or a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
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
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
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
    process: subprocess.Popen[str] | None = None
    url: str = ""
    output: list[str] = field(default_factory=list)

    def start(self, port: int = 0) -> Server:
        command = [
            sys.executable, "-m", "openstage.cli", "serve", "--port", str(port),
            "--data-dir", str(self.data_dir), "--log-level", "warning", *self.args,
        ]
        if self.database_url:
            command += ["--database-url", self.database_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
        env.update(self.env)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
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
                return self
        self.process.kill()
        raise RuntimeError("openstage serve did not start:\n" + "".join(self.output))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        rest = self.process.stdout.read() if self.process.stdout else ""
        self.output.append(rest)
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
