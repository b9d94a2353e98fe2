"""Scale-out: 1, 2 and 3 ``openstage serve`` nodes on this machine, sharing one PostgreSQL database and Redis.

Run ``python bench/cluster.py`` (options: ``--nodes 1,2,3``, ``--max-stages``, ``--seconds``,
``--api-seconds``, ``--api-clients``, ``--width``, ``--height``, ``--bitrate``). PostgreSQL and Redis
must listen on their standard local ports (as for the tests). For each cluster size it starts the
nodes (fresh database, a cluster name of its own, ``--ice-addresses 127.0.0.1``) and measures:

- ``API req/s``: GetStage from ``--api-clients`` keep-alive clients spread round-robin over the
  nodes for ``--api-seconds``, the median of ``--api-repeats`` runs; each request is signed once
  and replayed, so the client does little.
- ``stages``: stages of 1 publisher and 4 subscribers, added one at a time. Each stage is created
  through one node, its participants' tokens come from the others, and WHIP sends them (307) to the
  node the cluster placed the stage on. After a warm-up, every stage is measured for ``--seconds``:
  ``loss%`` is the share of the video frames its publisher sent in the window that the worst
  subscriber of all stages had not received a second after it (frames carry their send time, so
  a window counts what was sent in it however late it arrived). The count of stages sustained is
  the last step where it stayed at 2 % or below, with every subscriber connected. Subscribers
  count frames without decoding (bench/sfu.py's passthrough) and publishers loop a pre-encoded
  H.264 clip and Opus, so the client is as cheap as it gets; ``client%`` is still this process's
  CPU share of one core (the machine's other cores run the nodes, PostgreSQL and Redis), and a
  step over 90 % is marked ``client-bound``.
- per node: CPU (share of one core, from /proc) and the stages placed on it (``/api/cluster``).

Each cluster size's run stops at the first step that falls behind, or at ``--max-stages``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import av  # noqa: E402
import boto3  # noqa: E402
import httpx  # noqa: E402
import redis  # noqa: E402
import sfu  # noqa: E402  (bench/sfu.py: the pre-encoded media and the counting subscribers)
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from openstage.client import whip_http  # noqa: E402
from openstage.sfu.peer import configure_ice, new_peer_connection  # noqa: E402
from tests.server import Server, create_postgres_database, drop_postgres_database  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
REGION = "us-east-1"
SUBSCRIBERS = 4
MAX_LOSS = 0.02
IN_FLIGHT = 1.0  # seconds a frame sent at the end of a window may take to arrive and still count


@dataclass
class Arrivals:
    """When each video frame a subscriber received was sent (the publisher's stamp in it), so a window counts
    the frames sent in it wherever the network and the scheduler delayed them."""

    sent_at: list[float] = field(default_factory=list)

    def video_frame(self, packet: av.Packet, _keyframe: bool) -> None:
        sent = sfu.read_stamp(bytes(packet))
        if sent is not None:
            self.sent_at.append(sent)

    def audio_frame(self, _packet: av.Packet, _keyframe: bool) -> None:
        pass


@dataclass
class Stage:
    arn: str
    video: sfu.ClipTrack
    publisher: RTCPeerConnection
    subscribers: list[tuple[RTCPeerConnection, Arrivals]]


@dataclass
class Step:
    stages: int
    loss: float
    disconnected: int
    cpu: list[float]  # per node, share of one core
    placed: list[int]  # stages per node
    client: float

    @property
    def fell_behind(self) -> bool:
        return self.loss > MAX_LOSS or self.disconnected > 0

    def row(self) -> str:
        cpu = " ".join(f"{c * 100:>5.0f}" for c in self.cpu)
        placed = "/".join(str(p) for p in self.placed)
        note = "client-bound" if self.client > sfu.CLIENT_BOUND else ""
        return (
            f"{self.stages:>6} {self.loss * 100:>6.1f} {self.disconnected:>5} {placed:>8}   {cpu:<20} "
            f"{self.client * 100:>7.0f} {note}"
        )


HEADER = f"{'stages':>6} {'loss%':>6} {'lost':>5} {'placed':>8}   {'node cpu%':<20} {'client%':>7}"


def client(node: Server) -> Any:
    return boto3.client(
        "ivs-realtime", endpoint_url=node.url, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )


def token(node: Server, stage_arn: str, *capabilities: str) -> dict[str, str]:
    created = client(node).create_participant_token(stageArn=stage_arn, capabilities=list(capabilities))
    return created["participantToken"]  # type: ignore[no-any-return]


def placed(nodes: list[Server]) -> list[int]:
    with urllib.request.urlopen(nodes[0].url + "/api/cluster", timeout=10) as response:
        snapshot = json.loads(response.read())
    by_url = {node["url"]: len(node["stageArns"]) for node in snapshot["nodes"]}
    return [by_url.get(node.url, 0) for node in nodes]


# --- API throughput -------------------------------------------------------------------------------


def signed_get_stage(node: Server, stage_arn: str) -> tuple[str, dict[str, str], bytes]:
    body = json.dumps({"arn": stage_arn}).encode()
    request = AWSRequest("POST", node.url + "/GetStage", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("x", "y"), "ivs", REGION).add_auth(request)
    return request.url, dict(request.headers.items()), body


async def api_rate(nodes: list[Server], stage_arn: str, clients: int, seconds: float) -> tuple[float, int]:
    """GetStage requests per second over all nodes, and the count of failed ones."""
    requests = [signed_get_stage(node, stage_arn) for node in nodes]
    done, failed = 0, 0
    deadline = time.monotonic() + seconds

    async def one_client(url: str, headers: dict[str, str], body: bytes) -> None:
        nonlocal done, failed
        async with httpx.AsyncClient(timeout=30) as http:
            while time.monotonic() < deadline:
                response = await http.post(url, content=body, headers=headers)
                done += response.status_code == 200
                failed += response.status_code != 200

    started = time.monotonic()
    await asyncio.gather(*(one_client(*requests[n % len(requests)]) for n in range(clients)))
    return done / (time.monotonic() - started), failed


# --- media ----------------------------------------------------------------------------------------


async def publish(whip: str, participant: dict[str, str], media: sfu.Media) -> tuple[RTCPeerConnection, sfu.ClipTrack]:
    video, audio = media.tracks()
    pc = sfu.publisher_pc(video, audio)
    await pc.setLocalDescription(await pc.createOffer())
    url = f"{whip}/publish/{participant['participantId']}"
    answer = await whip_http.post_offer(url, participant["token"], pc.localDescription.sdp)  # follows the 307
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
    return pc, video


async def subscribe(whip: str, participant: dict[str, str], publisher_id: str) -> tuple[RTCPeerConnection, Arrivals]:
    pc = new_peer_connection()
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await whip_http.post_offer(
        f"{whip}/subscribe/{publisher_id}", participant["token"], pc.localDescription.sdp
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
    arrivals = Arrivals()
    sfu.count_frames(pc, arrivals)  # type: ignore[arg-type]  # frames go to its video_frame, undecoded
    return pc, arrivals


async def add_stage(nodes: list[Server], index: int, media: sfu.Media) -> Stage:
    """Created through one node; the publisher's and subscribers' tokens come from the next ones."""
    through = itertools.cycle(nodes[index % len(nodes) :] + nodes[: index % len(nodes)])
    arn = client(next(through)).create_stage(name=f"bench-{index}")["stage"]["arn"]
    publisher_node = next(through)
    participant = token(publisher_node, arn, "PUBLISH")
    pc, video = await publish(f"{publisher_node.url}/whip", participant, media)
    subscribers = []
    for _ in range(SUBSCRIBERS):
        node = next(through)
        viewer = token(node, arn, "SUBSCRIBE")
        subscribers.append(await subscribe(f"{node.url}/whip", viewer, participant["participantId"]))
    return Stage(arn, video, pc, subscribers)


async def first_frames(stage: Stage, timeout: float = 20.0) -> None:
    """Until every subscriber of the new stage has had its first frame (ICE, DTLS and a keyframe are behind it)."""
    deadline = time.monotonic() + timeout
    while any(not arrivals.sent_at for _, arrivals in stage.subscribers) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def measure(stages: list[Stage], nodes: list[Server], seconds: float) -> Step:
    """Counts, per subscriber, the frames sent in the window that arrived by its end plus ``IN_FLIGHT`` seconds."""
    cpu_before = [sfu.cpu_seconds(node.process.pid) for node in nodes]  # type: ignore[union-attr]
    client_before, started = sfu.cpu_seconds(), time.monotonic()
    sent_before = [stage.video.sent for stage in stages]
    await asyncio.sleep(seconds)
    ended = time.monotonic()
    sent = [stage.video.sent - before for stage, before in zip(stages, sent_before, strict=True)]
    await asyncio.sleep(IN_FLIGHT)
    elapsed = time.monotonic() - started
    worst = 0.0
    for stage, count in zip(stages, sent, strict=True):
        for _, arrivals in stage.subscribers:
            received = sum(started <= at <= ended for at in arrivals.sent_at)
            worst = max(worst, 1 - received / count if count else 1.0)
            arrivals.sent_at.clear()
    return Step(
        stages=len(stages),
        loss=max(0.0, worst),
        disconnected=sum(pc.connectionState != "connected" for stage in stages for pc, _ in stage.subscribers),
        cpu=[(sfu.cpu_seconds(n.process.pid) - b) / elapsed for n, b in zip(nodes, cpu_before, strict=True)],  # type: ignore[union-attr]
        placed=placed(nodes),
        client=(sfu.cpu_seconds() - client_before) / elapsed,
    )


# --- a cluster size -------------------------------------------------------------------------------


def start_nodes(count: int, database_url: str, name: str) -> list[Server]:
    nodes = []
    for n in range(count):
        args = ["--redis-url", REDIS_URL, "--cluster-name", name, "--node-id", f"node{n + 1}"]
        args += ["--ice-addresses", "127.0.0.1", "--heartbeat-seconds", "1", "--node-ttl-seconds", "5"]
        nodes.append(Server(Path(tempfile.mkdtemp(prefix=f"openstage-cluster-{n + 1}-")), database_url, args).start())
    return nodes


async def run_size(count: int, args: argparse.Namespace, media: sfu.Media) -> tuple[float, int, list[Step]]:
    name = "bench" + secrets.token_hex(4)
    database_url = await asyncio.to_thread(create_postgres_database)  # it runs an event loop of its own
    nodes = await asyncio.to_thread(start_nodes, count, database_url, name)
    stages: list[Stage] = []
    try:
        probe = client(nodes[0]).create_stage(name="api")["stage"]["arn"]
        runs = [await api_rate(nodes, probe, args.api_clients, args.api_seconds) for _ in range(args.api_repeats)]
        rate, failed = statistics.median(r for r, _ in runs), sum(f for _, f in runs)
        shown = " ".join(f"{r:.0f}" for r, _ in runs)
        print(f"== {count} node(s): GetStage {rate:.0f} req/s (median of {shown}) over {args.api_clients} clients")
        print(HEADER, flush=True)
        steps: list[Step] = []
        for index in range(args.max_stages):
            stages.append(await add_stage(nodes, index, media))
            await first_frames(stages[-1])
            await asyncio.sleep(args.warmup)
            step = await measure(stages, nodes, args.seconds)
            steps.append(step)
            print(step.row(), flush=True)
            if step.fell_behind:
                break
        return rate, failed, steps
    finally:
        for stage in stages:
            await asyncio.gather(stage.publisher.close(), *(pc.close() for pc, _ in stage.subscribers))
        for node in nodes:
            node.stop()
        await asyncio.to_thread(drop_postgres_database, database_url)
        keys = redis.Redis.from_url(REDIS_URL)
        for key in keys.scan_iter(f"openstage:{name}:*"):
            keys.delete(key)


async def bench(args: argparse.Namespace) -> None:
    configure_ice(["127.0.0.1"])
    print(f"encoding a {args.width}x{args.height} clip at {args.bitrate / 1e6:.1f} Mb/s ...", flush=True)
    clip = sfu.encode_clip(args.width, args.height, args.bitrate, intra_only=False)
    intra = sfu.encode_clip(args.width, args.height, args.bitrate, intra_only=True)
    media = sfu.Media(clip, intra, sfu.encode_tone())
    summary = []
    for count in args.nodes:
        rate, failed, steps = await run_size(count, args, media)
        sustained = max((s.stages for s in steps if not s.fell_behind), default=0)
        limit = "client-bound" if any(s.client > sfu.CLIENT_BOUND for s in steps) else ""
        summary.append((count, rate, failed, sustained, len(steps) == args.max_stages, limit))
    print(f"\n{'nodes':>5} {'API req/s':>9} {'stages sustained (1 pub + 4 subs)':>34}")
    for count, rate, failed, sustained, capped, limit in summary:
        shown = f"{sustained}{'+' if capped and sustained == args.max_stages else ''}"
        print(f"{count:>5} {rate:>9.0f} {shown:>34} {limit} {f'({failed} API errors)' if failed else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--max-stages", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--api-seconds", type=float, default=5.0)
    parser.add_argument("--api-clients", type=int, default=16)
    parser.add_argument("--api-repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--bitrate", type=int, default=600_000)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
