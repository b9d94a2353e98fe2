"""Individual participant recording: server CPU per recorded publisher, H.264 remuxed and VP8 transcoded.

Run ``python bench/recording.py`` (options: ``--publishers 1,8``, ``--seconds``, ``--warmup``,
``--width``, ``--height``, ``--codecs H264,VP8``, ``--thumbnails``). It starts one ``openstage
serve`` (local folder buckets) and two stages: one with autoParticipantRecordingConfiguration
(AUDIO_VIDEO, 6 s segments; thumbnails every 6 s with ``--thumbnails``) and one without. For each
codec and each number of publishers N, N publishers send a pre-encoded clip (30 fps, IDR every
2 s, an intra-only copy answers keyframe requests) plus Opus over WHIP, first to the plain stage,
then to the recorded one, and after a warm-up the server's CPU (user + system, from /proc) is
measured for ``--seconds``. It prints, in percent of one core:

- ``plain``: the server with N publishers nobody records (WHIP, SRTP, reassembly);
- ``recorded``: the same N publishers recorded;
- ``rec/pub``: (recorded - plain) / N, what recording one publisher costs: H.264 is remuxed
  (no video codec work; Opus is decoded and encoded as AAC), VP8 is decoded and encoded with
  libx264 ``veryfast``;
- ``seg s``: the mean segment length of the recordings made (6 s asked; a check that the
  recordings kept up and cut where they should), and ``recs``: how many recordings ended
  (``recording-ended.json``) within 30 s of the publishers leaving, one per publisher.

On a 2-core machine the publishers (this process) compete with the server; their own CPU is
small (pre-encoded media) and printed as ``client``.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import av  # noqa: E402
import boto3  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402
from sfu import (  # noqa: E402
    AUDIO_TIME_BASE,
    FPS,
    VIDEO_TIME_BASE,
    cpu_seconds,
    encode_clip,
    encode_tone,
    post,
    start_server,
)

from openstage.sfu.peer import configure_ice, new_peer_connection  # noqa: E402

BITRATE = 1_000_000
HEADER = f"{'codec':>5} {'N':>3} {'plain':>7} {'recorded':>9} {'rec/pub':>8} {'seg s':>6} {'recs':>5} {'client':>7}"


def encode_vp8(frames: list[bytes], width: int, height: int, intra_only: bool) -> list[bytes]:
    """The H.264 clip's pictures as VP8, so both codecs carry the same content."""
    decoder = av.CodecContext.create("h264", "r")
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.bit_rate = fractions.Fraction(1, FPS), BITRATE
    encoder.gop_size = 1 if intra_only else 2 * FPS
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    out: list[bytes] = []
    for index, data in enumerate(frames):
        for picture in decoder.decode(av.Packet(data)):
            picture.pts = index
            out += [bytes(p) for p in encoder.encode(picture)]
    out += [bytes(p) for p in encoder.encode(None)]
    return out


class Clip(MediaStreamTrack):
    """Loops pre-encoded frames in real time; a keyframe request sends the intra-only copy of the next one."""

    def __init__(self, kind: str, frames: list[bytes], intra: list[bytes] | None) -> None:
        super().__init__()
        self.kind, self.frames, self.intra = kind, frames, intra
        self.step, self.rate = (90000 // FPS, FPS) if kind == "video" else (960, 50)
        self.time_base = VIDEO_TIME_BASE if kind == "video" else AUDIO_TIME_BASE
        self.sent, self.start, self.keyframe_requested = 0, 0.0, False

    async def recv(self) -> av.Packet:
        if self.sent == 0:
            self.start = time.monotonic()
        await asyncio.sleep(max(0.0, self.start + self.sent / self.rate - time.monotonic()))
        index = self.sent % len(self.frames)
        data = self.frames[index]
        if self.intra is not None and self.keyframe_requested:
            self.keyframe_requested, data = False, self.intra[index]
        packet = av.Packet(data)
        packet.pts, packet.time_base = self.sent * self.step, self.time_base
        self.sent += 1
        return packet


async def publish(whip: str, token: dict[str, str], video: Clip, audio: Clip, codec: str) -> RTCPeerConnection:
    pc = new_peer_connection()
    pc.addTransceiver(audio, direction="sendonly")
    transceiver = pc.addTransceiver(video, direction="sendonly")
    codecs = [c for c in transceiver.sender.getCapabilities("video").codecs if c.mimeType == f"video/{codec}"]
    transceiver.setCodecPreferences(codecs)

    def request_keyframe() -> None:
        video.keyframe_requested = True

    transceiver.sender._send_keyframe = request_keyframe  # type: ignore[method-assign]  # the clip makes keyframes
    await pc.setLocalDescription(await pc.createOffer())
    url = f"{whip}/publish/{token['participantId']}"
    answer = await asyncio.to_thread(post, url, pc.localDescription.sdp, token["token"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return pc


def recordings(bucket: Path) -> dict[Path, list[float]]:
    """Each ended recording's playlist, with its segment lengths."""
    found = {}
    for ended in bucket.rglob("events/recording-ended.json") if bucket.exists() else []:
        playlist = ended.parent.parent / "media/hls/high/playlist.m3u8"
        lines = playlist.read_text().splitlines() if playlist.exists() else []
        found[playlist] = [float(line[8:].split(",")[0]) for line in lines if line.startswith("#EXTINF:")]
    return found


async def measure(
    args: argparse.Namespace,
    ivs,
    whip: str,
    stage_arn: str,
    media: dict[str, list[bytes]],
    codec: str,
    count: int,
    pid: int,
) -> tuple[float, float]:
    """Server and client CPU (cores) with ``count`` publishers on the stage."""
    pcs = []
    for _ in range(count):
        created = ivs.create_participant_token(stageArn=stage_arn, capabilities=["PUBLISH"])["participantToken"]
        video = Clip("video", media[codec], media[f"{codec}-intra"])
        pcs.append(await publish(whip, created, video, Clip("audio", media["opus"], None), codec))
    await asyncio.sleep(args.warmup)
    server, client = cpu_seconds(pid), cpu_seconds()
    started = time.monotonic()
    await asyncio.sleep(args.seconds)
    elapsed = time.monotonic() - started
    result = (
        (cpu_seconds(pid) - server) / elapsed,
        (cpu_seconds() - client) / elapsed,
    )
    await asyncio.gather(*(pc.close() for pc in pcs))
    await asyncio.sleep(3.0)  # recordings end, publishers leave
    return result


async def bench(args: argparse.Namespace) -> None:
    configure_ice(["127.0.0.1"])
    print(f"encoding a {args.width}x{args.height} clip ...", flush=True)
    h264 = encode_clip(args.width, args.height, BITRATE, intra_only=False)
    h264_intra = encode_clip(args.width, args.height, BITRATE, intra_only=True)
    media = {
        "H264": h264,
        "H264-intra": h264_intra,
        "VP8": encode_vp8(h264, args.width, args.height, intra_only=False),
        "VP8-intra": encode_vp8(h264, args.width, args.height, intra_only=True),
        "opus": encode_tone(),
    }
    data_dir = Path(tempfile.mkdtemp(prefix="openstage-bench-"))
    process, url = start_server(data_dir)
    try:
        ivs = boto3.client(
            "ivs-realtime", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        storage = ivs.create_storage_configuration(s3={"bucketName": "bench"})["storageConfiguration"]["arn"]
        config: dict = {"storageConfigurationArn": storage}
        if args.thumbnails:
            config["thumbnailConfiguration"] = {"recordingMode": "INTERVAL", "targetIntervalSeconds": 6}
        recorded = ivs.create_stage(name="recorded", autoParticipantRecordingConfiguration=config)["stage"]["arn"]
        plain = ivs.create_stage(name="plain")["stage"]["arn"]
        whip = f"{url}/whip"
        bucket = data_dir / "buckets" / "bench"
        print(HEADER, flush=True)
        for codec in args.codecs:
            for count in args.publishers:
                base, _ = await measure(args, ivs, whip, plain, media, codec, count, process.pid)
                before = recordings(bucket).keys()
                cpu, client = await measure(args, ivs, whip, recorded, media, codec, count, process.pid)
                deadline = time.monotonic() + 30  # a transcode may still be working through its backlog
                while len(recordings(bucket).keys() - before) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                made = [lengths for path, lengths in recordings(bucket).items() if path not in before]
                whole = [length for lengths in made for length in lengths[:-1]]  # the last one is cut short
                segment = statistics.median(whole) if whole else math.nan
                print(
                    f"{codec:>5} {count:>3} {base * 100:>7.1f} {cpu * 100:>9.1f} "
                    f"{(cpu - base) * 100 / count:>8.1f} {segment:>6.1f} {len(made):>5} {client * 100:>7.1f}",
                    flush=True,
                )
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishers", default="1,8", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--codecs", default="H264,VP8", type=lambda s: s.split(","))
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--thumbnails", action="store_true", help="also a thumbnail every 6 s")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
