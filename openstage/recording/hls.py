"""The HLS (fMP4) and thumbnail writer that individual recording and composition share.

Usage, from the event loop::

    writer = HlsWriter(storage, "my-bucket", "stageId/st-.../participantId/2024-01-01T12-00-55Z",
                       segment_seconds=6, video=True, audio=True,
                       thumbnails=ThumbnailSettings(interval_seconds=10, sequential=True, latest=False))
    writer.add_video_packet(packet, keyframe)  # H.264 Annex-B access units, passed through untouched
    writer.add_video_frame(frame)              # or decoded pictures: the writer encodes them (libx264)
    writer.add_audio_frame(frame)              # decoded audio, any format: the writer encodes AAC
    writer.add_audio_packet(packet)            # or AAC-LC packets, 48 kHz stereo, as from an "aac" encoder
    writer.add_thumbnail_frame(frame)          # any decoded picture; kept once per interval
    await writer.pause()                       # the source went away: everything so far is uploaded
    ...                                        # adding again continues after an EXT-X-DISCONTINUITY
    summary = await writer.finish()            # the playlist becomes VOD; summary.duration_ms, .error

What ends up under the prefix (docs 6): ``media/hls/multivariant.m3u8``, ``media/hls/<rendition>/
playlist.m3u8`` (EVENT while writing, VOD once finished), ``init.mp4`` (``init-<n>.mp4`` after the
n-th pause) and segments ``1.mp4, 2.mp4 …``; ``media/thumbnails/<rendition>/1.jpg …`` (sequential)
and ``media/latest_thumbnail/<rendition>/thumb.jpg`` (latest). Each segment is uploaded once
closed, the playlist after it, so a playlist never names a missing segment.

Timestamps: each packet or frame needs ``pts`` and ``time_base``; each input (video, audio) may
start anywhere, e.g. at a random RTP timestamp (unwrapped by the caller). The writer places the
first one of each input at the moment it was added, relative to the first anything of the part,
which lines up sources that start at different times; a jump of an input's timestamps (more
than 5 s ahead or 1 s back) is taken as a new source and placed the same way. Feeding faster
than real time is fine if the inputs are interleaved as they happened: after its first frame
an input is placed by its timestamps. Segments
are cut at the first video keyframe after ``segment_seconds``: a passthrough source should send
one about that often. H.264 packets must have no B-frames (decode order = presentation order,
as WebRTC sends and libx264 makes with ``tune=zerolatency``). Audio waits for the first video
keyframe (held, up to 5 s); with none by then the part is written audio only.

The ``add_*`` methods only queue (call them from one thread, the loop or a worker of yours):
muxing, encoding and uploads run in the writer's own thread, so nothing blocks the loop. A
storage failure (after the backend's retries) stops the writer; the error is in ``summary.error``.
A writer more than ``MAX_QUEUED`` items behind drops new media (passed-through video until the
next keyframe) rather than grow without bound; ``dropped`` counts it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import logging
import math
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from openstage.storage.base import JPEG, MP4, PLAYLIST, Storage, StorageError

log = logging.getLogger("openstage.recording")

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
# Audio that arrives before the first video keyframe is held this long; then the part goes on without video.
AUDIO_HOLD_SECONDS = 5.0
# Items waiting for the writer thread beyond which new media is dropped: about 12 s of 30 fps video with
# 50 fps audio. It bounds the memory an overloaded machine's recordings take.
MAX_QUEUED = 1000
# Steps between an input's consecutive timestamps beyond these mean its source changed, not time passing.
MAX_STEP_SECONDS = 5.0
MAX_BACK_STEP_SECONDS = 1.0
# An audio-only muxer is asked this often whether it finished a segment.
AUDIO_ONLY_CHECK_SECONDS = 0.5
# An audio timeline further than this from where its frames say they belong is re-anchored (a gap).
AUDIO_RESYNC_SECONDS = 0.1


@dataclass(frozen=True)
class ThumbnailSettings:
    interval_seconds: float
    sequential: bool = True  # media/thumbnails/<rendition>/<n>.jpg
    latest: bool = False  # media/latest_thumbnail/<rendition>/thumb.jpg, overwritten


@dataclass
class Summary:
    """What ``finish`` reports: the HLS duration, segments and sequential thumbnails written, and the error that
    stopped the writer early, if any."""

    duration_ms: int
    segments: int
    thumbnails: int
    error: str | None


@dataclass
class _Segment:
    part: int
    name: str
    seconds: float


@dataclass
class _Part:
    """One muxer run: from the first media after start or a pause, to the next pause or the finish."""

    index: int
    folder: Path
    container: Any = None
    video: Any = None
    audio: Any = None
    seen: int = 0  # segments of the local playlist already uploaded
    next_check: float = 0.0  # audio only: when to look for a finished segment next (no keyframes to cue it)
    held_audio: list[av.Packet] = field(default_factory=list)

    @property
    def init_name(self) -> str:
        return "init.mp4" if self.index == 0 else f"init-{self.index}.mp4"


class _Clock:
    """Maps one input's timestamps to seconds on the part's timeline (see the module docstring)."""

    def __init__(self) -> None:
        self.first = self.last = 0.0
        self.offset = 0.0
        self.started = False

    def seconds(self, pts: int, time_base: fractions.Fraction, arrival: float) -> float:
        at = float(pts * time_base)
        if not self.started or not -MAX_BACK_STEP_SECONDS <= at - self.last <= MAX_STEP_SECONDS:
            # The first frame, or the source's timestamps jumped (another publication took its place):
            # go on from when this frame arrived, never before what came already.
            previous = self.offset + self.last - self.first if self.started else 0.0
            self.first, self.offset, self.started = at, max(arrival, previous), True
        self.last = at
        return self.offset + at - self.first


class HlsWriter:
    def __init__(
        self,
        storage: Storage,
        bucket: str,
        prefix: str,
        segment_seconds: float = 6,
        video: bool = True,
        audio: bool = True,
        thumbnails: ThumbnailSettings | None = None,
        rendition: str = "high",
    ) -> None:
        """``video``/``audio`` choose the HLS tracks (both False: thumbnails only, no HLS at all)."""
        self.storage, self.bucket, self.prefix = storage, bucket, prefix.rstrip("/")
        self.segment_seconds = segment_seconds
        self.video, self.audio = video, audio
        self.thumbnails = thumbnails
        self.rendition = rendition
        self.error: str | None = None
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.dropped = 0  # media items shed because the writer fell behind
        self._skip_to_keyframe = False
        self._segments: list[_Segment] = []
        self._thumbnail_count = 0
        self._next_thumbnail_at = 0.0  # monotonic, checked where frames are added, so unwanted ones never queue
        self._resolution: tuple[int, int] | None = None
        self._bandwidth = 0
        # Per part, reset by _current_part: the timeline origin, clocks and encoders.
        self._part: _Part | None = None
        self._parts = 0
        self._origin: float | None = None
        # A part's timeline starts where the previous one ended: players see one continuous recording.
        self._part_offset = 0.0
        self._clocks: dict[str, _Clock] = {}
        self._video_encoder: Any = None
        self._last_forced_key = -math.inf
        self._audio_resampler: Any = None
        self._audio_encoder: Any = None
        self._audio_next: int | None = None
        self._multivariant_written = False
        self._last_dts: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name=f"hls {prefix}", daemon=True)
        self._thread.start()

    # --- the loop's side -----------------------------------------------------------------------------

    @property
    def writes_hls(self) -> bool:
        return self.video or self.audio

    def add_video_packet(self, packet: av.Packet, keyframe: bool) -> None:
        if not self.video:
            return
        if self._behind():
            self._skip_to_keyframe = True
        elif keyframe or not self._skip_to_keyframe:  # after a drop, the next keyframe resumes the stream
            self._skip_to_keyframe = False
            self._queue.put(("video_packet", packet, keyframe, time.monotonic()))
            return
        self.dropped += 1

    def add_video_frame(self, frame: av.VideoFrame) -> None:
        if self.video:
            self._queue_or_drop(("video_frame", frame, time.monotonic()))

    def add_audio_frame(self, frame: av.AudioFrame) -> None:
        if self.audio:
            self._queue_or_drop(("audio_frame", frame, time.monotonic()))

    def add_audio_packet(self, packet: av.Packet) -> None:
        if self.audio:
            self._queue_or_drop(("audio_packet", packet, time.monotonic()))

    def wants_thumbnail(self) -> bool:
        """Whether a thumbnail is due: a caller that must decode to make one can skip the work otherwise."""
        return self.thumbnails is not None and time.monotonic() >= self._next_thumbnail_at

    def add_thumbnail_frame(self, frame: av.VideoFrame) -> None:
        if not self.wants_thumbnail():
            return
        assert self.thumbnails is not None
        self._next_thumbnail_at = time.monotonic() + self.thumbnails.interval_seconds
        self._queue.put(("thumbnail", frame))

    async def pause(self) -> None:
        """Closes the current part and uploads all of it; the playlist stays EVENT."""
        await self._call("pause")

    async def finish(self) -> Summary:
        """Closes the last part and rewrites the playlist as VOD; the writer is done afterwards."""
        await self._call("finish")
        self._thread.join()
        return Summary(self.duration_ms, len(self._segments), self._thumbnail_count, self.error)

    @property
    def duration_ms(self) -> int:
        return round(sum(segment.seconds for segment in self._segments) * 1000)

    def _behind(self) -> bool:
        """The writer thread cannot keep up (an overloaded machine): new media is shed, not queued without end."""
        behind = self._queue.qsize() >= MAX_QUEUED
        if behind and not self.dropped:
            log.warning("recording to %s/%s is falling behind: dropping media", self.bucket, self.prefix)
        return behind

    def _queue_or_drop(self, item: tuple[Any, ...]) -> None:
        if self._behind():
            self.dropped += 1
        else:
            self._queue.put(item)

    async def _call(self, command: str) -> None:
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((command, done))
        await asyncio.wrap_future(done)

    # --- the writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            command, *args = self._queue.get()
            if command in ("pause", "finish"):
                if self.error is None:
                    self._guarded(self._close_part)
                    if command == "finish" and self.writes_hls and self._segments:
                        self._guarded(lambda: self._upload_playlists(final=True))
                args[0].set_result(None)
                if command == "finish":
                    return
            elif self.error is None:
                self._guarded(lambda c=command, a=args: self._dispatch(c, a))

    def _dispatch(self, command: str, args: list[Any]) -> None:
        if command != "thumbnail":
            self._current_part()  # first: a new part resets the clocks and encoders the handler uses
        getattr(self, f"_on_{command}")(*args)

    def _guarded(self, work: Any) -> None:
        """Any failure stops the writer with ``error`` set: the thread must live on to answer pause and
        finish, or their callers would wait forever."""
        try:
            work()
        except StorageError as error:
            self.error = str(error)
            log.error("recording to %s/%s stopped: %s", self.bucket, self.prefix, error)
            self._discard_part()
        except Exception as error:
            self.error = f"media could not be written: {error}"
            log.exception("recording to %s/%s stopped", self.bucket, self.prefix)
            self._discard_part()

    def _on_video_packet(self, packet: av.Packet, keyframe: bool, arrival: float) -> None:
        part = self._current_part()
        if part.container is None:
            if not keyframe:
                return
            self._open_container(part, _keyframe_size(packet))
        seconds = self._seconds("video", packet.pts, packet.time_base, arrival)
        self._mux(part, part.video, bytes(packet), seconds, VIDEO_TIME_BASE, keyframe)
        if keyframe:
            self._upload_new_segments(part)

    def _on_video_frame(self, frame: av.VideoFrame, arrival: float) -> None:
        seconds = self._seconds("video", frame.pts, frame.time_base, arrival)
        if self._video_encoder is None:
            self._video_encoder = _h264_encoder(frame.width, frame.height, self.segment_seconds)
        if seconds - self._last_forced_key >= self.segment_seconds:
            self._last_forced_key = seconds
            frame.pict_type = av.video.frame.PictureType.I
        else:
            frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts, frame.time_base = round(seconds / VIDEO_TIME_BASE), VIDEO_TIME_BASE
        for packet in self._video_encoder.encode(frame.reformat(format="yuv420p")):
            self._on_encoded_video(packet)

    def _on_encoded_video(self, packet: av.Packet) -> None:
        part = self._current_part()
        if part.container is None:
            if not packet.is_keyframe:
                return
            self._open_container(part, (self._video_encoder.width, self._video_encoder.height))
        seconds = float(packet.pts * VIDEO_TIME_BASE)
        self._mux(part, part.video, bytes(packet), seconds, VIDEO_TIME_BASE, packet.is_keyframe)
        if packet.is_keyframe:
            self._upload_new_segments(part)

    def _on_audio_frame(self, frame: av.AudioFrame, arrival: float) -> None:
        seconds = self._seconds("audio", frame.pts, frame.time_base, arrival)
        if self._audio_resampler is None:
            self._audio_resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
            self._audio_encoder = _aac_encoder()
        wanted = round(seconds * AUDIO_RATE)
        if self._audio_next is None or abs(self._audio_next - wanted) > AUDIO_RESYNC_SECONDS * AUDIO_RATE:
            self._audio_next = wanted
        frame.pts = None
        for resampled in self._audio_resampler.resample(frame):
            resampled.pts, resampled.time_base = self._audio_next, AUDIO_TIME_BASE
            self._audio_next += resampled.samples
            for packet in self._audio_encoder.encode(resampled):
                self._on_aac(bytes(packet), float(packet.pts * AUDIO_TIME_BASE))

    def _on_audio_packet(self, packet: av.Packet, arrival: float) -> None:
        seconds = self._seconds("audio", packet.pts, packet.time_base, arrival)
        self._on_aac(bytes(packet), seconds)

    def _on_aac(self, data: bytes, seconds: float) -> None:
        part = self._current_part()
        if part.container is None:
            part.held_audio.append(_packet(data, seconds, AUDIO_TIME_BASE))
            if self.video:  # the muxer waits for the first video keyframe, but not for ever
                if part.held_audio[-1].pts - part.held_audio[0].pts < AUDIO_HOLD_SECONDS * AUDIO_RATE:
                    return
                log.info("recording to %s/%s: no video keyframe, audio only", self.bucket, self.prefix)
            self._open_container(part, None)  # muxes what was held
            return
        self._mux(part, part.audio, data, seconds, AUDIO_TIME_BASE, True)
        if part.video is None and seconds >= part.next_check:
            part.next_check = seconds + AUDIO_ONLY_CHECK_SECONDS
            self._upload_new_segments(part)

    def _on_thumbnail(self, frame: av.VideoFrame) -> None:
        assert self.thumbnails is not None
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height = frame.width, frame.height
        encoder.pix_fmt = "yuvj420p"
        encoder.time_base = fractions.Fraction(1, 30)
        encoder.options = {"qmin": "2", "qmax": "5"}  # a good JPEG whatever the rate control would pick
        picture = frame.reformat(format="yuvj420p")
        picture.pts = 0
        jpeg = b"".join(bytes(packet) for packet in [*encoder.encode(picture), *encoder.encode(None)])
        if self.thumbnails.sequential:
            self._thumbnail_count += 1
            self._put(f"media/thumbnails/{self.rendition}/{self._thumbnail_count}.jpg", jpeg, JPEG)
        if self.thumbnails.latest:
            self._put(f"media/latest_thumbnail/{self.rendition}/thumb.jpg", jpeg, JPEG)

    # --- parts, muxing and uploads -------------------------------------------------------------------

    def _current_part(self) -> _Part:
        if self._part is None:
            self._part = _Part(self._parts, Path(tempfile.mkdtemp(prefix="openstage-hls-")))
            self._parts += 1
            self._origin, self._clocks, self._last_dts = None, {}, {}
            self._part_offset = sum(segment.seconds for segment in self._segments)
            self._video_encoder, self._last_forced_key = None, -math.inf
            self._audio_resampler, self._audio_encoder, self._audio_next = None, None, None
        return self._part

    def _seconds(self, kind: str, pts: int, time_base: fractions.Fraction, arrival: float) -> float:
        """Where a packet or frame of ``kind`` lands on the part's timeline, in seconds."""
        if self._origin is None:
            self._origin = arrival
        clock = self._clocks.setdefault(kind, _Clock())
        return self._part_offset + clock.seconds(pts, time_base, arrival - self._origin)

    def _open_container(self, part: _Part, size: tuple[int, int] | None) -> None:
        options = {
            "hls_time": str(self.segment_seconds),
            "hls_segment_type": "fmp4",
            "hls_segment_filename": str(part.folder / "%d.mp4"),
            "hls_fmp4_init_filename": part.init_name,
            "hls_list_size": "0",
            "hls_playlist_type": "event",
            # Fragments carry their real decode times (tfdt), not times counted from this muxer's start,
            # so the parts after a pause continue the timeline. hlsenc's own flags, plus frag_discont.
            "hls_segment_options": "movflags=+frag_custom+dash+delay_moov+frag_discont",
        }
        container = av.open(str(part.folder / "local.m3u8"), "w", format="hls", options=options)
        if self.video and size is not None:
            part.video = container.add_stream("h264", rate=30)
            part.video.width, part.video.height = size
            part.video.time_base = VIDEO_TIME_BASE
            self._resolution = size
        if self.audio:
            part.audio = container.add_stream("aac", rate=AUDIO_RATE)
            part.audio.layout = "stereo"
        part.container = container
        held, part.held_audio = part.held_audio, []
        for packet in held:
            self._mux(part, part.audio, bytes(packet), float(packet.pts * AUDIO_TIME_BASE), AUDIO_TIME_BASE, True)

    def _mux(
        self, part: _Part, stream: Any, data: bytes, seconds: float, time_base: fractions.Fraction, key: bool
    ) -> None:
        if stream is None:
            return
        kind = stream.type
        pts = max(round(seconds / time_base), self._last_dts.get(kind, -1) + 1)
        self._last_dts[kind] = pts
        packet = _packet(data, pts * time_base, time_base)
        packet.is_keyframe = key
        packet.stream = stream
        part.container.mux(packet)

    def _upload_new_segments(self, part: _Part) -> None:
        """Uploads the segments the muxer finished (those its own playlist lists), then our playlist."""
        listing = part.folder / "local.m3u8"
        if not listing.exists():
            return
        entries = _playlist_entries(listing.read_text())
        fresh = entries[part.seen :]
        if not fresh:
            return
        if part.seen == 0:
            self._put(self._hls(part.init_name), (part.folder / part.init_name).read_bytes(), MP4)
        for local_name, seconds in fresh:
            # Numbered by the writer, not the muxer: a new part's muxer starts counting again.
            name = f"{len(self._segments) + 1}.mp4"
            body = (part.folder / local_name).read_bytes()
            self._put(self._hls(name), body, MP4)
            self._bandwidth = max(self._bandwidth, round(len(body) * 8 / max(seconds, 0.1)))
            self._segments.append(_Segment(part.index, name, seconds))
            (part.folder / local_name).unlink()
        part.seen = len(entries)
        self._upload_playlists(final=False)

    def _close_part(self) -> None:
        """Flushes the encoders into the part (so it stays current until the end), closes its muxer, uploads."""
        part = self._part
        if part is None:
            return
        try:
            if self._video_encoder is not None:
                for packet in self._video_encoder.encode(None):
                    self._on_encoded_video(packet)
            if self._audio_encoder is not None:
                for packet in self._audio_encoder.encode(None):
                    self._on_aac(bytes(packet), float(packet.pts * AUDIO_TIME_BASE))
            if part.container is None and part.held_audio:  # video never came: what there is, audio only
                self._open_container(part, None)
            if part.container is not None:
                part.container.close()
                part.container = None
                self._upload_new_segments(part)
        finally:
            self._part = None
            shutil.rmtree(part.folder, ignore_errors=True)

    def _discard_part(self) -> None:
        part, self._part = self._part, None
        if part is not None:
            if part.container is not None:
                try:
                    part.container.close()
                except (av.FFmpegError, OSError):
                    pass
            shutil.rmtree(part.folder, ignore_errors=True)

    def _upload_playlists(self, final: bool) -> None:
        self._put(self._hls("playlist.m3u8"), self._media_playlist(final).encode(), PLAYLIST)
        if final or not self._multivariant_written:
            self._put("media/hls/multivariant.m3u8", self._multivariant().encode(), PLAYLIST)
            self._multivariant_written = True

    def _media_playlist(self, final: bool) -> str:
        target = max((math.ceil(segment.seconds) for segment in self._segments), default=int(self.segment_seconds))
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{target}",
            "#EXT-X-MEDIA-SEQUENCE:1",
            f"#EXT-X-PLAYLIST-TYPE:{'VOD' if final else 'EVENT'}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        part = -1
        for segment in self._segments:
            if segment.part != part:
                if part != -1:
                    lines.append("#EXT-X-DISCONTINUITY")
                part = segment.part
                init = "init.mp4" if part == 0 else f"init-{part}.mp4"
                lines.append(f'#EXT-X-MAP:URI="{init}"')
            lines += [f"#EXTINF:{segment.seconds:.6f},", segment.name]
        if final:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def _multivariant(self) -> str:
        attributes = [f"BANDWIDTH={max(self._bandwidth, 1)}"]
        if self.video and self._resolution is not None:
            attributes.append(f"RESOLUTION={self._resolution[0]}x{self._resolution[1]}")
        return (
            "\n".join(
                [
                    "#EXTM3U",
                    "#EXT-X-VERSION:7",
                    "#EXT-X-INDEPENDENT-SEGMENTS",
                    f"#EXT-X-STREAM-INF:{','.join(attributes)}",
                    f"{self.rendition}/playlist.m3u8",
                ]
            )
            + "\n"
        )

    def _hls(self, name: str) -> str:
        return f"media/hls/{self.rendition}/{name}"

    def _put(self, relative_key: str, body: bytes, content_type: str) -> None:
        self.storage.put(self.bucket, f"{self.prefix}/{relative_key}", body, content_type)


def _playlist_entries(text: str) -> list[tuple[str, float]]:
    """(segment file, seconds) in the order a media playlist lists them."""
    entries: list[tuple[str, float]] = []
    seconds: float | None = None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            seconds = float(line[len("#EXTINF:") :].split(",")[0])
        elif line and not line.startswith("#") and seconds is not None:
            entries.append((line.strip(), seconds))
            seconds = None
    return entries


def _packet(data: bytes, at: fractions.Fraction | float, time_base: fractions.Fraction) -> av.Packet:
    packet = av.Packet(data)
    packet.pts = packet.dts = round(at / time_base)
    packet.time_base = time_base
    return packet


def _keyframe_size(packet: av.Packet) -> tuple[int, int]:
    """The picture size of an H.264 keyframe, by decoding it: the muxer needs it before the first packet."""
    decoder = av.CodecContext.create("h264", "r")
    for frame in decoder.decode(av.Packet(bytes(packet))):
        return frame.width, frame.height
    for frame in decoder.decode(None):
        return frame.width, frame.height
    raise ValueError("the first H.264 keyframe does not decode")


def _h264_encoder(width: int, height: int, segment_seconds: float) -> Any:
    """Keyframes where the writer forces them (a segment's start), not at scene cuts: segments keep their length."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = width - width % 2, height - height % 2
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = VIDEO_TIME_BASE
    keyint = str(round(segment_seconds * 60))  # longer than a segment at up to 60 fps
    encoder.options = {"preset": "veryfast", "tune": "zerolatency", "crf": "23", "sc_threshold": "0", "g": keyint}
    return encoder


def _aac_encoder() -> Any:
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate = AUDIO_RATE
    encoder.layout = "stereo"
    encoder.format = "fltp"
    encoder.time_base = AUDIO_TIME_BASE
    encoder.bit_rate = 128000
    return encoder
