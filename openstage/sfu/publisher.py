"""A publisher's peer connection: receives its audio and video and exposes them as track sources.

Private aiortc name touched: ``RTCRtpReceiver._send_rtcp_pli`` (keyframe requests upstream;
aiortc has no public way to send a PLI). Tested in tests/sfu/test_aiortc_internals.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCRtpReceiver, RTCSessionDescription
from aiortc.exceptions import OperationError

from openstage.sfu.engine import InvalidOffer, NoMatchingCodec
from openstage.sfu.forwarding import TrackSource
from openstage.sfu.negotiation import plan_publish
from openstage.sfu.passthrough import forward_encoded
from openstage.sfu.peer import PeerSession, new_peer_connection


class AiortcPublication(PeerSession):
    sources: dict[str, TrackSource]

    def _release(self) -> None:
        for source in self.sources.values():
            for sink in list(source.sinks):
                sink.stop()


async def open_publication(
    stage_id: str, participant_id: str, offer_sdp: str, connect_timeout: float
) -> AiortcPublication:
    plan = plan_publish(offer_sdp)
    pc = new_peer_connection()
    publication = AiortcPublication(pc, stage_id, participant_id, connect_timeout)
    publication.codecs = plan.codecs
    publication.sources = {}
    try:
        for kind in plan.kinds:
            pc.addTransceiver(kind, direction="recvonly").setCodecPreferences(plan.preferences[kind])
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except OperationError as exc:
            raise NoMatchingCodec("video", str(exc)) from None
        except ValueError as exc:
            raise InvalidOffer(f"the SDP offer was refused: {exc}") from None
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is None:  # an m-line the publisher does not send on (inactive, recvonly)
                continue
            source = TrackSource(transceiver.kind, _pli_sender(receiver) if transceiver.kind == "video" else None)
            publication.sources[transceiver.kind] = source
            forward_encoded(receiver, source.deliver)
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException:
        await publication.close("refused")
        raise
    publication.answer_sdp = pc.localDescription.sdp
    return publication


def _pli_sender(receiver: RTCRtpReceiver) -> Callable[[], None]:
    background: set[asyncio.Task[None]] = set()

    def send_pli() -> None:
        # Every SSRC seen recently: the media SSRC, plus its RTX one if any (ignored by senders).
        for source in receiver.getSynchronizationSources():
            task = asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
            background.add(task)
            task.add_done_callback(background.discard)

    return send_pli
