"""MediaEngine.tap and codecs: in-process readers of a real publisher's encoded media."""

from __future__ import annotations

import fractions

import av

from tests.sfu.peers import EngineStage, engine_scenario, wait_until


class Collector:
    """A PacketSink keeping what it was pushed."""

    def __init__(self) -> None:
        self.packets: list[tuple[av.Packet, bool]] = []

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self.packets.append((packet, keyframe))


def decoded_frames(codec: str, packets: list[tuple[av.Packet, bool]]) -> list[av.VideoFrame]:
    """Decodes the tapped frames from the first keyframe on: proof they are whole encoded frames."""
    first = next(i for i, (_, keyframe) in enumerate(packets) if keyframe)
    decoder = av.CodecContext.create({"video/H264": "h264", "video/VP8": "libvpx"}[codec], "r")
    frames: list[av.VideoFrame] = []
    for packet, _ in packets[first:]:
        frames += decoder.decode(av.Packet(bytes(packet)))
    return frames


def test_a_video_tap_starts_at_a_keyframe_and_decodes():
    for codec in ("video/H264", "video/VP8"):

        async def scenario(stage: EngineStage, codec: str = codec) -> None:
            publication, pc = await stage.publish("alice", [codec])
            await wait_until(lambda: publication.sources["video"].frames > 30, what="the publisher's video")
            assert stage.engine.codecs("stage", "alice") == {"audio": "audio/opus", "video": codec}
            video, audio = Collector(), Collector()
            detach_video = stage.engine.tap("stage", "alice", "video", video)
            detach_audio = stage.engine.tap("stage", "alice", "audio", audio)
            assert detach_video is not None and detach_audio is not None
            # The tap asks the publisher for a keyframe, so one comes soon whatever its GOP.
            await wait_until(lambda: any(k for _, k in video.packets), timeout=3, what="a keyframe")
            await wait_until(lambda: len(video.packets) > 30 and len(audio.packets) > 20, what="tapped media")
            packet = video.packets[0][0]
            assert packet.time_base == fractions.Fraction(1, 90000)
            assert audio.packets[0][0].time_base == fractions.Fraction(1, 48000)
            assert len(decoded_frames(codec, video.packets)) >= 10
            detach_video()
            detach_audio()
            seen = len(video.packets)
            await wait_until(lambda: publication.sources["video"].frames > seen + 40, what="more video")
            assert len(video.packets) == seen, "a detached tap still received frames"

        engine_scenario(scenario)


def test_no_tap_without_that_kind_or_that_publisher():
    async def scenario(stage: EngineStage) -> None:
        publication, _ = await stage.publish("silent", ["video/VP8"], audio=False)
        assert stage.engine.tap("stage", "silent", "audio", Collector()) is None
        assert stage.engine.tap("stage", "nobody", "video", Collector()) is None
        assert stage.engine.codecs("stage", "nobody") is None
        assert stage.engine.codecs("stage", "silent") == {"video": "video/VP8"}
        await publication.close()
        assert stage.engine.codecs("stage", "silent") is None
        assert stage.engine.tap("stage", "silent", "video", Collector()) is None

    engine_scenario(scenario)


def test_a_replacing_publication_inherits_the_taps():
    """The same participant publishes again while live (a client's new peer connection): taps keep reading."""

    async def scenario(stage: EngineStage) -> None:
        first, _ = await stage.publish("alice", ["video/H264"])
        await wait_until(lambda: first.sources["video"].frames > 10, what="the first publication's video")
        video = Collector()
        detach = stage.engine.tap("stage", "alice", "video", video)
        assert detach is not None
        await wait_until(lambda: len(video.packets) > 10, what="tapped video")
        second, _ = await stage.publish("alice", ["video/H264"])
        assert first.ended.is_set() and second.sources["video"].taps == [video]
        seen = len(video.packets)
        await wait_until(lambda: len(video.packets) > seen + 30, what="video from the new publication")
        detach()
        assert second.sources["video"].taps == []

    engine_scenario(scenario)
