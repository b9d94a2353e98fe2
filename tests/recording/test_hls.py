"""HlsWriter on its own, into a local bucket: what composition and the recorder rely on."""

from __future__ import annotations

import asyncio
import fractions
from pathlib import Path

import av
import numpy as np

from openstage.recording.hls import MAX_QUEUED, HlsWriter, ThumbnailSettings
from openstage.storage.local import LocalStorage
from tests.recording.media import local_recording

FPS = 30
VIDEO_TB = fractions.Fraction(1, 90000)
AUDIO_TB = fractions.Fraction(1, 48000)
START = 4_000_000_000  # RTP-like: far from zero, as the recorder's extended timestamps are


def video_frame(index: int) -> av.VideoFrame:
    picture = np.full((240, 320, 3), (index * 4) % 256, np.uint8)
    frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
    frame.pts, frame.time_base = START + index * 90000 // FPS, VIDEO_TB
    return frame


def audio_frame(index: int, samples: int = 960) -> av.AudioFrame:
    tone = (np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 48000, START + index * samples, AUDIO_TB
    return frame


def feed(writer: HlsWriter, seconds: float, first: int = 0) -> None:
    """``seconds`` of 30 fps video and 20 ms audio frames, interleaved as they would arrive but faster than
    real time: the writer places each input's first frame by arrival, the rest by timestamp."""
    audio = int(first / FPS * 50)
    for index in range(first, first + int(seconds * FPS)):
        frame = video_frame(index)
        writer.add_video_frame(frame)
        writer.add_thumbnail_frame(frame)
        while audio * FPS < (index + 1) * 50:  # the audio of this video frame's 1/30 s
            writer.add_audio_frame(audio_frame(audio))
            audio += 1


def decoded_seconds(folder: Path, recording_folder: Path) -> dict[str, float]:
    recording = local_recording(recording_folder, "p")
    found = recording.decode(folder)
    return {"video": found["video_seconds"], "audio": found["audio_seconds"], "frames": found["video_frames"]}


def test_frames_become_an_event_playlist_then_vod(tmp_path: Path):
    async def scenario() -> None:
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", segment_seconds=2)
        feed(writer, 6.0)
        await writer.pause()  # everything so far is uploaded; the playlist is still EVENT
        playlist = (tmp_path / "bucket/p/media/hls/high/playlist.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playlist and "#EXT-X-ENDLIST" not in playlist
        summary = await writer.finish()
        assert summary.error is None and summary.segments == 3
        assert abs(summary.duration_ms - 6000) <= 100

    asyncio.run(scenario())
    playlist = (tmp_path / "bucket/p/media/hls/high/playlist.m3u8").read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and playlist.endswith("#EXT-X-ENDLIST\n")
    multivariant = (tmp_path / "bucket/p/media/hls/multivariant.m3u8").read_text()
    assert "RESOLUTION=320x240" in multivariant and "high/playlist.m3u8" in multivariant
    seconds = decoded_seconds(tmp_path / "out", tmp_path / "bucket")
    assert seconds["frames"] == 6 * FPS
    assert abs(seconds["video"] - 6.0) < 0.2 and abs(seconds["audio"] - 6.0) < 0.2


def test_after_a_pause_numbering_continues_behind_a_discontinuity(tmp_path: Path):
    async def scenario() -> None:
        writer = HlsWriter(
            LocalStorage(tmp_path), "bucket", "p", segment_seconds=2, thumbnails=ThumbnailSettings(0.001)
        )
        feed(writer, 4.0)
        await writer.pause()
        feed(writer, 4.0, first=10_000)  # a new source: its timestamps start anywhere
        summary = await writer.finish()
        assert summary.segments == 4

    asyncio.run(scenario())
    media = tmp_path / "bucket/p/media/hls/high"
    assert sorted(p.name for p in media.glob("*.mp4")) == ["1.mp4", "2.mp4", "3.mp4", "4.mp4", "init-1.mp4", "init.mp4"]
    lines = (media / "playlist.m3u8").read_text().splitlines()
    assert lines.index("#EXT-X-DISCONTINUITY") == lines.index("2.mp4") + 1
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 1] == '#EXT-X-MAP:URI="init-1.mp4"'
    thumbnails = sorted((tmp_path / "bucket/p/media/thumbnails/high").iterdir(), key=lambda p: int(p.stem))
    assert [p.name for p in thumbnails][:3] == ["1.jpg", "2.jpg", "3.jpg"] and len(thumbnails) >= 2
    assert decoded_seconds(tmp_path / "out", tmp_path / "bucket")["frames"] == 8 * FPS


def test_h264_packets_pass_through_and_aac_packets_too(tmp_path: Path):
    """What the compositor does: its own libx264 and AAC encoders, their packets handed over as they are."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = 320, 240, "yuv420p", VIDEO_TB
    encoder.options = {"preset": "ultrafast", "g": "60"}
    aac = av.CodecContext.create("aac", "w")
    aac.sample_rate, aac.layout, aac.format, aac.time_base = 48000, "stereo", "fltp", AUDIO_TB
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)

    async def scenario() -> None:
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", segment_seconds=2)
        audio = 0
        for index in range(4 * FPS):
            for packet in encoder.encode(video_frame(index)):
                writer.add_video_packet(packet, packet.is_keyframe)
            while audio * FPS < (index + 1) * 50:
                for frame in resampler.resample(audio_frame(audio)):
                    for packet in aac.encode(frame):
                        writer.add_audio_packet(packet)
                audio += 1
        for packet in encoder.encode(None):
            writer.add_video_packet(packet, packet.is_keyframe)
        summary = await writer.finish()
        assert summary.error is None and summary.segments == 2

    asyncio.run(scenario())
    found = local_recording(tmp_path / "bucket", "p").decode(tmp_path / "out")
    assert (found["video_codec"], found["audio_codec"], found["video_frames"]) == ("h264", "aac", 4 * FPS)
    assert abs(found["audio_seconds"] - 4.0) < 0.2


def test_thumbnails_only(tmp_path: Path):
    async def scenario() -> None:
        settings = ThumbnailSettings(interval_seconds=0.001, sequential=False, latest=True)
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", video=False, audio=False, thumbnails=settings)
        assert not writer.writes_hls
        feed(writer, 1.0)
        summary = await writer.finish()
        assert (summary.segments, summary.thumbnails, summary.error) == (0, 0, None)

    asyncio.run(scenario())
    files = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    assert files == ["bucket/p/media/latest_thumbnail/high/thumb.jpg"]
    assert (tmp_path / files[0]).read_bytes()[:2] == b"\xff\xd8"


def test_a_storage_failure_stops_the_writer_and_is_reported(tmp_path: Path):
    (tmp_path / "not-a-folder").write_text("")

    async def scenario() -> None:
        writer = HlsWriter(LocalStorage(tmp_path / "not-a-folder"), "bucket", "p", segment_seconds=2)
        feed(writer, 3.0)
        summary = await asyncio.wait_for(writer.finish(), 30)
        assert summary.error is not None and "cannot write" in summary.error
        assert summary.segments == 0

    asyncio.run(scenario())


def test_thumbnails_wait_for_their_interval(tmp_path: Path):
    async def scenario() -> None:
        settings = ThumbnailSettings(interval_seconds=0.5)
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", video=False, audio=False, thumbnails=settings)
        for index in range(60):  # 1.2 s of frames in real time, 20 ms apart
            writer.add_thumbnail_frame(video_frame(index))
            await asyncio.sleep(0.02)
        summary = await writer.finish()
        assert 2 <= summary.thumbnails <= 4

    asyncio.run(scenario())


def test_a_jump_in_a_source_timestamps_continues_the_timeline(tmp_path: Path):
    """What a replaced publication looks like to the writer: new random timestamps, no pause in between."""

    async def scenario() -> None:
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", segment_seconds=2)
        feed(writer, 3.0)
        feed(writer, 3.0, first=5_000_000)  # video and audio both jump by hours
        summary = await writer.finish()
        assert summary.error is None

    asyncio.run(scenario())
    assert "#EXT-X-DISCONTINUITY" not in (tmp_path / "bucket/p/media/hls/high/playlist.m3u8").read_text()
    seconds = decoded_seconds(tmp_path / "out", tmp_path / "bucket")
    assert seconds["frames"] == 6 * FPS
    assert abs(seconds["video"] - 6.0) < 0.3 and abs(seconds["audio"] - 6.0) < 0.3, seconds


def test_a_writer_that_falls_behind_drops_video_up_to_the_next_keyframe(tmp_path: Path):
    """Packets arrive far faster than they are muxed: past MAX_QUEUED, media is shed, and what is kept decodes."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = 320, 240, "yuv420p", VIDEO_TB
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "30"}
    clip = [(bytes(p), p.is_keyframe) for i in range(60) for p in encoder.encode(video_frame(i))]
    count = 3 * MAX_QUEUED

    async def scenario() -> None:
        writer = HlsWriter(LocalStorage(tmp_path), "bucket", "p", segment_seconds=2, audio=False)
        for index in range(count):
            data, keyframe = clip[index % len(clip)]
            packet = av.Packet(data)
            packet.pts, packet.time_base = START + index * 3000, VIDEO_TB
            writer.add_video_packet(packet, keyframe)
        summary = await writer.finish()
        assert summary.error is None and writer.dropped > 0
        found = local_recording(tmp_path / "bucket", "p").decode(tmp_path / "out")
        assert found["video_frames"] == count - writer.dropped  # every kept frame decodes: drops end on keyframes

    asyncio.run(scenario())
