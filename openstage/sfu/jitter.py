"""Releasing each received frame as soon as it is complete, not one frame later.

aiortc's ``JitterBuffer`` knows a frame is complete only when a packet of the next frame
arrives, and holds four audio frames before releasing one: forwarding through it would add
a frame interval of video (33 ms at 30 fps) and about 100 ms of audio at the SFU, on top of
the subscriber's own buffer. This one releases a video frame at its marker bit (the last
packet of a frame, RFC 6184 / 7741) and an audio packet at once (Opus: one packet, one
frame); the next-frame rule still applies to a sender that sets no marker. Reordering,
loss and overflow are aiortc's own ``add()``.

Private aiortc names touched (tested in tests/sfu/test_aiortc_internals.py): the overridden
``JitterBuffer._remove_frame``, its ``_packets``, ``_origin`` and ``_is_video``, and the
``RtpPacket._data`` aiortc's receiver stores depayloaded bytes in.
"""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket


class LowLatencyJitterBuffer(JitterBuffer):
    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[RtpPacket] = []
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]  # type: ignore[operator]
            if packet is None:
                return None  # a gap: wait for the packet (or aiortc's overflow handling)
            if packets and packet.timestamp != packets[0].timestamp:
                break  # the next frame began, so the previous one is whole
            packets.append(packet)
            if packet.marker or not self._is_video:
                break
        else:
            return None
        self.remove(len(packets))
        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)  # type: ignore[attr-defined]
