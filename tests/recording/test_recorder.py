"""ParticipantRecorder's pieces that need no peer (the whole recorder runs in test_manager.py)."""

from __future__ import annotations

from openstage.recording.recorder import RtpClock


def test_rtp_timestamps_keep_increasing_across_the_32_bit_wrap():
    clock = RtpClock()
    stamps = [0xFFFF_F000, 0xFFFF_FC00, 0x0000_0800, 0x0000_0400, 0x0000_1000]  # wrap, then one reordered frame
    extended = [clock.extend(stamp) for stamp in stamps]
    assert extended == [0xFFFF_F000, 0xFFFF_FC00, 0x1_0000_0800, 0x1_0000_0400, 0x1_0000_1000]
