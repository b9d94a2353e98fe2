"""RTMP ingest cost: what one encoder publishing into a stage costs the server, with and without a subscriber.

Run ``python bench/ingest.py`` (options: ``--seconds``, ``--size``, ``--bitrate``). It starts one
``openstage serve`` (``--ice-addresses 127.0.0.1``), encodes a test pattern and a tone once into
an FLV file (H.264 baseline without B-frames, a keyframe a second, AAC 44.1 kHz), then has ffmpeg
push that file in real time (``-re -c copy``, so the encoder costs nothing while measuring) over
RTMP, and prints the server process's CPU (user + system, from /proc, as a share of one core)
over ``--seconds``: first with nobody watching (chunk reassembly, FLV parsing, AVCC to Annex B,
AAC decode and Opus encode), then with one WebRTC subscriber (plus RTP packetization and SRTP),
and the frames that subscriber received per second.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from openstage.client import Participant  # noqa: E402
from tests.server import Server  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def encode(path: Path, seconds: float, size: str, bitrate: str) -> None:
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-c:v", "libx264", "-profile:v", "baseline", "-bf", "0", "-g", "30", "-b:v", bitrate, "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-t", str(seconds), "-f", "flv", str(path),
        ],
        check=True,
    )  # fmt: skip


def measure(pid: int, seconds: float) -> float:
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


async def watch(token: str, publisher_id: str, pid: int, seconds: float) -> tuple[float, float]:
    """(server CPU %, frames per second received) while one subscriber watches for ``seconds``."""
    async with Participant(token, ice_addresses=["127.0.0.1"]) as viewer:
        while publisher_id not in viewer.roster:
            await asyncio.sleep(0.05)
        subscription = await viewer.subscribe(publisher_id, audio=True, video=True)
        frames = 0

        async def count() -> None:
            nonlocal frames
            async for _ in subscription.video_frames():
                frames += 1

        counter = asyncio.create_task(count())
        await asyncio.sleep(2)  # warm-up: the first keyframe, the decoder settling
        frames = 0
        cpu = await asyncio.to_thread(measure, pid, seconds)
        rate = frames / seconds
        counter.cancel()
        return cpu, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--bitrate", default="2500k")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.flv"
        encode(clip, 2 * args.seconds + 10, args.size, args.bitrate)
        server = Server(Path(scratch) / "data", "", ["--ice-addresses", "127.0.0.1"]).start()
        assert server.process is not None
        try:
            ivs = server.client()
            stage = ivs.create_stage(name="bench")["stage"]
            config = ivs.create_ingest_configuration(stageArn=stage["arn"], ingestProtocol="RTMP", insecureIngest=True)[
                "ingestConfiguration"
            ]
            url = stage["endpoints"]["rtmp"] + config["streamKey"]
            push = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy", "-f", "flv"]
            encoder = subprocess.Popen([*push, url])
            time.sleep(3)
            alone = measure(server.process.pid, args.seconds)
            token = ivs.create_participant_token(stageArn=stage["arn"], capabilities=["SUBSCRIBE"])
            watched, fps = asyncio.run(
                watch(token["participantToken"]["token"], config["participantId"], server.process.pid, args.seconds)
            )
            encoder.terminate()
            encoder.wait()
        finally:
            server.stop()
    print(f"ingest {args.size} at {args.bitrate}b/s + AAC, {args.seconds:.0f} s per step")
    print(f"  no subscriber:  server cpu {alone:5.1f} %")
    print(f"  one subscriber: server cpu {watched:5.1f} %, {fps:.1f} fps received")


if __name__ == "__main__":
    main()
