"""The one place openstage reaches into aiortc's receiver: encoded frames out, no decoder.

aiortc's ``RTCRtpReceiver`` reassembles RTP into frames (jitter buffer, NACK, PLI on loss) and
hands them to a decoder thread running ``aiortc.rtcrtpreceiver.decoder_worker``. openstage
replaces that function with one that, for receivers registered here, turns each frame into an
``av.Packet`` instead of decoding it, and calls the receiver's sink on the event loop. Other
receivers in the process (clients in tests, future composition) keep aiortc's decoder.

It also gives the receiver a jitter buffer that releases frames without waiting for the next
one (jitter.py).

Private aiortc names touched (aiortc is pinned to 1.16.x; tests/sfu/test_aiortc_internals.py
has one test per name): ``rtcrtpreceiver.decoder_worker`` (its signature),
``RemoteStreamTrack._queue`` (the queue the worker is given, used to recognise the receiver)
and ``RTCRtpReceiver.__jitter_buffer`` (name-mangled), replaced before the first packet.
"""

from __future__ import annotations

import asyncio
import fractions
import queue
import threading
import weakref
from collections.abc import Callable
from typing import cast

import aiortc.rtcrtpreceiver as receiver_module
import av
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from openstage.sfu.bitstream import is_keyframe
from openstage.sfu.jitter import LowLatencyJitterBuffer

FrameSink = Callable[[av.Packet, bool], None]
# aiortc's own sizes, in packets: enough for a large video frame, and for audio a few frames of reordering.
VIDEO_CAPACITY, AUDIO_CAPACITY = 512, 16

_aiortc_decoder_worker = receiver_module.decoder_worker
_sinks: weakref.WeakKeyDictionary[asyncio.Queue[object], FrameSink] = weakref.WeakKeyDictionary()
_sinks_lock = threading.Lock()


def forward_encoded(receiver: RTCRtpReceiver, sink: FrameSink) -> None:
    """Routes the receiver's frames to ``sink(packet, keyframe)`` instead of a decoder.

    Call after ``setRemoteDescription`` (which creates the receiver's track) and before the
    connection is established (when aiortc starts the decoder thread).
    """
    receiver_module.decoder_worker = _worker
    track = cast(RemoteStreamTrack, receiver.track)
    with _sinks_lock:
        _sinks[track._queue] = sink
    video = track.kind == "video"
    receiver._RTCRtpReceiver__jitter_buffer = LowLatencyJitterBuffer(  # type: ignore[attr-defined]
        capacity=VIDEO_CAPACITY if video else AUDIO_CAPACITY, is_video=video
    )


def _worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[tuple[RTCRtpCodecParameters, JitterFrame] | None],
    output_q: asyncio.Queue[object],
    decode_error: threading.Event,
) -> None:
    with _sinks_lock:
        sink = _sinks.get(output_q)
    if sink is None:
        _aiortc_decoder_worker(loop, input_q, output_q, decode_error)
        return
    while (task := input_q.get()) is not None:
        codec, frame = task
        packet = av.Packet(frame.data)
        packet.pts = frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        try:
            loop.call_soon_threadsafe(sink, packet, is_keyframe(codec.name, frame.data))
        except RuntimeError:  # the loop is closed: nobody is left to forward to
            return
    # Like aiortc's own worker: tell the (unread) remote track that it has ended.
    asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
