"""AAC from the encoder to the Opus WebRTC subscribers expect: the one codec work ingest does.

WebRTC has no AAC, so each AAC frame is decoded, resampled to 48 kHz stereo in 20 ms frames and
encoded as Opus with PyAV (FFmpeg). About 0.3 ms per AAC frame on one core, cheap enough for
the event loop. Output timestamps count samples from the first frame's RTMP timestamp, so
they stay on the clock the video uses.
"""

from __future__ import annotations

import fractions

import av

SAMPLE_RATE = 48_000
OPUS_BITRATE = 96_000
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class AacToOpus:
    def __init__(self, audio_specific_config: bytes) -> None:
        """``audio_specific_config`` is the AAC sequence header's body (ISO/IEC 14496-3 1.6.2.1)."""
        self._decoder = av.CodecContext.create("aac", "r")
        self._decoder.extradata = audio_specific_config
        self._encoder = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = SAMPLE_RATE
        self._encoder.layout = "stereo"
        self._encoder.format = "s16"
        self._encoder.bit_rate = OPUS_BITRATE
        self._encoder.open()
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=SAMPLE_RATE, frame_size=self._encoder.frame_size
        )
        self._next_pts: int | None = None

    def transcode(self, aac_frame: bytes, timestamp_ms: int) -> list[av.Packet]:
        """Opus packets (pts in 1/48000) for one raw AAC frame; often none or one, as frames re-chunk."""
        if self._next_pts is None:
            self._next_pts = timestamp_ms * SAMPLE_RATE // 1000
        packets: list[av.Packet] = []
        for frame in self._decoder.decode(av.Packet(aac_frame)):
            for chunk in self._resampler.resample(frame):
                chunk.pts = None
                for packet in self._encoder.encode(chunk):
                    packet.pts = self._next_pts
                    packet.time_base = TIME_BASE
                    self._next_pts += self._encoder.frame_size
                    packets.append(packet)
        return packets
