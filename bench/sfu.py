"""SFU fan-out: one publisher to N subscribers through a real ``openstage serve``, then through Janus.

Run ``python bench/sfu.py`` (options: ``--subscribers 1,4,8,16``, ``--seconds``, ``--width``,
``--height``, ``--bitrate``, ``--no-janus``). It starts one server (``--ice-addresses 127.0.0.1``),
publishes pre-encoded H.264 (baseline, IDR every 2 s, an intra-only copy answers keyframe requests)
plus Opus over WHIP, and adds subscribers over WHIP step by step. After a warm-up, each step
measures for ``--seconds`` and prints:

- ``cpu%``: the server process's CPU (user + system, from /proc) as a share of one core, and
  ``cpu%/sub``: that divided by the number of subscribers.
- ``fps``: video frames per second the slowest subscriber received, and ``loss%``: frames the
  publisher sent that the worst subscriber did not receive in the window.
- ``pkt/s`` and ``pkt/cpu-s``: packets (RTP, retransmissions, RTCP) the subscribers received per
  second, and per second of server CPU (forwarding efficiency).
- ``lat p50/p95``: publish-to-receive time of each video frame, from a timestamp the publisher
  puts in an SEI NAL unit (which decoders ignore) and the subscriber reads back after its
  jitter buffer; one clock, since both peers live in this process.
- ``first``: median and worst time from a subscriber's WHIP answer to its first video frame.
- ``client%``: this process's CPU: the publisher and every subscriber's SRTP and reassembly.
  Subscribers do not decode (they use openstage's own passthrough), but on a 2-core machine
  this process competes with the server; when ``client%`` nears 100 the client, not the
  server, is the limit (on the 2-core development machine, from about 16 subscribers at 720p).

Each server's run stops at the first step where the slowest subscriber gets under 90 % of the
frame rate, loses more than 2 % of frames, or a subscriber disconnects. A step's last column notes
``late`` (median latency over 100 ms: frames queued up) and ``client-bound`` (``client%`` over 90).

Then, as a reference, the same publisher media and the same subscriber measurements go through
Janus's VideoRoom (bench/janus.py: Janus in a network namespace of its own, reached over a veth
pair, 10.203.0.1 here and 10.203.0.2 there, because libnice ignores loopback). Janus is the
offerer towards subscribers, so ``first`` counts from the moment the subscriber's answer is sent.
A last table puts both servers' CPU side by side with the ratio openstage/Janus per N (steps
with a note on either side are marked as not comparable and left out of the summary). The Janus
part needs root and the Debian package ``janus``; without them, or with ``--no-janus``, it is
skipped with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import boto3  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

from openstage.sfu.passthrough import forward_encoded  # noqa: E402
from openstage.sfu.peer import configure_ice, new_peer_connection  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import janus  # noqa: E402  (bench/janus.py)

FPS = 30
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
# An SEI NAL unit, user data unregistered (payload type 5) under this UUID, carrying the send time:
# decoders skip it; aiortc's depayloader accepts it (it refuses NAL types it does not know, like 31).
SEI = b"\x00\x00\x00\x01\x06\x05"
UUID = b"openstage-bench!"


def stamp(now: float) -> bytes:
    text = f"{now:017.6f}".encode()
    return SEI + bytes([len(UUID) + len(text)]) + UUID + text + b"\x80"


def read_stamp(frame: bytes) -> float | None:
    at = frame.rfind(SEI + bytes([len(UUID) + 17]) + UUID)  # the time, 17 characters
    if at == -1:
        return None
    start = at + len(SEI) + 1 + len(UUID)
    return float(frame[start : start + 17])


TICK = os.sysconf("SC_CLK_TCK")
# Above this share of a core, this process (publisher + subscribers), not the server, limits a step.
CLIENT_BOUND = 0.9
# A median publish-to-receive time above this on one machine means frames queued up somewhere.
LATE = 0.1


# --- media --------------------------------------------------------------------------------------


def encode_clip(width: int, height: int, bitrate: int, intra_only: bool) -> list[bytes]:
    """Two seconds of moving bars and a noisy block, H.264 baseline as IVS expects."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = fractions.Fraction(1, FPS), fractions.Fraction(FPS)
    encoder.bit_rate, encoder.profile = bitrate, "Baseline"
    encoder.gop_size = 1 if intra_only else 2 * FPS
    encoder.options = {"tune": "zerolatency", "preset": "veryfast", "bf": "0"}
    pattern = bytes(int(128 + 100 * math.sin(x / 20)) for x in range(2 * width))
    frames = []
    for i in range(2 * FPS):
        frame = av.VideoFrame(width, height, "yuv420p")
        offset = (i * 8) % width
        luma = bytearray(pattern[offset : offset + width] * height)
        for row in range(height // 8, height // 8 + height // 4):
            start = row * width + width // 8
            luma[start : start + width // 4] = os.urandom(width // 4)
        frame.planes[0].update(bytes(luma))
        for plane in frame.planes[1:]:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = i
        frames += [bytes(p) for p in encoder.encode(frame)]
    frames += [bytes(p) for p in encoder.encode(None)]
    return frames


def encode_tone() -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    encoder.bit_rate, encoder.time_base = 64000, AUDIO_TIME_BASE
    packets = []
    for n in range(50):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        samples = b"".join(
            int(8000 * math.sin(2 * math.pi * 440 * (n * 960 + i) / 48000)).to_bytes(2, "little", signed=True) * 2
            for i in range(960)
        )
        frame.planes[0].update(samples)
        frame.pts, frame.sample_rate, frame.time_base = n * 960, 48000, AUDIO_TIME_BASE
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


class ClipTrack(MediaStreamTrack):
    """Loops pre-encoded frames in real time; a keyframe request swaps in the intra-only copy of the next frame."""

    def __init__(self, kind: str, frames: list[bytes], intra: list[bytes] | None, step: int, rate: float) -> None:
        super().__init__()
        self.kind, self.frames, self.intra, self.step, self.rate = kind, frames, intra, step, rate
        self.sent = 0
        self.keyframe_requested = False
        self.start = 0.0

    async def recv(self) -> av.Packet:
        if self.sent == 0:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.sent / self.rate - time.monotonic()))
        index = self.sent % len(self.frames)
        data = self.frames[index]
        if self.intra is not None:
            if self.keyframe_requested:
                self.keyframe_requested, data = False, self.intra[index]
            data += stamp(time.monotonic())
        packet = av.Packet(data)
        packet.pts, packet.time_base = self.sent * self.step, VIDEO_TIME_BASE if self.intra else AUDIO_TIME_BASE
        self.sent += 1
        return packet


# --- peers ----------------------------------------------------------------------------------------


@dataclass
class Counter:
    answered_at: float = 0.0
    first_frame: float | None = None
    video: int = 0
    latencies: list[float] = field(default_factory=list)

    def video_frame(self, packet: av.Packet, _keyframe: bool) -> None:
        now = time.monotonic()
        if self.first_frame is None:
            self.first_frame = now - self.answered_at
        self.video += 1
        sent = read_stamp(bytes(packet))
        if sent is not None:
            self.latencies.append(now - sent)

    def audio_frame(self, _packet: av.Packet, _keyframe: bool) -> None:
        pass


def post(url: str, offer: str, token: str) -> str:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"}
    with urllib.request.urlopen(urllib.request.Request(url, offer.encode(), headers), timeout=30) as response:
        assert response.status == 201
        return response.read().decode()


def publisher_pc(video: ClipTrack, audio: ClipTrack) -> RTCPeerConnection:
    pc = new_peer_connection()
    pc.addTransceiver(audio, direction="sendonly")
    sender = pc.addTransceiver(video, direction="sendonly").sender

    def request_keyframe() -> None:
        video.keyframe_requested = True

    sender._send_keyframe = request_keyframe  # type: ignore[method-assign]  # the track, not an encoder, makes keyframes
    return pc


async def publish(whip: str, token: dict[str, str], video: ClipTrack, audio: ClipTrack) -> RTCPeerConnection:
    pc = publisher_pc(video, audio)
    await pc.setLocalDescription(await pc.createOffer())
    url = f"{whip}/publish/{token['participantId']}"
    answer = await asyncio.to_thread(post, url, pc.localDescription.sdp, token["token"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


def count_frames(pc: RTCPeerConnection, counter: Counter) -> None:
    """After the remote description (receivers exist), before connecting: frames go to ``counter``, undecoded."""
    for receiver in pc.getReceivers():
        forward_encoded(receiver, counter.video_frame if receiver.track.kind == "video" else counter.audio_frame)


async def subscribe(whip: str, token: dict[str, str], publisher_id: str) -> tuple[RTCPeerConnection, Counter]:
    pc = new_peer_connection()
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    counter = Counter()
    url = f"{whip}/subscribe/{publisher_id}"
    answer = await asyncio.to_thread(post, url, pc.localDescription.sdp, token["token"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    counter.answered_at = time.monotonic()
    count_frames(pc, counter)
    return pc, counter


async def janus_subscribe(session: janus.JanusSession, room: int, feed: int) -> tuple[RTCPeerConnection, Counter]:
    """Janus offers, the subscriber answers; the clock for the first frame starts as the answer is sent."""
    handle, offer = await janus.subscribe_offer(session, room, feed)
    pc = new_peer_connection()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    counter = Counter()
    count_frames(pc, counter)
    await pc.setLocalDescription(await pc.createAnswer())
    counter.answered_at = time.monotonic()
    await janus.subscribe_start(session, handle, pc.localDescription.sdp)
    return pc, counter


async def packets_received(pcs: list[RTCPeerConnection]) -> list[int]:
    """Datagrams each peer's (bundled) transport received: RTP, retransmissions, RTCP.

    Not ``inbound-rtp``: aiortc gives each receiver one such entry and overwrites it per SSRC, so once
    retransmissions arrive on their own SSRC the count drops to theirs. A peer that closed mid-step
    reports nothing, so steps compare peer by peer and clamp at zero.
    """
    counts = []
    for pc in pcs:
        stats = (await pc.getStats()).values()
        counts.append(sum(stat.packetsReceived for stat in stats if stat.type == "transport"))
    return counts


# --- the run --------------------------------------------------------------------------------------


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Output to a file (a full pipe would block the server); RTMP ports any free ones, so it runs beside others."""
    command = [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--data-dir", str(data_dir)]
    command += ["--log-level", "warning", "--ice-addresses", "127.0.0.1", "--rtmp-port", "0", "--rtmps-port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSTAGE_")}
    log = data_dir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"listening on (http://\S+)", log.read_text())
        if found:
            return process, found.group(1)
        time.sleep(0.1)
    raise RuntimeError("openstage serve did not start:\n" + log.read_text())


def cpu_seconds(pid: int | None = None) -> float:
    fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Step:
    """One measured step: ``cpu`` and ``client`` in cores, times in seconds."""

    subscribers: int
    cpu: float
    fps: float
    loss: float
    packets: float
    latency: tuple[float, float]
    first: tuple[float, float]
    client: float
    disconnected: int = 0

    @property
    def fell_behind(self) -> bool:
        """Ends a server's run."""
        return self.fps < 0.9 * FPS or self.loss > 0.02 or self.disconnected > 0

    @property
    def note(self) -> str:
        """Why a step's numbers are suspect: peers dropped, frames queued up, or this process is the limit."""
        notes = [f"{self.disconnected} disconnected"] if self.disconnected else []
        if self.latency[0] > LATE:
            notes.append("late")
        if self.client > CLIENT_BOUND:
            notes.append("client-bound")
        return ", ".join(notes)

    @property
    def degraded(self) -> bool:
        """Left out of the CPU comparison."""
        return self.fell_behind or bool(self.note)

    def row(self) -> str:
        n, cpu, lat, first = self.subscribers, self.cpu * 100, self.latency, self.first
        return (
            f"{n:>4} {cpu:>6.1f} {cpu / n:>8.2f} {self.fps:>5.1f} {self.loss * 100:>6.1f} "
            f"{self.packets:>7.0f} {self.packets / self.cpu if self.cpu else math.nan:>9.0f} "
            f"{lat[0] * 1000:>7.1f}/{lat[1] * 1000:<7.1f} {first[0] * 1000:>8.0f}/{first[1] * 1000:<8.0f} "
            f"{self.client * 100:>7.1f} {self.note}"
        )


HEADER = (
    f"{'subs':>4} {'cpu%':>6} {'cpu%/sub':>8} {'fps':>5} {'loss%':>6} {'pkt/s':>7} {'pkt/cpu-s':>9} "
    f"{'lat p50/p95 ms':>15} {'first p50/max ms':>17} {'client%':>7}"
)
Subscribe = Callable[[], Awaitable[tuple[RTCPeerConnection, Counter]]]


async def fan_out(args: argparse.Namespace, video: ClipTrack, server_pid: int, subscribe_one: Subscribe) -> list[Step]:
    """Adds subscribers step by step and measures each step; the same loop for openstage and Janus."""
    print(HEADER, flush=True)
    steps: list[Step] = []
    subscribers: list[tuple[RTCPeerConnection, Counter]] = []
    try:
        for target in args.subscribers:
            while len(subscribers) < target:
                subscribers.append(await subscribe_one())
            await asyncio.sleep(args.warmup)
            pcs = [pc for pc, _ in subscribers]
            counters = [c for _, c in subscribers]
            for counter in counters:
                counter.latencies.clear()
            before = ([c.video for c in counters], video.sent, await packets_received(pcs), cpu_seconds(server_pid))
            client_before, started = cpu_seconds(), time.monotonic()
            await asyncio.sleep(args.seconds)
            elapsed = time.monotonic() - started
            received = [c.video - b for c, b in zip(counters, before[0], strict=True)]
            sent = video.sent - before[1]
            latencies = sorted(x for c in counters for x in c.latencies) or [math.nan]
            firsts = sorted(math.nan if c.first_frame is None else c.first_frame for c in counters)
            step = Step(
                subscribers=target,
                cpu=(cpu_seconds(server_pid) - before[3]) / elapsed,
                fps=min(received) / elapsed,
                loss=max(0.0, 1 - min(received) / sent),
                packets=sum(max(0, a - b) for a, b in zip(await packets_received(pcs), before[2], strict=True))
                / elapsed,
                latency=(latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]),
                first=(statistics.median(firsts), max(firsts)),
                client=(cpu_seconds() - client_before) / elapsed,
                disconnected=sum(pc.connectionState != "connected" for pc in pcs),
            )
            steps.append(step)
            print(step.row(), flush=True)
            if step.fell_behind:
                print(f"stopping: the slowest subscriber fell behind at {target} subscribers")
                break
    finally:
        await asyncio.gather(*(pc.close() for pc, _ in subscribers))
    return steps


@dataclass
class Media:
    clip: list[bytes]
    intra: list[bytes]
    tone: list[bytes]

    def tracks(self) -> tuple[ClipTrack, ClipTrack]:
        """Fresh tracks for each server, so frame counts start at zero."""
        video = ClipTrack("video", self.clip, self.intra, 90000 // FPS, FPS)
        return video, ClipTrack("audio", self.tone, None, 960, 50)


def exited(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """A server that died mid-run would otherwise show up as a subscriber falling behind."""
    if process is None or process.poll() is not None:
        raise RuntimeError(f"{name} exited during the run ({process and process.returncode})")


async def run_openstage(args: argparse.Namespace, media: Media) -> list[Step]:
    configure_ice(["127.0.0.1"])
    data_dir = Path(tempfile.mkdtemp(prefix="openstage-bench-"))
    process, url = start_server(data_dir)
    try:
        ivs = boto3.client(
            "ivs-realtime", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
        )
        stage = ivs.create_stage(name="bench")["stage"]
        whip = stage["endpoints"]["whip"]

        def token(*capabilities: str) -> dict[str, str]:
            return ivs.create_participant_token(stageArn=stage["arn"], capabilities=list(capabilities))[
                "participantToken"
            ]

        print(f"== openstage (server pid {process.pid}, ICE on 127.0.0.1)", flush=True)
        video, audio = media.tracks()
        publisher_token = token("PUBLISH")
        publisher = await publish(whip, publisher_token, video, audio)
        try:
            await asyncio.sleep(1)
            steps = await fan_out(
                args, video, process.pid, lambda: subscribe(whip, token("SUBSCRIBE"), publisher_token["participantId"])
            )
            exited(process, "openstage serve")
            return steps
        finally:
            await publisher.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


async def run_janus(args: argparse.Namespace, media: Media) -> list[Step]:
    """The same publisher and subscribers through Janus's VideoRoom, over the veth pair of bench/janus.py."""
    server = janus.JanusServer()
    try:
        await asyncio.to_thread(server.start)
        configure_ice([janus.HOST_ADDRESS])  # this process's peers gather the veth address only
        print(f"\n== Janus (pid {server.pid}, VideoRoom, ICE on {janus.HOST_ADDRESS} <-> {janus.JANUS_ADDRESS})")
        session = janus.JanusSession(server.url)
        await session.open()
        try:
            room = await janus.create_room(session, await session.attach(), args.bitrate + 500_000)
            video, audio = media.tracks()
            publisher = publisher_pc(video, audio)
            try:
                await publisher.setLocalDescription(await publisher.createOffer())
                handle, feed, answer = await janus.publish(session, room, publisher.localDescription.sdp)
                await publisher.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
                await session.event(handle, lambda e: e.get("janus") == "webrtcup")
                await asyncio.sleep(1)
                steps = await fan_out(args, video, server.pid, lambda: janus_subscribe(session, room, feed))
                exited(server.process, "janus")
                return steps
            finally:
                await publisher.close()
        finally:
            await session.close()
    except Exception:
        if server.log.exists():
            print("janus log (tail):\n" + server.log.read_text()[-3000:], file=sys.stderr)
        raise
    finally:
        configure_ice(["127.0.0.1"])
        await asyncio.to_thread(server.stop)


def compare(openstage: list[Step], reference: list[Step]) -> None:
    """Server CPU side by side for every N both servers reached; steps where either degraded are marked, not ranked."""
    print("\n== server CPU, openstage vs Janus (same publisher, same subscribers)")
    print(f"{'subs':>4} {'openstage%':>10} {'janus%':>7} {'openstage/Janus CPU':>20} {'pkt/cpu-s os/janus':>19}  note")
    by_n = {step.subscribers: step for step in reference}
    healthy = []
    for ours in openstage:
        theirs = by_n.get(ours.subscribers)
        if theirs is None:
            continue
        ratio = ours.cpu / theirs.cpu if theirs.cpu else math.nan
        efficiency = "-"
        if ours.cpu and theirs.cpu:
            efficiency = f"{ours.packets / ours.cpu:.0f}/{theirs.packets / theirs.cpu:.0f}"
        note = ""
        if ours.degraded or theirs.degraded:
            pairs = (("openstage", ours), ("janus", theirs))
            note = "degraded, not comparable: " + "; ".join(
                f"{name} {step.note or 'fell behind'}" for name, step in pairs if step.degraded
            )
        else:
            healthy.append(ratio)
        cpus = f"{ours.cpu * 100:>10.1f} {theirs.cpu * 100:>7.1f}"
        print(f"{ours.subscribers:>4} {cpus} {ratio:>20.2f} {efficiency:>19}  {note}")
    if healthy:
        print(f"openstage/Janus CPU over the healthy steps: {min(healthy):.2f}-{max(healthy):.2f}")


async def bench(args: argparse.Namespace) -> None:
    print(f"encoding a {args.width}x{args.height} clip at {args.bitrate / 1e6:.1f} Mb/s ...", flush=True)
    clip = encode_clip(args.width, args.height, args.bitrate, intra_only=False)
    media = Media(clip, encode_clip(args.width, args.height, args.bitrate, intra_only=True), encode_tone())
    print(f"clip: {len(clip)} frames, {sum(map(len, clip)) * 8 / 2 / 1000:.0f} kb/s\n", flush=True)
    skip = "--no-janus given" if args.no_janus else janus.unavailable()
    ours = await run_openstage(args, media)
    if skip:
        print(f"\nJanus reference skipped: {skip}")
        return
    reference = await run_janus(args, media)
    compare(ours, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,4,8,16", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--bitrate", type=int, default=2_000_000)
    parser.add_argument("--no-janus", action="store_true", help="skip the Janus reference (needs root and janus)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
