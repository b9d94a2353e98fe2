"""Control-API throughput and latency: openstage against the bare server stack it runs on.

Run ``python bench/api.py`` (options: ``--seconds``, ``--repeats``, ``--warmup``). It starts
one ``openstage serve`` (fresh data dir, SQLite, ``--log-level warning``), creates a stage
with boto3, and starts a second server: a bare ASGI app that answers every POST with a
fixed JSON body, started through openstage's own serve path with only the app swapped
(same listening socket, uvicorn options, HTTP parser and event loop). Then for GetStage
and CreateParticipantToken, at 1, 16 and 64 concurrent clients, it drives each server for
``--seconds`` and prints requests per second, p50/p99 latency and server CPU per request,
repeated ``--repeats`` times, reporting the median of each figure.

How to read the numbers:

- ``ratio`` is openstage req/s divided by bare req/s at the same load. The bare server is
  the ceiling: uvicorn, the HTTP parser and the event loop with no work behind them. A
  ratio of 0.25 means three quarters of the time goes to openstage itself (SigV4
  verification, routing, model-driven parsing and validation, the database, serializing).
- ``cpu us/req`` is the server process's CPU time (user + system, from /proc) per request:
  the cost of one request independent of how the client and the server share the cores.
  It is the figure to compare between commits (coarse, 10 ms clock ticks, when few requests ran).
- If the bare app's p50 at 1 client sits near 40-44 ms, every response waits for TCP's
  delayed ACK (Nagle's algorithm left on for the accepted sockets): both columns then
  measure that stall, not the code, and the ratio reads close to 1 at 1 client.
- The client runs in this process on the same cores as the server under test, so at 16
  and 64 clients the two compete; absolute req/s on a 2-core machine understate what a
  server alone would do. Both targets get the same client, so the ratio stays fair.
- At 1 client, latency is one full round trip with nothing queued; at 64 clients, p50 is
  mostly time spent queued behind other requests (latency ~ clients / throughput).
- Each request is signed once with botocore and replayed byte for byte over one keep-alive
  HTTP/1.1 connection per client, so the client does no signing or JSON work while
  measuring. Repeated CreateParticipantToken requests each mint a new token (a stage read
  plus an ES384 signature), as real ones do.
- Any non-200 response is counted as an error and printed below the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY, SECRET_KEY = "AKIDEXAMPLE", "bench-secret"
OPERATIONS = ("GetStage", "CreateParticipantToken")
LEVELS = (1, 16, 64)
TARGETS = ("openstage", "bare")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
BARE_BODY = json.dumps(
    {"stage": {"arn": f"arn:aws:ivs:{REGION}:123456789012:stage/abcdefABCDEF", "name": "bench", "tags": {}}}
).encode()
LISTENING = re.compile(r"listening on http://[^\s:]+:(\d+)")
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


# --- the bare app: the framework ceiling -------------------------------------------------------


async def bare_app(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Answers every POST with BARE_BODY after reading the request body, as any handler must."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    status, body = (200, BARE_BODY) if scope["method"] == "POST" else (405, b"{}")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve_arguments(data_dir: Path) -> list[str]:
    """The ``openstage`` command line both servers run: fresh data dir, SQLite, any free ports (the
    RTMP ones too, so the two run side by side), and credentials, so every request's SigV4 signature
    is really verified (not dev mode)."""
    return [
        "serve",
        "--port",
        "0",
        "--rtmp-port",
        "0",
        "--rtmps-port",
        "0",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
    ]


def serve_bare(data_dir: str) -> int:
    """Runs bare_app through openstage's own serve path (cli.main, server.serve), swapping only the app.

    So the ceiling rides exactly the socket, uvicorn options and event loop openstage uses,
    and follows any change to them. It imports this checkout's openstage, as the
    ``-m openstage.cli`` subprocess started in REPO does.
    """
    sys.path.insert(0, str(REPO))
    from openstage import cli, server

    server.build_app = lambda *_parts: bare_app  # type: ignore[assignment,return-value]
    return cli.main(serve_arguments(Path(data_dir)))


# --- server processes ---------------------------------------------------------------------------


@dataclass
class Process:
    """One server subprocess; its output goes to a file so a chatty server never blocks on a pipe."""

    name: str
    command: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(self.command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.popen.poll() is None:
            found = LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                self.port = int(found.group(1))
                return self
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start:\n{self.log_path.read_text(errors='replace')}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process, all threads (SQLite runs in a worker thread)."""
        assert self.popen is not None
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def create_stage(port: int) -> str:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "ivs-realtime",
        endpoint_url=f"http://{HOST}:{port}",
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )
    return client.create_stage(name="bench")["stage"]["arn"]


# --- the load generator -------------------------------------------------------------------------


def signed_request(port: int, operation: str, params: dict[str, Any]) -> bytes:
    """The exact bytes of one SigV4-signed request, valid for 15 minutes, to replay as is."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps(params).encode()
    host = f"{HOST}:{port}"
    request = AWSRequest(
        method="POST",
        url=f"http://{host}/{operation}",
        data=body,
        headers={"Host": host, "Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ivs", REGION).add_auth(request)
    headers = {k: v for k, v in request.prepare().headers.items() if k.lower() != "content-length"}
    lines = [f"POST /{operation} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), f"Content-Length: {len(body)}"]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> tuple[int, bytes]:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    found = CONTENT_LENGTH.search(head)
    if found is None:
        raise RuntimeError(f"response without Content-Length: {head!r}")
    return int(head[9:12]), await reader.readexactly(int(found.group(1)))


@dataclass
class Sample:
    """One timed run of one target, operation and concurrency."""

    requests: int
    elapsed: float
    latencies: list[float]
    cpu_seconds: float
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_seconds / self.requests


async def drive(server: Process, payload: bytes, clients: int, seconds: float) -> Sample:
    """``clients`` connections each send the payload back to back until the time is up."""
    connections = [await asyncio.open_connection(HOST, server.port) for _ in range(clients)]
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float) -> None:
        clock = time.perf_counter
        while clock() < deadline:
            sent = clock()
            status, body = await exchange(reader, writer, payload)
            latencies.append(clock() - sent)
            if status != 200:
                errors[f"HTTP {status}: {body[:300].decode(errors='replace')}"] += 1

    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds + 30):  # one guard per run: a stuck server cannot hang the bench
            await asyncio.gather(*(client(r, w, started + seconds) for r, w in connections))
    finally:
        for _, writer in connections:
            writer.close()
    elapsed = time.perf_counter() - started
    return Sample(len(latencies), elapsed, latencies, server.cpu_seconds() - cpu_before, errors)


# --- the run and its report ---------------------------------------------------------------------

Key = tuple[str, str, int]  # target, operation, clients


async def measure(
    servers: dict[str, Process], payloads: dict[tuple[str, str], bytes], args: argparse.Namespace
) -> dict[Key, list[Sample]]:
    for target in TARGETS:
        for operation in OPERATIONS:
            if args.warmup:
                await drive(servers[target], payloads[target, operation], 16, args.warmup)
    samples: dict[Key, list[Sample]] = {}
    for repeat in range(args.repeats):
        order = TARGETS if repeat % 2 == 0 else TARGETS[::-1]  # alternate who goes first against drift
        for operation in OPERATIONS:
            for clients in LEVELS:
                for target in order:
                    sample = await drive(servers[target], payloads[target, operation], clients, args.seconds)
                    samples.setdefault((target, operation, clients), []).append(sample)
                    print(
                        f"  repeat {repeat + 1}/{args.repeats} {operation:<22} {clients:>3} clients "
                        f"{target:<9} {sample.rps:8.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
    return samples


def report(samples: dict[Key, list[Sample]], args: argparse.Namespace) -> str:
    def figures(key: Key) -> tuple[float, float, float, float]:
        runs = samples[key]
        return (
            statistics.median([s.rps for s in runs]),
            statistics.median([s.percentile(0.50) * 1000 for s in runs]),
            statistics.median([s.percentile(0.99) * 1000 for s in runs]),
            statistics.median([s.cpu_per_request * 1e6 for s in runs]),
        )

    cores = os.cpu_count()
    lines = [
        f"openstage control API benchmark: {cores} cores (os.cpu_count), Python {sys.version.split()[0]}",
        f"  medians over {args.repeats} repeats of {args.seconds:g} s each; the load client runs in this process",
        f"  and shares the {cores} cores with the server under test (one server process at a time is loaded).",
        "  bare = a raw ASGI app returning fixed JSON, served by openstage's own server stack (the ceiling).",
        "",
        f"{'':<23}{'':>8} | {'openstage':^37} | {'bare ASGI app':^37} |",
        f"{'operation':<23}{'clients':>8} | {'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'cpu us/req':>11}"
        f" | {'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'cpu us/req':>11} | {'ratio':>6}",
    ]
    lines.append("-" * len(lines[-1]))
    for operation in OPERATIONS:
        for clients in LEVELS:
            ours = figures(("openstage", operation, clients))
            bare = figures(("bare", operation, clients))
            lines.append(
                f"{operation:<23}{clients:>8} | {ours[0]:8.0f}{ours[1]:9.2f}{ours[2]:9.2f}{ours[3]:11.0f}"
                f" | {bare[0]:8.0f}{bare[1]:9.2f}{bare[2]:9.2f}{bare[3]:11.0f} | {ours[0] / bare[0]:6.3f}"
            )
    errors: Counter[str] = Counter()
    for (target, operation, clients), runs in samples.items():
        for sample in runs:
            for message, count in sample.errors.items():
                errors[f"{target} {operation} x{clients}: {message}"] += count
    lines.append("")
    lines.append(f"errors (non-200 responses): {sum(errors.values())}")
    lines.extend(f"  {count} x {message}" for message, count in errors.most_common(20))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="openstage-bench-"))
    servers = {
        "openstage": Process(
            "openstage serve",
            [sys.executable, "-m", "openstage.cli", *serve_arguments(workdir / "data")],
            workdir / "openstage.log",
        ),
        "bare": Process(
            "bare app",
            [sys.executable, str(Path(__file__).resolve()), "--bare-app", str(workdir / "bare-data")],
            workdir / "bare.log",
        ),
    }
    try:
        for server in servers.values():
            server.start()
        stage_arn = create_stage(servers["openstage"].port)
        params = {"GetStage": {"arn": stage_arn}, "CreateParticipantToken": {"stageArn": stage_arn}}
        payloads = {
            (target, operation): signed_request(servers[target].port, operation, params[operation])
            for target in TARGETS
            for operation in OPERATIONS
        }
        total = len(TARGETS) * len(OPERATIONS) * (args.warmup + len(LEVELS) * args.repeats * args.seconds)
        print(f"measuring for about {total:.0f} s ...", file=sys.stderr, flush=True)
        import uvloop  # the client's own loop: the cheaper the client, the more of the cores the server gets

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            samples = runner.run(measure(servers, payloads, args))
        print(report(samples, args))
        return 0
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measured run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; the table shows medians (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up per target and operation (default 1 s)")
    parser.add_argument("--bare-app", metavar="DATA_DIR", help=argparse.SUPPRESS)  # the subprocess mode
    args = parser.parse_args(argv)
    if args.bare_app:
        return serve_bare(args.bare_app)
    if args.seconds <= 0 or args.repeats < 1 or args.warmup < 0:
        parser.error("--seconds and --repeats must be positive, --warmup not negative")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
