"""Join an IVS Real-Time stage from Python: the roster, publishing, subscribing, as the IVS SDKs do it.

Only the public protocol is spoken (docs 1.5, 2.3, 2.4), so this works against openstage and
Amazon IVS alike: the token's claims, read without checking the signature as the web SDK
does, give the events WebSocket and the WHIP URL. The socket carries the roster
(``STAGE_STATE``, publishers only), keepalives and disconnects; each publication and each
subscription is its own WebRTC peer connection set up by one WHIP POST, its answer applied
unmodified.

    participant = Participant(token)
    participant.on_participant_joined(lambda remote: print("joined", remote.id, remote.user_id))
    async with participant:
        await participant.publish(video=PatternVideoTrack(), audio=ToneAudioTrack())
        subscription = await participant.subscribe(remote_id)
        async for frame in subscription.video_frames():
            ...

Callbacks are plain functions called on the event loop, in the order the roster changed;
start a task from one for anything that awaits. Registered before joining, they also hear
about those already publishing; ``roster`` always holds the latest list. There is no automatic
reconnect: a lost socket ends the participation with ``StageLeft("CONNECTION_LOST")``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from openstage.client import whip_http
from openstage.client.ice import restrict_ice

log = logging.getLogger("openstage.participant")

PING_INTERVAL_SECONDS = 15.0  # the web SDK's keepalive (docs 2.3)
CONNECT_TIMEOUT_SECONDS = 12.0  # the web SDK waits this long for the first STAGE_STATE
MEDIA_CONNECT_TIMEOUT_SECONDS = 15.0
EXCHANGE_TIMEOUT_SECONDS = 5.0  # the web SDK's wait for an EXCHANGE_TOKEN reply


class ParticipantError(Exception):
    """Base of the participant SDK's errors (WHIP refusals are ``whip_http.WhipError``)."""


class JoinError(ParticipantError):
    """The stage refused the join: ``code`` is the ``aws:ivs:JOIN_ERROR`` code (TOKEN_EXPIRED,
    TOKEN_INVALID, PARTICIPANT_DISCONNECTED, STAGE_DELETED, …)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message = code, message


class StageLeft(ParticipantError):
    """The participation ended without ``leave()``: ``code`` is the ``aws:ivs:DISCONNECT`` code
    (PARTICIPANT_DISCONNECTED, STAGE_DELETED, TOKEN_REUSED) or CONNECTION_LOST."""

    def __init__(self, code: str, reason: str = "") -> None:
        super().__init__(f"{code}: {reason}" if reason else code)
        self.code, self.reason = code, reason


class ExchangeError(ParticipantError):
    """The stage refused a token exchange; the message is the server's reason."""


@dataclass(frozen=True)
class TokenClaims:
    """What a client needs from a participant token (docs 1.5)."""

    participant_id: str
    stage_arn: str
    topic: str
    events_url: str
    whip_url: str
    user_id: str
    expires_at: float
    can_publish: bool
    can_subscribe: bool
    attributes: dict[str, str]

    @classmethod
    def decode(cls, token: str) -> TokenClaims:
        """The claims, unverified (the server checks the signature); a malformed token is TOKEN_INVALID."""
        parts = token.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("a JWT has three dot-separated parts")
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            capabilities = claims.get("capabilities") or {}
            return cls(
                participant_id=str(claims["jti"]),
                stage_arn=str(claims["resource"]),
                topic=str(claims["topic"]),
                events_url=str(claims["events_url"]).rstrip("/"),
                whip_url=str(claims["whip_url"]).rstrip("/"),
                user_id=str(claims.get("user_id", "")),
                expires_at=float(claims["exp"]),
                can_publish=bool(capabilities.get("allow_publish")),
                can_subscribe=bool(capabilities.get("allow_subscribe")),
                attributes=dict(claims.get("attributes") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
            raise JoinError("TOKEN_INVALID", f"not a participant token: {error}") from None


@dataclass(frozen=True)
class RemoteParticipant:
    """One roster entry of ``STAGE_STATE`` (the stage's publishers)."""

    id: str
    user_id: str
    attributes: dict[str, str]
    is_publishing: bool
    audio_muted: bool
    video_stopped: bool

    @classmethod
    def from_wire(cls, entry: dict[str, Any]) -> RemoteParticipant:
        return cls(
            id=str(entry["id"]),
            user_id=str(entry.get("userId") or ""),
            attributes=dict(entry.get("attributes") or {}),
            is_publishing=bool(entry.get("isPublishing")),
            audio_muted=bool(entry.get("audioMuted")),
            video_stopped=bool(entry.get("videoStopped")),
        )


RosterCallback = Callable[[RemoteParticipant], object]


def _new_peer_connection() -> RTCPeerConnection:
    """No ICE servers, like the web SDK: the server answers with its own candidates (docs 2.4)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def _connected(pc: RTCPeerConnection, timeout: float) -> None:
    """Waits until ICE and DTLS are up; a peer that fails or times out raises ``ConnectionError``."""
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
            raise ConnectionError(f"the media connection did not come up (state {pc.connectionState})")
        await asyncio.sleep(0.02)


def _answer_codecs(answer_sdp: str) -> dict[str, str]:
    """kind -> the codec an answer chose (its first one that is not RTX), e.g. {"video": "video/H264"}."""
    codecs = {}
    for media in SessionDescription.parse(answer_sdp).media:
        chosen = [c.mimeType for c in media.rtp.codecs if c.name.lower() != "rtx"]
        if chosen:
            codecs[media.kind] = chosen[0]
    return codecs


@dataclass(eq=False)
class Publication:
    """This participant's media going to the stage."""

    pc: RTCPeerConnection
    location: str
    codecs: dict[str, str]  # kind -> MIME type the server chose


@dataclass(eq=False)
class Subscription:
    """One remote participant's media, decoded: iterate ``video_frames()`` and ``audio_frames()``.

    Read every kind you asked for: frames that nobody reads queue up in memory.
    """

    remote_id: str
    pc: RTCPeerConnection
    location: str
    codecs: dict[str, str]
    answered_at: float  # time.monotonic() when the answer was applied, to measure time to first frame
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)

    async def video_frames(self) -> AsyncIterator[av.VideoFrame]:
        async for frame in self._frames("video"):
            if isinstance(frame, av.VideoFrame):
                yield frame

    async def audio_frames(self) -> AsyncIterator[av.AudioFrame]:
        async for frame in self._frames("audio"):
            if isinstance(frame, av.AudioFrame):
                yield frame

    async def _frames(self, kind: str) -> AsyncIterator[object]:
        """Ends when the subscription ends (unsubscribed, the publisher left, the participant was kicked)."""
        track = self.tracks.get(kind)
        if track is None:
            return
        while True:
            try:
                yield await track.recv()
            except MediaStreamError:
                return


class Participant:
    """A participant of an IVS Real-Time stage, identified by its token. Use as ``async with``.

    ``ice_addresses`` restricts the local addresses WebRTC offers, process-wide (see
    ``openstage.client.ice``); None keeps aioice's default, every non-loopback address.
    """

    def __init__(self, token: str, *, ice_addresses: Sequence[str] | None = None) -> None:
        self.token = token
        self.claims = TokenClaims.decode(token)
        if ice_addresses is not None:
            restrict_ice(ice_addresses)
        self.roster: dict[str, RemoteParticipant] = {}  # the latest STAGE_STATE's publishers but this one, by id
        self.sequence_number = 0
        self.publication: Publication | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.left: StageLeft | None = None  # why the participation ended, once it has
        self._join_error: JoinError | None = None
        self._callbacks: dict[str, list[RosterCallback]] = {"joined": [], "left": [], "updated": []}
        self._socket: ClientConnection | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._first_state = asyncio.Event()
        self._exchanges: dict[str, asyncio.Future[dict[str, Any]]] = {}  # EXCHANGE_TOKEN replies awaited, by requestId
        self._ended = asyncio.Event()

    @property
    def participant_id(self) -> str:
        return self.claims.participant_id

    # Roster callbacks; each returns its callback, so it can be used as a decorator.
    def on_participant_joined(self, callback: RosterCallback) -> RosterCallback:
        self._callbacks["joined"].append(callback)
        return callback

    def on_participant_left(self, callback: RosterCallback) -> RosterCallback:
        self._callbacks["left"].append(callback)
        return callback

    def on_participant_updated(self, callback: RosterCallback) -> RosterCallback:
        self._callbacks["updated"].append(callback)
        return callback

    async def __aenter__(self) -> Participant:
        await self.join()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.leave()

    async def join(self) -> None:
        """Opens the events WebSocket and waits for the first roster; a refusal raises ``JoinError``.

        Like the web SDK, a server that sends no roster within 12 s is taken as joined anyway.
        """
        if time.time() >= self.claims.expires_at:
            raise JoinError("TOKEN_EXPIRED", "the token expired")  # checked client-side, as the web SDK does
        url = f"{self.claims.events_url}/{self.claims.topic}"
        try:
            self._socket = await connect(url, subprotocols=[Subprotocol(self.token)])
        except (OSError, ConnectionClosed, ValueError) as error:
            raise JoinError("CONNECTION_FAILED", f"cannot open {url}: {error}") from None
        self._tasks = [asyncio.create_task(self._read(self._socket)), asyncio.create_task(self._ping(self._socket))]
        first_state = asyncio.create_task(self._first_state.wait())
        try:
            await asyncio.wait(
                [first_state, self._tasks[0]], timeout=CONNECT_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            first_state.cancel()
        if self.left is not None:  # refused (JOIN_ERROR) or closed before the first roster
            await self._close_socket()
            raise self._join_error or JoinError(self.left.code, self.left.reason)

    async def wait_left(self) -> StageLeft:
        """Returns once the stage ended this participation (kicked, stage deleted, token reused, connection lost)."""
        await self._ended.wait()
        assert self.left is not None
        return self.left

    async def set_state(self, *, audio_muted: bool, video_stopped: bool) -> None:
        """Tells the others this participant muted its audio or stopped its video (``SET_STATE``)."""
        self._check_live()
        assert self._socket is not None
        message = {"type": "SET_STATE", "version": "0", "audioMuted": audio_muted, "videoStopped": video_stopped}
        await self._socket.send(json.dumps(message))

    async def exchange_token(self, new_token: str, timeout: float = EXCHANGE_TIMEOUT_SECONDS) -> None:
        """Swaps in a new token of the same participant, changing its attributes, capabilities or user id
        without leaving (``stage.exchangeToken`` in the web SDK; only self-signed tokens can be exchanged).

        Raises ``ExchangeError`` with the server's reason if it refuses.
        """
        self._check_live()
        assert self._socket is not None
        request_id = str(uuid.uuid4())
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._exchanges[request_id] = reply
        payload = {"oldToken": self.token, "newToken": new_token, "requestId": request_id, "traceId": request_id}
        try:
            await self._socket.send(json.dumps({"type": "aws:ivs:EXCHANGE_TOKEN", "payload": payload}))
            answer = await asyncio.wait_for(reply, timeout)
        finally:
            self._exchanges.pop(request_id, None)
        if "error" in answer:
            raise ExchangeError(str((answer["error"] or {}).get("message", "")))
        self.token, self.claims = new_token, TokenClaims.decode(new_token)

    async def publish(
        self,
        video: MediaStreamTrack | None = None,
        audio: MediaStreamTrack | None = None,
        *,
        video_codec: str | None = None,
    ) -> Publication:
        """Publishes the tracks over WHIP; ``video_codec`` ("H264" or "VP8") restricts the offer to one codec.

        The offer always has a video m-line, as IVS requires even for audio only (docs 2.4).
        Returns once media flows.
        """
        self._check_live()
        if self.publication is not None:
            raise ParticipantError("already publishing; unpublish() first")
        pc = _new_peer_connection()
        location = ""
        try:
            if audio is not None:
                pc.addTransceiver(audio, direction="sendonly")
            transceiver = pc.addTransceiver(video if video is not None else "video", direction="sendonly")
            if video_codec is not None:
                transceiver.setCodecPreferences(_video_capabilities(video_codec))
            await pc.setLocalDescription(await pc.createOffer())
            url = f"{self.claims.whip_url}/publish/{self.participant_id}"
            answer = await whip_http.post_offer(url, self.token, pc.localDescription.sdp)
            location = answer.location
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            await _connected(pc, MEDIA_CONNECT_TIMEOUT_SECONDS)
        except BaseException:
            await self._end(pc, location)
            raise
        self.publication = Publication(pc, location, _answer_codecs(answer.sdp))
        return self.publication

    async def unpublish(self) -> None:
        """Stops publishing: DELETEs the WHIP resource (already gone is fine) and closes the connection."""
        publication, self.publication = self.publication, None
        if publication is not None:
            await self._end(publication.pc, publication.location)

    async def subscribe(self, remote_id: str, *, audio: bool = True, video: bool = True) -> Subscription:
        """Receives a publishing participant's media over WHIP; returns once media flows."""
        self._check_live()
        if remote_id in self.subscriptions:
            return self.subscriptions[remote_id]
        pc = _new_peer_connection()
        tracks: dict[str, MediaStreamTrack] = {}
        pc.on("track", lambda track: tracks.setdefault(track.kind, track))
        location = ""
        try:
            for kind, wanted in (("audio", audio), ("video", video)):
                if wanted:
                    pc.addTransceiver(kind, direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            url = f"{self.claims.whip_url}/subscribe/{remote_id}"
            answer = await whip_http.post_offer(url, self.token, pc.localDescription.sdp)
            location = answer.location
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            subscription = Subscription(remote_id, pc, location, _answer_codecs(answer.sdp), time.monotonic(), tracks)
            await _connected(pc, MEDIA_CONNECT_TIMEOUT_SECONDS)
        except BaseException:
            await self._end(pc, location)
            raise
        self.subscriptions[remote_id] = subscription
        return subscription

    async def unsubscribe(self, remote_id: str) -> None:
        subscription = self.subscriptions.pop(remote_id, None)
        if subscription is not None:
            await self._end(subscription.pc, subscription.location)

    async def leave(self) -> None:
        """Ends every subscription and the publication, then closes the events WebSocket."""
        await asyncio.gather(*(self.unsubscribe(remote_id) for remote_id in list(self.subscriptions)))
        await self.unpublish()
        await self._close_socket()
        if self.left is None:
            self.left = StageLeft("LEFT", "left the stage")
        self._ended.set()

    def _check_live(self) -> None:
        if self.left is not None:
            raise self.left
        if self._socket is None:
            raise ParticipantError("join() first (or use `async with Participant(token)`)")

    async def _end(self, pc: RTCPeerConnection, location: str) -> None:
        """Best effort: the resource may be gone with the server or the stage; the peer is closed regardless."""
        try:
            if location:
                with contextlib.suppress(whip_http.WhipError, OSError):
                    await whip_http.delete(location, self.token)
        finally:
            await pc.close()

    async def _close_socket(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._socket is not None:
            await self._socket.close()

    async def _ping(self, socket: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(PING_INTERVAL_SECONDS)
                await socket.send('{"type":"PING"}')

    async def _read(self, socket: ClientConnection) -> None:
        """Applies server messages until the socket closes; records why it closed in ``left``."""
        ended = StageLeft("CONNECTION_LOST", "the events WebSocket closed")
        try:
            async for raw in socket:
                try:
                    message = json.loads(raw)
                    kind, payload = message.get("type"), message.get("payload") or {}
                except (ValueError, AttributeError):
                    continue  # not a message of the protocol
                if kind in ("STAGE_STATE", "aws:ivs:STAGE_STATE"):
                    self._apply_state(payload)
                elif kind == "aws:ivs:DISCONNECT":
                    ended = StageLeft(str(payload.get("code", "")), str(payload.get("reason", "")))
                elif kind == "aws:ivs:EXCHANGE_TOKEN":
                    reply = self._exchanges.get(str(payload.get("requestId")))
                    if reply is not None and not reply.done():
                        reply.set_result(payload)
                elif kind == "aws:ivs:JOIN_ERROR":
                    self._join_error = JoinError(str(payload.get("code", "")), str(payload.get("message", "")))
                    ended = StageLeft(self._join_error.code, self._join_error.message)
        except ConnectionClosed:
            pass
        if self.left is None:
            self.left = ended
        self._ended.set()

    def _apply_state(self, payload: dict[str, Any]) -> None:
        """Diffs the new roster against the last, as the web SDK does; stale states are dropped (docs 2.3).

        This participant itself is left out: the callbacks and ``roster`` are about the others.
        """
        sequence = int(payload.get("sequenceNumber", 0))
        if sequence <= self.sequence_number:
            return
        self.sequence_number = sequence
        entries = map(RemoteParticipant.from_wire, payload.get("participants", []))
        roster = {entry.id: entry for entry in entries if entry.id != self.participant_id}
        previous, self.roster = self.roster, roster
        for participant_id, entry in roster.items():
            if participant_id not in previous:
                self._fire("joined", entry)
            elif previous[participant_id] != entry:
                self._fire("updated", entry)
        for participant_id, entry in previous.items():
            if participant_id not in roster:
                self._fire("left", entry)
        self._first_state.set()

    def _fire(self, event: str, participant: RemoteParticipant) -> None:
        for callback in self._callbacks[event]:
            try:
                callback(participant)
            except Exception:  # a failing callback must not stop the roster from being read
                log.exception("participant %s callback failed", event)


def _video_capabilities(codec: str) -> list[Any]:
    """aiortc's capabilities for one video codec ("H264", "VP8" or "video/…"), then RTX."""
    mime = codec if "/" in codec else f"video/{codec}"
    capabilities = RTCRtpSender.getCapabilities("video")
    codecs = capabilities.codecs if capabilities else []
    chosen = [c for c in codecs if c.mimeType.lower() == mime.lower()]
    if not chosen:
        raise ValueError(f"unknown video codec {codec!r}: use H264 or VP8")
    return chosen + [c for c in codecs if c.mimeType.lower() == "video/rtx"]
