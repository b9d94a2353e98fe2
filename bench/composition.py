"""Server-side composition cost: a 4-participant 1280x720 30 fps grid to RTMP and HLS, against the ffmpeg CLI.

Run ``python bench/composition.py`` (options: ``--seconds``, ``--participants``, ``--no-ffmpeg``).
It starts a real ``openstage serve`` (``--ice-addresses 127.0.0.1``) and nginx-rtmp on 127.0.0.1
(tests/composition/rtmp_target.py). Each participant publishes over WHIP the pre-encoded media of
bench/sfu.py (a two-second 640x360 H.264 baseline clip of moving bars and noise, looped, with an
intra-only copy for keyframe requests, and an Opus 440 Hz tone), so the publishers cost this
process next to nothing and the server has the machine. Then it measures, each for ``--seconds``:

1. ``forwarding``: the server's CPU with the publishers and no composition (what the SFU costs);
2. ``openstage``: the server's CPU while a grid composition (1280x720, 30 fps, 2.5 Mb/s, 2 s GOP,
   H.264 + AAC) goes to the RTMP server and to an s3 destination in the local bucket (HLS,
   2 s segments); ``composition`` is that minus ``forwarding``;
3. ``ffmpeg``: the ffmpeg CLI composing the same clip, four times (``-re``, repeated, decoded,
   ``xstack`` into the same 2x2 grid of 638x358 tiles on a 1280x720 canvas, libx264
   veryfast/zerolatency baseline with the same bitrate and GOP, the four 440 Hz tones mixed into
   AAC) into the same two outputs through the ``tee`` muxer.

CPU is the process's user + system time from /proc, as a share of one core. ``fps`` is the
frame rate the RTMP server received: video packets in its recording over the time they span.
The last lines give the ratio of openstage's composition CPU to ffmpeg's and the verdict on the
target: at most one core per 720p30 composition on the 2-core development machine. Other load
on the machine shows up as a lower ``fps``: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402

from openstage.composition import channels  # noqa: E402
from openstage.composition.layout import Member, layout  # noqa: E402
from openstage.sfu.peer import configure_ice  # noqa: E402
from tests.composition.rtmp_target import RtmpTarget, nginx_rtmp  # noqa: E402
from tests.server import Server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sfu  # noqa: E402  (bench/sfu.py: its pre-encoded publisher)

WIDTH, HEIGHT, FPS, BITRATE = 1280, 720, 30, 2_500_000
INPUT = (640, 360)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/benchComposit"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(pid: int, seconds: float) -> float:
    """The process's CPU over ``seconds``, as a share of one core."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


def media() -> sfu.Media:
    width, height = INPUT
    return sfu.Media(
        sfu.encode_clip(width, height, 1_000_000, intra_only=False),
        sfu.encode_clip(width, height, 1_000_000, intra_only=True),
        sfu.encode_tone(),
    )


def received_fps(recording: Path) -> tuple[float, int]:
    """(frames per second over the span they cover, frames) of an FLV recording's video, without decoding."""
    with av.open(str(recording)) as container:
        stream = container.streams.video[0]
        stamps = [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None and p.size]
    if len(stamps) < 2:
        return 0.0, len(stamps)
    return (len(stamps) - 1) / (max(stamps) - min(stamps)), len(stamps)


def ffmpeg_command(clip: Path, count: int, rtmp_url: str, hls_folder: Path, seconds: float) -> list[str]:
    """The same grid as layout.py draws for these inputs, from the same clip."""
    tiles = layout([Member(str(i), video=INPUT) for i in range(count)], {"grid": {}}, WIDTH, HEIGHT)
    scaled = ";".join(f"[{i}:v]scale={t.slot.width}:{t.slot.height}[v{i}]" for i, t in enumerate(tiles))
    positions = "|".join(f"{t.slot.x}_{t.slot.y}" for t in tiles)
    stack = "".join(f"[v{i}]" for i in range(count))
    video = (
        f"color=c=black:size={WIDTH}x{HEIGHT}:rate={FPS}[bg];{scaled};"
        f"{stack}xstack=inputs={count}:layout={positions}:fill=black[grid];"
        f"[bg][grid]overlay=shortest=1,format=yuv420p[out]"
    )
    tones = "".join(f"[{count + i}:a]" for i in range(count))
    audio = f"{tones}amix=inputs={count}:normalize=0[aout]"
    clips = ["-re", "-f", "h264", "-framerate", str(FPS), "-i", str(clip)] * count
    sines = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] * count
    hls = hls_folder / "playlist.m3u8"
    return (
        ["ffmpeg", "-v", "error", "-y", *clips, *sines, "-filter_complex", f"{video};{audio}", "-map", "[out]"]
        + ["-map", "[aout]", "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
        + ["-profile:v", "baseline", "-b:v", str(BITRATE), "-maxrate", str(BITRATE), "-bufsize", str(BITRATE)]
        + ["-g", str(2 * FPS), "-sc_threshold", "0", "-r", str(FPS), "-c:a", "aac", "-b:a", "128k", "-ar", "48000"]
        + ["-flags", "+global_header", "-f", "tee"]
        + [f"[f=flv]{rtmp_url}|[f=hls:hls_time=2:hls_segment_type=fmp4:hls_playlist_type=event]{hls}"]
    )


async def publish(server: Server, stage_arn: str, count: int, clips: sfu.Media, work: Callable[[], None]) -> None:
    configure_ice(["127.0.0.1"])
    ivs = server.client()
    whip = ivs.get_stage(arn=stage_arn)["stage"]["endpoints"]["whip"]
    peers = []
    try:
        for _ in range(count):
            token = ivs.create_participant_token(stageArn=stage_arn, capabilities=["PUBLISH"])["participantToken"]
            peers.append(await sfu.publish(whip, token, *clips.tracks()))
        await asyncio.to_thread(work)
    finally:
        for peer in peers:
            await peer.close()


def run(args: argparse.Namespace, folder: Path) -> None:
    clips = media()
    server = Server(folder / "server", "", ["--ice-addresses", "127.0.0.1"], {})
    (folder / "server").mkdir()
    server.start()
    results: dict[str, float] = {}
    try:
        with nginx_rtmp(folder / "nginx") as rtmp:
            channels.add(server.data_dir, CHANNEL, rtmp.url("openstage"))
            ivs = server.client()
            stage_arn = ivs.create_stage(name="bench")["stage"]["arn"]
            video = {"width": WIDTH, "height": HEIGHT, "framerate": FPS, "bitrate": BITRATE}
            encoder = ivs.create_encoder_configuration(video=video)["encoderConfiguration"]["arn"]
            storage = ivs.create_storage_configuration(s3={"bucketName": "bench"})["storageConfiguration"]["arn"]
            pid = server.process.pid if server.process else 0

            def work() -> None:
                time.sleep(3)  # publishers settle
                results["forwarding"] = measure(pid, args.seconds)
                arn = ivs.start_composition(
                    stageArn=stage_arn,
                    destinations=[
                        {"channel": {"channelArn": CHANNEL, "encoderConfigurationArn": encoder}},
                        {"s3": {"storageConfigurationArn": storage, "encoderConfigurationArns": [encoder]}},
                    ],
                )["composition"]["arn"]
                deadline = time.monotonic() + 30
                while ivs.get_composition(arn=arn)["composition"]["state"] != "ACTIVE":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the composition did not become ACTIVE")
                    time.sleep(0.2)
                time.sleep(2)
                results["openstage"] = measure(pid, args.seconds)
                ivs.stop_composition(arn=arn)
                while ivs.get_composition(arn=arn)["composition"]["state"] != "STOPPED":
                    time.sleep(0.2)

            asyncio.run(publish(server, stage_arn, args.participants, clips, work))
            results["openstage fps"], frames = received_fps(rtmp.recording("openstage"))
            print_row("forwarding only", results["forwarding"], None, None)
            print_row("openstage (total)", results["openstage"], results["openstage fps"], frames)
            composition = results["openstage"] - results["forwarding"]
            print_row("openstage composition", composition, None, None)
            if args.ffmpeg:
                ffmpeg_cpu, ffmpeg_fps, ffmpeg_frames = run_ffmpeg(args, clips, rtmp, folder)
                print_row("ffmpeg CLI", ffmpeg_cpu, ffmpeg_fps, ffmpeg_frames)
                print(f"\nratio openstage composition / ffmpeg: {composition / ffmpeg_cpu:.2f}")
            verdict = "within" if composition <= 1.0 else "over"
            print(f"target: at most one core per 720p30 composition: {composition:.2f} cores, {verdict}")
    finally:
        server.stop()


def run_ffmpeg(args: argparse.Namespace, clips: sfu.Media, rtmp: RtmpTarget, folder: Path) -> tuple[float, float, int]:
    clip = folder / "clip.h264"
    loops = int(args.seconds + 15) // 2 + 1  # the clip lasts two seconds; raw H.264 cannot be looped by seeking
    clip.write_bytes(b"".join(clips.clip) * loops)
    hls = folder / "ffmpeg-hls"
    hls.mkdir()
    process = subprocess.Popen(ffmpeg_command(clip, args.participants, rtmp.url("ffmpeg"), hls, args.seconds + 5))
    try:
        time.sleep(3)
        cpu = measure(process.pid, args.seconds)
        process.wait(timeout=args.seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
    time.sleep(1)
    fps, frames = received_fps(rtmp.recording("ffmpeg"))
    return cpu, fps, frames


def print_row(name: str, cpu: float, fps: float | None, frames: int | None) -> None:
    rate = f"{fps:6.1f} fps ({frames} frames)" if fps is not None else ""
    print(f"{name:24s} {cpu * 100:6.1f} % of a core  {rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window (default 30)")
    parser.add_argument("--participants", type=int, default=4, help="publishers in the grid (default 4)")
    parser.add_argument("--no-ffmpeg", dest="ffmpeg", action="store_false", help="skip the ffmpeg CLI reference")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench/composition.py needs the ffmpeg CLI (Debian package ffmpeg)")
    folder = Path(tempfile.mkdtemp(prefix="openstage-bench-composition-"))
    try:
        run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
