"""The compositor: decodes every publisher's forwarded frames, lays them out, mixes audio, encodes once.

It runs in its own thread, paced by the clock at the encoder configuration's frame rate, and
each input decodes in a thread of its own, so neither decoding nor encoding ever runs on the
event loop that forwards media. The loop's
side only queues: taps push encoded frames into an :class:`Input`'s queue, the pipeline hands
in the roster (``set_members``). Nothing is encoded until some participant's media has
arrived; the first frame written calls ``on_started`` (the composition becomes ACTIVE).

Every output gets its own copy of each packet (muxers rewrite timestamps in place).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import av

from openstage.composition.canvas import Canvas
from openstage.composition.encoder import Encoder, VideoSettings
from openstage.composition.layout import Member, layout
from openstage.composition.mixer import RATE, AudioBuffer, mix

log = logging.getLogger("openstage.composition")

# MIME type of a forwarded codec (MediaSession.codecs) -> FFmpeg decoder.
DECODERS = {"video/H264": "h264", "video/VP8": "vp8", "audio/opus": "opus"}
MAX_LATE_SECONDS = 1.0  # further behind the clock than this, the compositor skips frames to catch up


class Output(Protocol):
    destination_id: str

    def start(self, encoder: Encoder) -> None:
        """Called once, on the compositor's thread, before the first packet."""

    def write(self, kind: str, packet: av.Packet) -> None:
        """A packet of the one encode ("video" or "audio"); must not block."""

    def picture(self, frame: av.VideoFrame) -> None:
        """Each composed picture, for outputs that make thumbnails; must not block."""

    async def finish(self) -> str | None:
        """Ends the output once the compositor stopped; returns why it failed, if it did."""


class Input:
    """One publisher's encoded media: queued by the loop, decoded as it arrives in the input's own thread.

    Decoders release the interpreter lock, so inputs decode in parallel with each other and with
    the compositor, which only reads the latest picture and takes the buffered audio.
    """

    def __init__(self, participant_id: str, codecs: dict[str, str]) -> None:
        self.participant_id = participant_id
        self.queue: queue.SimpleQueue[tuple[str, av.Packet] | None] = queue.SimpleQueue()
        self._decoders = {kind: av.CodecContext.create(DECODERS[mime], "r") for kind, mime in codecs.items()}
        if "audio" in self._decoders:
            self._decoders["audio"].sample_rate = RATE
            self._decoders["audio"].layout = "stereo"
        self.picture: av.VideoFrame | None = None
        self.audio = AudioBuffer()
        self.heard = False
        self._thread = threading.Thread(target=self._run, name=f"decode {participant_id}", daemon=True)
        self._thread.start()

    def sink(self, kind: str) -> _Sink:
        return _Sink(self, kind)

    def close(self) -> None:
        self.queue.put(None)

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            kind, packet = item
            decoder = self._decoders.get(kind)
            if decoder is None:
                continue
            try:
                frames = decoder.decode(packet)
            except (av.FFmpegError, ValueError):
                continue  # e.g. frames before the first keyframe: the tap asked for one
            for frame in frames:
                if kind == "video":
                    self.picture = frame
                else:
                    self.audio.add(frame)
                    self.heard = True


class _Sink:
    """What ``MediaEngine.tap`` feeds: runs on the event loop, only queues."""

    def __init__(self, target: Input, kind: str) -> None:
        self._target, self._kind = target, kind

    def push(self, packet: av.Packet, keyframe: bool) -> None:
        self._target.queue.put((self._kind, packet))


class Compositor:
    def __init__(
        self,
        layout_config: dict[str, object],
        branches: Sequence[tuple[VideoSettings, Sequence[Output]]],
        on_started: Callable[[], None],
        on_error: Callable[[str], None],
    ) -> None:
        """``branches``: one encode per distinct encoder configuration and the outputs it feeds. The canvas
        is the first one's size and frame rate; another size is scaled from it."""
        self.layout_config = layout_config
        self._branches = [(settings, list(outputs)) for settings, outputs in branches]
        self._on_started, self._on_error = on_started, on_error
        first = self._branches[0][0]
        self.canvas = Canvas(first.width, first.height)
        self.framerate = first.framerate
        self._inputs: dict[str, Input] = {}
        self._encoders: list[Encoder] = []
        self._members: list[Member] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="compositor", daemon=True)
        self.frames = 0  # composed and encoded; the first one makes the composition ACTIVE

    def start(self) -> None:
        self._thread.start()

    def add_input(self, source: Input) -> None:
        with self._lock:
            self._inputs[source.participant_id] = source

    def remove_input(self, participant_id: str) -> None:
        with self._lock:
            source = self._inputs.pop(participant_id, None)
        if source is not None:
            source.close()

    def set_members(self, members: list[Member]) -> None:
        """The participants to lay out, in arrival order; their video sizes are filled in here."""
        self._members = members

    def stop(self) -> None:
        """Stops composing and flushes the encoders into the outputs (blocking: call it off the loop); the
        outputs are finished by their owner afterwards."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            for source in self._inputs.values():
                source.close()

    def release(self) -> None:
        """Closes the encoders; after the outputs finished, since a reconnecting output copies their streams."""
        for encoder in self._encoders:
            encoder.close()
        self._encoders = []

    def _run(self) -> None:
        encoders: list[Encoder] = []
        try:
            period = 1.0 / self.framerate
            origin: float | None = None
            slot = 0
            audio_sent = 0
            while not self._stopping.is_set():
                with self._lock:
                    inputs = list(self._inputs.values())
                if origin is None:
                    if not any(source.picture is not None or source.heard for source in inputs):
                        self._stopping.wait(period / 2)
                        continue
                    encoders = self._encoders = self._open()
                    origin = time.monotonic()
                late = time.monotonic() - (origin + slot * period)
                if late > MAX_LATE_SECONDS:
                    slot += int(late / period)  # skip pictures rather than fall further behind real time
                frame = self._compose(inputs)
                frame.pts = slot
                samples = round((slot + 1) * RATE / self.framerate) - audio_sent
                audio = mix([source.audio for source in inputs], samples, audio_sent)
                audio_sent += samples
                self._encode(encoders, frame, audio)
                self.frames += 1
                if self.frames == 1:
                    self._on_started()
                slot += 1
                self._stopping.wait(max(0.0, origin + slot * period - time.monotonic()))
            self._flush(encoders)
        except Exception as error:  # the pipeline fails as a whole; the supervisor records why
            log.exception("compositor failed")
            self._on_error(f"the compositor failed: {error}")

    def _open(self) -> list[Encoder]:
        encoders = []
        for settings, outputs in self._branches:
            encoder = Encoder(settings)
            for output in outputs:
                output.start(encoder)
            encoders.append(encoder)
        return encoders

    def _compose(self, inputs: list[Input]) -> av.VideoFrame:
        pictures = {source.participant_id: source.picture for source in inputs if source.picture is not None}
        members = [
            Member(
                m.participant_id,
                m.attributes,
                (pictures[m.participant_id].width, pictures[m.participant_id].height)
                if m.participant_id in pictures
                else None,
                m.video_stopped,
            )
            for m in self._members
        ]
        tiles = layout(members, self.layout_config, self.canvas.width, self.canvas.height)
        return self.canvas.paint(tiles, pictures)

    def _encode(self, encoders: list[Encoder], frame: av.VideoFrame, audio: av.AudioFrame) -> None:
        for encoder, (_, outputs) in zip(encoders, self._branches, strict=True):
            for output in outputs:
                output.picture(frame)
            packets = [("video", p) for p in encoder.encode_video(frame)]
            packets += [("audio", p) for p in encoder.encode_audio(audio)]
            _deliver(packets, outputs)

    def _flush(self, encoders: list[Encoder]) -> None:
        if not encoders:
            return  # nothing was ever encoded
        for encoder, (_, outputs) in zip(encoders, self._branches, strict=True):
            packets = [("video", p) for p in encoder.encode_video(None)]
            packets += [("audio", p) for p in encoder.encode_audio(None)]
            _deliver(packets, outputs)


def _deliver(packets: list[tuple[str, av.Packet]], outputs: list[Output]) -> None:
    for kind, packet in packets:
        for output in outputs:
            output.write(kind, _copy(packet))


def _copy(packet: av.Packet) -> av.Packet:
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    copy.is_keyframe = packet.is_keyframe
    return copy
