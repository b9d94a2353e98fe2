"""The aiortc media engine driven directly: real peers on 127.0.0.1, decoded and checked content."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from aiortc import RTCSessionDescription

from openstage.client.pattern import ToneAudioTrack
from openstage.sfu import InvalidOffer, NoMatchingCodec, PublisherNotFound
from openstage.sfu.forwarding import KEYFRAME_REQUEST_INTERVAL
from openstage.sfu.peer import new_peer_connection
from tests.sfu.peers import (
    TONE_HZ,
    EngineStage,
    answer_codecs,
    candidate_hosts,
    engine_scenario,
    publisher,
    wait_until,
)

# Target 0.5 s on loopback (measured 0.05-0.15 s); the margin keeps a loaded CI machine green.
FIRST_FRAME_LIMIT = 1.0


async def publishing(stage: EngineStage, participant_id: str, video_codecs: list[str], **options: object):
    """A publication whose media already flows, as a new subscriber usually finds it."""
    publication, pc = await stage.publish(participant_id, video_codecs, **options)
    await wait_until(lambda: pc.connectionState == "connected", what="publisher connected")
    await wait_until(lambda: publication.sources["video"].frames > 0, what="publisher's first video frame")
    return publication, pc


@pytest.mark.parametrize(
    ("offered", "expected"),
    [(["video/H264"], "video/H264"), (["video/VP8"], "video/VP8"), (["video/VP8", "video/H264"], "video/H264")],
    ids=["h264", "vp8", "vp8-listed-first"],
)
def test_two_subscribers_receive_the_publishers_media_in_its_codec(offered, expected):
    async def scenario(stage: EngineStage) -> None:
        publication, _ = await publishing(stage, "alice", offered)
        assert publication.codecs == {"audio": "audio/opus", "video": expected}
        assert set(answer_codecs(publication.answer_sdp)["video"]) == {expected}
        clients = [await stage.subscribe(f"viewer{i}", "alice") for i in range(2)]
        for subscription, _ in clients:
            assert subscription.codecs == publication.codecs
            assert set(answer_codecs(subscription.answer_sdp)["video"]) == {expected}
            assert candidate_hosts(subscription.answer_sdp) == [["127.0.0.1"], ["127.0.0.1"]]
        for _, client in clients:
            await client.video.wait_frames(30)
            await wait_until(lambda c=client: c.audio.loud_frames >= 10, what="the tone")
            assert None not in client.video.colours, "a decoded frame matched no colour the publisher drew"
            assert len(set(client.video.colours)) >= 2
            assert client.first_frame_delay() < FIRST_FRAME_LIMIT

    engine_scenario(scenario)


def test_publisher_answer_has_loopback_candidates_in_every_m_section():
    async def scenario(stage: EngineStage) -> None:
        publication, _ = await stage.publish("alice", ["video/H264"])
        assert candidate_hosts(publication.answer_sdp) == [["127.0.0.1"], ["127.0.0.1"]]
        assert publication.answer_sdp.count("a=end-of-candidates") == 2

    engine_scenario(scenario)


def test_an_offer_without_candidates_connects_through_peer_reflexive_checks():
    """The web SDK sends its offer before gathering (docs 2.4): the server learns the client from its checks."""

    async def scenario(stage: EngineStage) -> None:
        pc, offer = await publisher(["video/VP8"], audio=False)
        stage.peers.append(pc)
        lines = [line for line in offer.split("\r\n") if not line.startswith(("a=candidate", "a=end-of-candidates"))]
        bare = re.sub(r"m=video \d+", "m=video 9", "\r\n".join(lines)).replace("IN IP4 127.0.0.1", "IN IP4 0.0.0.0")
        assert "127.0.0.1" not in bare
        publication = await stage.engine.publish("stage", "alice", bare)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=publication.answer_sdp, type="answer"))
        await wait_until(lambda: publication.sources["video"].frames > 0, what="media from a candidate-less offer")

    engine_scenario(scenario)


def test_a_stalled_subscriber_is_resynced_on_a_keyframe_and_does_not_hold_up_the_other():
    async def scenario(stage: EngineStage) -> None:
        await publishing(stage, "alice", ["video/VP8"], audio=False)
        (_, fast), (slow_subscription, slow) = [
            await stage.subscribe(name, "alice", kinds=("video",)) for name in ("fast", "slow")
        ]
        await fast.video.wait_frames(5)
        await slow.video.wait_frames(5)
        # The slow subscriber's sender stops taking frames, as if the loop could not serve it.
        track = slow_subscription.tracks["video"]
        track.limit = 10
        resume = asyncio.Event()
        take = track.recv

        async def stalled():
            await resume.wait()
            return await take()

        track.recv = stalled
        fast_before, slow_before = fast.video.frames, slow.video.frames
        await asyncio.sleep(1.0)
        assert fast.video.frames - fast_before >= 20, "the fast subscriber was held up"
        assert track.resyncs >= 1 and len(track.frames) <= track.limit
        resume.set()
        await slow.video.wait_frames(slow.video.frames + 15, timeout=3)
        assert None not in slow.video.colours[slow_before:], "frames after the resync did not decode cleanly"

    engine_scenario(scenario)


def test_keyframe_requests_from_subscribers_reach_the_publisher_rate_limited():
    async def scenario(stage: EngineStage) -> None:
        _, publisher_pc = await publishing(stage, "alice", ["video/VP8"], audio=False)
        _, client = await stage.subscribe("viewer", "alice", kinds=("video",))
        await client.video.wait_frames(3)
        sender = next(s for s in publisher_pc.getSenders() if s.kind == "video")
        requests: list[float] = []
        force_keyframe = sender._send_keyframe

        def counted() -> None:
            requests.append(time.monotonic())
            force_keyframe()

        sender._send_keyframe = counted
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        receiver = client.pc.getReceivers()[0]
        ssrc = receiver.getSynchronizationSources()[0].source
        for _ in range(5):
            await receiver._send_rtcp_pli(ssrc)
        await wait_until(lambda: len(requests) == 1, what="a keyframe request at the publisher")
        await asyncio.sleep(0.1)
        assert len(requests) == 1, "five PLIs within the interval should make one request upstream"
        await asyncio.sleep(KEYFRAME_REQUEST_INTERVAL)
        await receiver._send_rtcp_pli(ssrc)
        await wait_until(lambda: len(requests) == 2, what="a second keyframe request after the interval")

    engine_scenario(scenario)


def test_close_participant_closes_its_peers_and_star_closes_the_stage():
    async def scenario(stage: EngineStage) -> None:
        alice, alice_pc = await stage.publish("alice", ["video/VP8"], audio=False)
        carol, _ = await stage.publish("carol", ["video/VP8"], audio=False)
        to_alice, bob = await stage.subscribe("bob", "alice", kinds=("video",))
        to_carol, _ = await stage.subscribe("bob", "carol", kinds=("video",))
        await bob.video.wait_frames(1)

        await stage.engine.close_participant("stage", "bob")
        assert to_alice.ended.is_set() and to_carol.ended.is_set() and to_alice.end_reason == "kicked"
        assert not alice.ended.is_set() and not carol.ended.is_set()
        await wait_until(lambda: bob.pc.connectionState == "closed", what="bob's client to see the close")

        await stage.engine.close_participant("stage", "alice")
        assert alice.ended.is_set() and not carol.ended.is_set()
        await wait_until(lambda: alice_pc.connectionState == "closed", what="alice's client to see the close")

        await stage.engine.close_participant("other-stage", "*")
        assert not carol.ended.is_set()
        await stage.engine.close_participant("stage", "*")
        assert carol.ended.is_set()
        assert stage.engine.publications == {} and stage.engine.subscriptions == {}

    engine_scenario(scenario)


def test_sessions_end_by_themselves_when_clients_leave():
    async def scenario(stage: EngineStage) -> None:
        publication, publisher_pc = await publishing(stage, "alice", ["video/H264"], audio=False)
        subscription, client = await stage.subscribe("bob", "alice", kinds=("video",))
        await client.video.wait_frames(1)
        await client.close()
        await asyncio.wait_for(subscription.ended.wait(), 5)
        assert subscription.end_reason == "closed" and not publication.ended.is_set()

        subscription, client = await stage.subscribe("bob", "alice", kinds=("video",))
        await client.video.wait_frames(1)
        await publisher_pc.close()
        await asyncio.wait_for(publication.ended.wait(), 5)
        await asyncio.wait_for(subscription.ended.wait(), 5)
        assert subscription.end_reason == "publisher-ended"
        with pytest.raises(PublisherNotFound):
            await stage.engine.subscribe("stage", "bob", "alice", "v=0")

    engine_scenario(scenario)


def test_a_peer_that_never_connects_is_dropped():
    async def scenario(stage: EngineStage) -> None:
        _, offer = await publisher(["video/VP8"], audio=False)
        publication = await stage.engine.publish("stage", "ghost", offer)
        await asyncio.wait_for(publication.ended.wait(), 5)
        assert publication.end_reason == "connect-timeout"
        assert stage.engine.publications == {}

    engine_scenario(scenario, connect_timeout=0.5)


def test_republishing_replaces_the_earlier_publication():
    async def scenario(stage: EngineStage) -> None:
        first, _ = await stage.publish("alice", ["video/VP8"], audio=False)
        second, _ = await stage.publish("alice", ["video/H264"], audio=False)
        assert first.ended.is_set() and first.end_reason == "replaced"
        assert stage.engine.publications == {("stage", "alice"): second}

    engine_scenario(scenario)


def test_refused_offers():
    async def scenario(stage: EngineStage) -> None:
        pc, audio_only = await publisher([], video=False)
        stage.peers.append(pc)
        with pytest.raises(InvalidOffer) as refused:
            await stage.engine.publish("stage", "alice", audio_only)
        assert refused.value.error_code == "INVALID_VIDEO_CODEC"
        with pytest.raises(InvalidOffer):
            await stage.engine.publish("stage", "alice", "this is not SDP")
        assert stage.engine.publications == {}

        with pytest.raises(PublisherNotFound):
            await stage.subscribe("bob", "nobody")
        await stage.publish("alice", ["video/H264"], audio=False)
        with pytest.raises(NoMatchingCodec) as refused:
            await stage.subscribe("bob", "alice", video_codecs=["video/VP8"])
        assert refused.value.kind == "video" and refused.value.error_code == "INVALID_VIDEO_CODEC"
        assert stage.engine.subscriptions == {}

    engine_scenario(scenario)


def test_an_m_line_the_publisher_does_not_send_on_has_no_source():
    async def scenario(stage: EngineStage) -> None:
        pc = new_peer_connection()
        stage.peers.append(pc)
        pc.addTransceiver(ToneAudioTrack(TONE_HZ), direction="sendonly")
        pc.addTransceiver("video", direction="inactive")
        await pc.setLocalDescription(await pc.createOffer())
        publication = await stage.engine.publish("stage", "alice", pc.localDescription.sdp)
        assert set(publication.sources) == {"audio"}
        await pc.setRemoteDescription(RTCSessionDescription(sdp=publication.answer_sdp, type="answer"))
        subscription, client = await stage.subscribe("bob", "alice")
        await wait_until(lambda: client.audio.loud_frames >= 3, what="audio from an audio-only publisher")

    engine_scenario(scenario)


def test_a_subscriber_asking_for_audio_from_a_video_only_publisher_gets_video():
    async def scenario(stage: EngineStage) -> None:
        await publishing(stage, "alice", ["video/VP8"], audio=False)
        subscription, client = await stage.subscribe("bob", "alice")
        assert subscription.codecs == {"audio": "audio/opus", "video": "video/VP8"}
        await client.video.wait_frames(5)
        assert client.pc.connectionState == "connected"

    engine_scenario(scenario)


def test_a_subscribers_nack_is_answered_with_the_lost_packet():
    """A packet lost on the way to a subscriber comes back after its NACK (as RTX or as itself)."""

    async def scenario(stage: EngineStage) -> None:
        await publishing(stage, "alice", ["video/VP8"], audio=False)
        _, client = await stage.subscribe("viewer", "alice", kinds=("video",))
        await client.video.wait_frames(10)
        receiver = client.pc.getReceivers()[0]
        media_ssrc = receiver.getSynchronizationSources()[0].source
        deliver = receiver._handle_rtp_packet
        dropped: list[int] = []  # sequence number of the media packet withheld
        recovered: list[str] = []

        async def lossy(packet, arrival_time_ms):  # type: ignore[no-untyped-def]
            if not dropped and packet.ssrc == media_ssrc:
                dropped.append(packet.sequence_number)
                return
            if dropped and not recovered:
                if packet.ssrc == media_ssrc and packet.sequence_number == dropped[0]:
                    recovered.append("as itself")
                elif packet.ssrc != media_ssrc and packet.payload[:2] == dropped[0].to_bytes(2, "big"):
                    recovered.append("as RTX")
            await deliver(packet, arrival_time_ms)

        receiver._handle_rtp_packet = lossy
        await wait_until(lambda: bool(recovered), timeout=5.0, what="the retransmitted packet")
        frames = client.video.frames
        await client.video.wait_frames(frames + 10)

    engine_scenario(scenario)
