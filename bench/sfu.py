"""SFU fan-out: one publisher to N subscribers through a real ``openstage serve``, all on 127.0.0.1.

Run ``python bench/sfu.py`` (options: ``--subscribers 1,4,8,16``, ``--seconds``, ``--width``,
``--height``, ``--bitrate``). It starts one server (``--ice-addresses 127.0.0.1``), publishes
pre-encoded H.264 (baseline, IDR every 2 s, an intra-only copy answers keyframe requests) plus
Opus over WHIP, and adds subscribers over WHIP step by step. After a warm-up, each step measures
for ``--seconds`` and prints:

- ``cpu%``: the server process's CPU (user + system, from /proc) as a share of one core, and
  ``cpu%/sub``: that divided by the number of subscribers.
- ``fps``: video frames per second the slowest subscriber received, and ``loss%``: frames the
  publisher sent that the worst subscriber did not receive in the window.
- ``pkt/s`` and ``pkt/cpu-s``: RTP packets the subscribers received per second, and per second
  of server CPU (forwarding efficiency).
- ``lat p50/p95``: publish-to-receive time of each video frame, from a timestamp the publisher
  puts in an extra NAL unit (type 31, which decoders ignore) and the subscriber reads back
  after its jitter buffer; one clock, since both peers live in this process.
- ``first``: median and worst time from a subscriber's WHIP answer to its first video frame.
- ``client%``: this process's CPU: the publisher and every subscriber's SRTP and reassembly.
  Subscribers do not decode (they use openstage's own passthrough), but on a 2-core machine
  this process competes with the server; when ``client%`` nears 100 the client, not the
  server, is the limit (on the 2-core development machine, from about 16 subscribers at 720p).

The run stops at the first step where the slowest subscriber gets under 90 % of the frame
rate or loses more than 2 % of frames. Comparing with Janus (a C SFU) is not done here.
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
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import boto3  # noqa: E402
from aiortc import RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

from openstage.sfu.passthrough import forward_encoded  # noqa: E402
from openstage.sfu.peer import configure_ice, new_peer_connection  # noqa: E402

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


async def publish(whip: str, token: dict[str, str], video: ClipTrack, audio: ClipTrack):
    pc = new_peer_connection()
    pc.addTransceiver(audio, direction="sendonly")
    sender = pc.addTransceiver(video, direction="sendonly").sender

    def request_keyframe() -> None:
        video.keyframe_requested = True

    sender._send_keyframe = request_keyframe  # the track, not an encoder, makes keyframes here
    await pc.setLocalDescription(await pc.createOffer())
    url = f"{whip}/publish/{token['participantId']}"
    answer = await asyncio.to_thread(post, url, pc.localDescription.sdp, token["token"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


async def subscribe(whip: str, token: dict[str, str], publisher_id: str):
    pc = new_peer_connection()
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    counter = Counter()
    url = f"{whip}/subscribe/{publisher_id}"
    answer = await asyncio.to_thread(post, url, pc.localDescription.sdp, token["token"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    counter.answered_at = time.monotonic()
    for receiver in pc.getReceivers():
        sink = counter.video_frame if receiver.track.kind == "video" else counter.audio_frame
        forward_encoded(receiver, sink)
    return pc, counter


async def packets_received(pcs: list) -> int:
    total = 0
    for pc in pcs:
        for stat in (await pc.getStats()).values():
            if stat.type == "inbound-rtp":
                total += stat.packetsReceived
    return total


# --- the run --------------------------------------------------------------------------------------


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The server's output goes to a file, so a chatty server never blocks on a pipe."""
    command = [sys.executable, "-m", "openstage.cli", "serve", "--port", "0", "--data-dir", str(data_dir)]
    command += ["--log-level", "warning", "--ice-addresses", "127.0.0.1"]
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


async def run(args: argparse.Namespace, url: str, server_pid: int) -> None:
    ivs = boto3.client(
        "ivs-realtime", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stage = ivs.create_stage(name="bench")["stage"]
    whip = stage["endpoints"]["whip"]

    def token(*capabilities: str) -> dict[str, str]:
        return ivs.create_participant_token(stageArn=stage["arn"], capabilities=list(capabilities))["participantToken"]

    print(f"encoding a {args.width}x{args.height} clip at {args.bitrate / 1e6:.1f} Mb/s ...", flush=True)
    clip = encode_clip(args.width, args.height, args.bitrate, intra_only=False)
    intra = encode_clip(args.width, args.height, args.bitrate, intra_only=True)
    kbps = sum(map(len, clip)) * 8 / 2 / 1000
    print(f"clip: {len(clip)} frames, {kbps:.0f} kb/s; server pid {server_pid}\n", flush=True)
    video = ClipTrack("video", clip, intra, 90000 // FPS, FPS)
    audio = ClipTrack("audio", encode_tone(), None, 960, 50)
    publisher_token = token("PUBLISH")
    publisher_pc = await publish(whip, publisher_token, video, audio)
    await asyncio.sleep(1)

    print(
        f"{'subs':>4} {'cpu%':>6} {'cpu%/sub':>8} {'fps':>5} {'loss%':>6} {'pkt/s':>7} {'pkt/cpu-s':>9} "
        f"{'lat p50/p95 ms':>15} {'first p50/max ms':>17} {'client%':>7}"
    )
    subscribers: list[tuple[object, Counter]] = []
    for target in args.subscribers:
        while len(subscribers) < target:
            subscribers.append(await subscribe(whip, token("SUBSCRIBE"), publisher_token["participantId"]))
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
        packets = (await packets_received(pcs) - before[2]) / elapsed
        cpu = (cpu_seconds(server_pid) - before[3]) / elapsed
        client = (cpu_seconds() - client_before) / elapsed
        latencies = sorted(x for c in counters for x in c.latencies) or [math.nan]
        firsts = sorted(c.first_frame or math.nan for c in counters)
        fps, loss = min(received) / elapsed, max(0.0, 1 - min(received) / sent)
        print(
            f"{target:>4} {cpu * 100:>6.1f} {cpu * 100 / target:>8.2f} {fps:>5.1f} {loss * 100:>6.1f} "
            f"{packets:>7.0f} {packets / cpu if cpu else math.nan:>9.0f} "
            f"{latencies[len(latencies) // 2] * 1000:>7.1f}/{latencies[int(len(latencies) * 0.95)] * 1000:<7.1f} "
            f"{statistics.median(firsts) * 1000:>8.0f}/{max(firsts) * 1000:<8.0f} {client * 100:>7.1f}",
            flush=True,
        )
        if fps < 0.9 * FPS or loss > 0.02:
            print(f"stopping: the slowest subscriber fell behind at {target} subscribers")
            break
    await asyncio.gather(publisher_pc.close(), *(pc.close() for pc, _ in subscribers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,4,8,16", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--bitrate", type=int, default=2_000_000)
    args = parser.parse_args()
    configure_ice(["127.0.0.1"])
    data_dir = Path(tempfile.mkdtemp(prefix="openstage-bench-"))
    process, url = start_server(data_dir)
    try:
        asyncio.run(run(args, url, process.pid))
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
