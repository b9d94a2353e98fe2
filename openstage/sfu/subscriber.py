"""A subscriber's peer connection: sends one publisher's encoded frames, re-packetized only.

Private aiortc name touched: ``RTCRtpSender._send_keyframe``, which aiortc's sender calls when
the subscriber reports picture loss (PLI/FIR). Replaced per sender so the request goes to the
publisher (rate-limited) instead of to an encoder that does not exist. Tested in
tests/sfu/test_aiortc_internals.py.
"""

from __future__ import annotations

from aiortc import RTCSessionDescription
from aiortc.exceptions import OperationError

from openstage.sfu.engine import InvalidOffer, NoMatchingCodec
from openstage.sfu.forwarding import ForwardedTrack
from openstage.sfu.local import LocalPublication
from openstage.sfu.negotiation import plan_subscribe
from openstage.sfu.peer import PeerSession, new_peer_connection
from openstage.sfu.publisher import AiortcPublication


class AiortcSubscription(PeerSession):
    publisher_id: str
    publication: AiortcPublication | LocalPublication
    tracks: dict[str, ForwardedTrack]

    def _release(self) -> None:
        for track in self.tracks.values():
            track.stop()


async def open_subscription(
    publication: AiortcPublication | LocalPublication, subscriber_id: str, offer_sdp: str, connect_timeout: float
) -> AiortcSubscription:
    plan = plan_subscribe(offer_sdp, publication.codecs)
    pc = new_peer_connection()
    subscription = AiortcSubscription(pc, publication.stage_id, subscriber_id, connect_timeout)
    subscription.publisher_id = publication.participant_id
    subscription.publication = publication
    subscription.codecs = plan.codecs
    subscription.tracks = {}
    try:
        for kind in plan.kinds:
            source = publication.sources.get(kind)
            track = ForwardedTrack(kind, source)
            subscription.tracks[kind] = track
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(plan.preferences[kind])
            if source is not None:
                transceiver.sender._send_keyframe = source.request_keyframe  # type: ignore[method-assign]
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OperationError as exc:
            raise NoMatchingCodec(plan.kinds[0], str(exc)) from None
        except ValueError as exc:
            raise InvalidOffer(f"the SDP offer was refused: {exc}") from None
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException:
        await subscription.close("refused")
        raise
    subscription.answer_sdp = pc.localDescription.sdp
    return subscription
