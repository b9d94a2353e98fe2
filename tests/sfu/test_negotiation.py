"""Which codec an answer will carry, decided from the offer before aiortc applies it."""

from __future__ import annotations

import re

import pytest

from openstage.sfu import InvalidOffer, NoMatchingCodec
from openstage.sfu.negotiation import plan_publish, plan_subscribe
from tests.sfu.peers import Subscriber, publisher, run


def offer_of(video_codecs: list[str], audio: bool = True, video: bool = True) -> str:
    result: list[str] = []

    async def scenario() -> None:
        pc, offer = await publisher(video_codecs, audio=audio, video=video)
        await pc.close()
        result.append(offer)

    run(scenario())
    return result[0]


def subscriber_offer(**options: object) -> str:
    result: list[str] = []

    async def scenario() -> None:
        client = Subscriber(**options)
        result.append(await client.offer())
        await client.close()

    run(scenario())
    return result[0]


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["video/VP8", "video/H264"], "video/H264"),
        (["video/H264", "video/VP8"], "video/H264"),
        (["video/VP8"], "video/VP8"),
        (["video/H264"], "video/H264"),
    ],
)
def test_publish_prefers_h264_whatever_the_offer_order(offered, chosen):
    plan = plan_publish(offer_of(offered))
    assert plan.kinds == ("audio", "video")
    assert plan.codecs == {"audio": "audio/opus", "video": chosen}
    assert {c.mimeType for c in plan.preferences["video"]} == {chosen, "video/rtx"}


def test_h264_in_a_profile_aiortc_cannot_forward_falls_back_to_vp8():
    offer = re.sub(r"profile-level-id=42[0e]01f", "profile-level-id=640c1f", offer_of(["video/H264", "video/VP8"]))
    assert plan_publish(offer).codecs["video"] == "video/VP8"
    h264_high_only = re.sub(r"profile-level-id=42[0e]01f", "profile-level-id=640c1f", offer_of(["video/H264"]))
    with pytest.raises(NoMatchingCodec) as refused:
        plan_publish(h264_high_only)
    assert refused.value.kind == "video" and refused.value.error_code == "INVALID_VIDEO_CODEC"


def test_publish_needs_a_video_m_line_even_for_audio_only():
    with pytest.raises(InvalidOffer) as refused:
        plan_publish(offer_of([], video=False))
    assert refused.value.error_code == "INVALID_VIDEO_CODEC"
    assert "video m-line" in refused.value.message


def test_audio_without_opus_has_no_matching_codec():
    offer = offer_of(["video/VP8"]).replace("opus/48000/2", "telephone-event/48000/2")
    with pytest.raises(NoMatchingCodec) as refused:
        plan_publish(offer)
    assert refused.value.error_code == "INVALID_AUDIO_CODEC"


def test_garbage_and_empty_offers_are_invalid():
    for offer in ["", "hello", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"]:
        with pytest.raises(InvalidOffer):
            plan_publish(offer)


def test_subscribe_gets_exactly_the_publishers_codec():
    offer = subscriber_offer()  # aiortc offers VP8 first, then H.264
    plan = plan_subscribe(offer, {"audio": "audio/opus", "video": "video/H264"})
    assert plan.codecs == {"audio": "audio/opus", "video": "video/H264"}
    with pytest.raises(NoMatchingCodec):
        plan_subscribe(subscriber_offer(video_codecs=["video/VP8"]), {"video": "video/H264"})
