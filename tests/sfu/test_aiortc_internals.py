"""One test per private aiortc/aioice name openstage relies on, so an upgrade that moves one fails here first.

The names: ``aiortc.rtcrtpreceiver.decoder_worker``, ``RemoteStreamTrack._queue`` and
``RTCRtpReceiver.__jitter_buffer`` (passthrough.py); ``JitterBuffer._remove_frame``, ``._packets``,
``._origin``, ``._is_video`` and ``RtpPacket._data`` (jitter.py); ``RTCRtpReceiver._send_rtcp_pli``
(publisher.py); ``RTCRtpSender._send_keyframe`` (subscriber.py); ``aioice.ice.get_host_addresses`` and
``aioice.ice.asyncio`` (peer.py).
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver as receiver_module
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket

from openstage.sfu import peer
from openstage.sfu.peer import new_peer_connection
from tests.sfu.peers import free_udp_ports, publisher, run, wait_until


def test_aiortc_is_the_pinned_minor_version():
    assert aiortc.__version__.startswith("1.16."), "re-check every test in this file before moving the pin"


async def connected_pair(video_codecs: list[str]) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A sending publisher and a plain receiving peer (aiortc's own decoder), both connected."""
    sender, offer = await publisher(video_codecs, audio=False)
    receiver = new_peer_connection()
    await receiver.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    await wait_until(lambda: receiver.connectionState == "connected", what="connection")
    return sender, receiver


def test_decoder_worker_is_started_with_the_remote_tracks_queue():
    recorded: list[tuple[object, ...]] = []
    current = receiver_module.decoder_worker

    def recording(*args: object) -> None:
        recorded.append(args)
        current(*args)

    async def scenario() -> None:
        receiver_module.decoder_worker = recording
        try:
            sender, receiver = await connected_pair(["video/VP8"])
            await wait_until(lambda: bool(recorded), what="the decoder thread")
            loop, input_q, output_q, decode_error = recorded[0]
            assert loop is asyncio.get_running_loop()
            assert isinstance(input_q, queue.Queue) and isinstance(decode_error, threading.Event)
            assert output_q is receiver.getReceivers()[0].track._queue
            await asyncio.gather(sender.close(), receiver.close())
        finally:
            receiver_module.decoder_worker = current

    assert list(inspect.signature(current).parameters)[:4] == ["loop", "input_q", "output_q", "decode_error"]
    assert "decoder_worker" in RTCRtpReceiver.receive.__code__.co_names, "looked up when the receiver starts"
    run(scenario())


def test_remote_track_queue_is_an_asyncio_queue_the_track_reads():
    async def scenario() -> None:
        track = receiver_module.RemoteStreamTrack(kind="video")
        await track._queue.put("frame")
        assert await track.recv() == "frame"

    run(scenario())


def test_receiver_reads_frames_from_its_mangled_jitter_buffer_attribute():
    assert "_RTCRtpReceiver__jitter_buffer" in RTCRtpReceiver._handle_rtp_packet.__code__.co_names

    async def scenario() -> None:
        pc = new_peer_connection()
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, JitterBuffer)
        await pc.close()

    run(scenario())


def test_jitter_buffer_internals_the_low_latency_buffer_builds_on():
    released: list[int] = []

    class Spy(JitterBuffer):
        def _remove_frame(self, sequence_number: int):
            released.append(sequence_number)
            return None

    spy, rtp = Spy(capacity=16, is_video=True), RtpPacket(sequence_number=7, timestamp=0)
    spy.add(rtp)
    assert released == [7], "add() must ask _remove_frame for a frame after each packet"
    assert spy._origin == 7 and spy._packets[7] is rtp and spy._is_video is True
    assert "_data" in RTCRtpReceiver._handle_rtp_packet.__code__.co_names, "the receiver stores payloads in _data"


def test_send_rtcp_pli_makes_the_remote_sender_force_a_keyframe():
    async def scenario() -> None:
        sender, receiver = await connected_pair(["video/VP8"])
        video_sender = sender.getSenders()[0]
        requests: list[bool] = []
        video_sender._send_keyframe = lambda: requests.append(True)
        rtp_receiver = receiver.getReceivers()[0]
        await wait_until(lambda: bool(rtp_receiver.getSynchronizationSources()), what="media")
        await rtp_receiver._send_rtcp_pli(rtp_receiver.getSynchronizationSources()[0].source)
        await wait_until(lambda: bool(requests), what="the PLI at the sender")
        await asyncio.gather(sender.close(), receiver.close())

    run(scenario())


def test_sender_answers_a_pli_by_calling_send_keyframe():
    async def scenario() -> None:
        pc = new_peer_connection()
        sender = pc.addTransceiver("video", direction="sendonly").sender
        requests: list[bool] = []
        sender._send_keyframe = lambda: requests.append(True)
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc))
        assert requests == [True]
        await pc.close()

    run(scenario())


def test_get_host_addresses_decides_what_aioice_binds():
    assert list(inspect.signature(peer._default_host_addresses).parameters) == ["use_ipv4", "use_ipv6"]

    async def scenario() -> None:
        connection = aioice.ice.Connection(ice_controlling=True)
        await connection.gather_candidates()
        assert [c.host for c in connection.local_candidates] == ["127.0.0.1"]
        await connection.close()

    run(scenario())  # tests.sfu.peers configured 127.0.0.1 when imported
    peer.configure_ice([])
    try:
        assert aioice.ice.get_host_addresses is peer._default_host_addresses
    finally:
        peer.configure_ice(["127.0.0.1"])


def test_host_candidates_bind_port_0_through_the_ice_modules_asyncio():
    """configure_ports swaps ``aioice.ice.asyncio``; it works while aioice binds via that module's running loop."""
    assert aioice.ice.asyncio is asyncio and peer._real_asyncio is asyncio
    names = aioice.ice.Connection.get_component_candidates.__code__.co_names
    assert {"asyncio", "get_running_loop", "create_datagram_endpoint"} <= set(names)
    binds: list[object] = []
    real_bind = peer._LoopInPortRange.create_datagram_endpoint

    async def recording(self: peer._LoopInPortRange, *args: object, local_addr: object = None, **kwargs: object):
        binds.append(local_addr)
        return await real_bind(self, *args, local_addr=local_addr, **kwargs)

    async def scenario() -> None:
        connection = aioice.ice.Connection(ice_controlling=True)
        await connection.gather_candidates()
        assert [(c.host, c.port) for c in connection.local_candidates] == [("127.0.0.1", port)]
        await connection.close()

    port = free_udp_ports(1)
    peer._LoopInPortRange.create_datagram_endpoint = recording
    peer.configure_ports(port, port)
    try:
        run(scenario())
    finally:
        peer.configure_ports(0, 0)
        peer._LoopInPortRange.create_datagram_endpoint = real_bind
    assert binds == [("127.0.0.1", 0)], "aioice asks for any port; the stand-in loop picks one in the range"
    assert aioice.ice.asyncio is asyncio
