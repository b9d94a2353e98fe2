"""Reading an offer and deciding, before aiortc applies it, which codec each m-line will carry.

The choice has to be made up front: aiortc honours codec preferences on the answering side
only for transceivers that exist before ``setRemoteDescription`` (media-stack.md gotcha 2).
A publisher gets exactly one video codec family in the answer, H.264 when offered (IVS's
choice; the web SDK lists VP8 first), else VP8; a subscriber gets exactly the publisher's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiortc import RTCRtpReceiver, sdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from openstage.sfu.engine import InvalidOffer, NoMatchingCodec

OPUS = "audio/opus"
H264 = "video/H264"
VP8 = "video/VP8"
PUBLISH_PREFERENCE = {"audio": [OPUS], "video": [H264, VP8]}
MEDIA_KINDS = ("audio", "video")


@dataclass(frozen=True)
class Plan:
    kinds: tuple[str, ...]  # the offer's audio/video m-lines, in order
    preferences: dict[str, list[RTCRtpCodecCapability]]  # for setCodecPreferences, per kind
    codecs: dict[str, str]  # kind -> the MIME type that will flow


def parse_offer(offer_sdp: str) -> sdp.SessionDescription:
    try:
        description = sdp.SessionDescription.parse(offer_sdp)
    except Exception as exc:  # aiortc's parser raises whatever the bad line provokes
        raise InvalidOffer(f"the SDP offer cannot be parsed: {exc!r}") from None
    kinds = [m.kind for m in description.media if m.kind in MEDIA_KINDS]
    if not kinds:
        raise InvalidOffer("the SDP offer has no audio or video m-line")
    for kind in MEDIA_KINDS:
        if kinds.count(kind) > 1:
            raise InvalidOffer(f"the SDP offer has {kinds.count(kind)} {kind} m-lines; one of each kind is supported")
    return description


def plan_publish(offer_sdp: str) -> Plan:
    description = parse_offer(offer_sdp)
    plan = _plan(description, lambda kind: PUBLISH_PREFERENCE[kind])
    if "video" not in plan.kinds:
        raise InvalidOffer(
            "failed to create publisher session: the offer has no video m-line "
            "(IVS requires H.264 video in the offer, even to publish audio only)",
            error_code="INVALID_VIDEO_CODEC",
        )
    return plan


def plan_subscribe(offer_sdp: str, published: Mapping[str, str]) -> Plan:
    """``published`` is the publication's kind -> MIME type; a kind it lacks still gets Opus/its family."""
    description = parse_offer(offer_sdp)
    return _plan(description, lambda kind: [published.get(kind, PUBLISH_PREFERENCE[kind][0])])


def _plan(description: sdp.SessionDescription, wanted: Callable[[str], list[str]]) -> Plan:
    kinds: list[str] = []
    preferences: dict[str, list[RTCRtpCodecCapability]] = {}
    codecs: dict[str, str] = {}
    for media in description.media:
        if media.kind not in MEDIA_KINDS:
            continue
        kinds.append(media.kind)
        mime = next((m for m in wanted(media.kind) if _offered(m, media.rtp.codecs)), None)
        if mime is None:
            names = sorted({c.mimeType for c in media.rtp.codecs if c.name.lower() != "rtx"})
            raise NoMatchingCodec(
                media.kind,
                f"no matching {media.kind} codec: offered {', '.join(names) or 'none'}, "
                f"need one of {', '.join(wanted(media.kind))}",
            )
        codecs[media.kind] = mime
        preferences[media.kind] = _capabilities(mime)
    return Plan(tuple(kinds), preferences, codecs)


def _capabilities(mime: str) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities of that MIME type (constrained baseline first for H.264), then RTX."""
    kind = mime.split("/")[0]
    capabilities = RTCRtpReceiver.getCapabilities(kind)
    all_codecs = capabilities.codecs if capabilities else []
    chosen = [c for c in all_codecs if c.mimeType.lower() == mime.lower()]
    chosen.sort(key=lambda c: str(c.parameters.get("profile-level-id", "")) != "42e01f")
    return chosen + [c for c in all_codecs if c.mimeType.lower() == f"{kind}/rtx"]


def _offered(mime: str, offered: list[RTCRtpCodecParameters]) -> bool:
    return any(_compatible(local, remote) for local in _capabilities(mime) for remote in offered)


def _compatible(local: RTCRtpCodecCapability, remote: RTCRtpCodecParameters) -> bool:
    """The rule aiortc applies when it intersects codecs: same type and rate; for H.264 same mode and profile."""
    if local.mimeType.lower() != remote.mimeType.lower() or local.clockRate != remote.clockRate:
        return False
    if local.mimeType.lower() == "video/rtx":
        return False
    if local.mimeType.lower() != H264.lower():
        return True
    try:
        return _mode(local.parameters) == _mode(remote.parameters) and _profile(local.parameters) == _profile(
            remote.parameters
        )
    except ValueError:
        return False


def _mode(parameters: Mapping[str, object]) -> int:
    return int(str(parameters.get("packetization-mode", 0)))


def _profile(parameters: Mapping[str, object]) -> sdp.H264Profile:
    # aiortc (like libwebrtc) reads a missing profile-level-id as constrained baseline 3.1.
    return sdp.parse_h264_profile_level_id(str(parameters.get("profile-level-id", "42e01f")))[0]
