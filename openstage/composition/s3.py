"""An s3 destination: the composition recorded as HLS with thumbnails, in the layout of docs 5.4.

Under ``<stageId>/<compositionId>/<destinationId>/composite``: ``media/hls/multivariant.m3u8`` and
the rendition ``<height>p<fps>-<id>/`` (written by the shared HLS writer from the composition's
own H.264/AAC packets), thumbnails of the composed picture under ``media/thumbnails/<w>x<h>/``
and/or ``media/latest_thumbnail/<w>x<h>/thumb.jpg`` (a second, thumbnails-only writer, since
IVS names those folders by size), and ``events/recording-started.json`` then
``recording-ended.json`` or ``recording-failed.json``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

import av

from openstage import ids
from openstage.composition.encoder import Encoder, VideoSettings
from openstage.recording.hls import HlsWriter, ThumbnailSettings
from openstage.recording.layout import ENDED, FAILED, STARTED, iso_millis
from openstage.storage.base import JSON, Storage, StorageError
from openstage.store.models import utcnow


def thumbnail_settings(configurations: list[dict[str, Any]] | None) -> ThumbnailSettings | None:
    """CompositionThumbnailConfiguration (docs 5.4): none configured, none written."""
    if not configurations:
        return None
    config = configurations[0]
    storage = config.get("storage") or ["SEQUENTIAL"]
    return ThumbnailSettings(
        interval_seconds=config.get("targetIntervalSeconds", 60),
        sequential="SEQUENTIAL" in storage,
        latest="LATEST" in storage,
    )


class S3Output:
    def __init__(
        self,
        destination_id: str,
        storage: Storage,
        bucket: str,
        prefix: str,
        stage_arn: str,
        video: VideoSettings,
        segment_seconds: float,
        thumbnails: ThumbnailSettings | None,
    ) -> None:
        self.destination_id = destination_id
        self.storage, self.bucket, self.prefix = storage, bucket, prefix
        self.stage_arn = stage_arn
        self.rendition = f"{video.rendition}-{ids.random_id()}"
        self.size = f"{video.width}x{video.height}"
        self.video = video
        self.segment_seconds = segment_seconds
        self.thumbnails = thumbnails
        self.started_at: datetime | None = None
        self.error: str | None = None
        self._hls: HlsWriter | None = None
        self._pictures: HlsWriter | None = None
        self._announce: threading.Thread | None = None

    def start(self, encoder: Encoder) -> None:
        self.started_at = utcnow()
        self._hls = HlsWriter(
            self.storage, self.bucket, self.prefix, self.segment_seconds, thumbnails=None, rendition=self.rendition
        )
        if self.thumbnails is not None:
            self._pictures = HlsWriter(
                self.storage,
                self.bucket,
                self.prefix,
                video=False,
                audio=False,
                thumbnails=self.thumbnails,
                rendition=self.size,
            )
        document = self._document("RECORDING_STARTED", None)
        self._announce = threading.Thread(target=self._put_event, args=(STARTED, document), daemon=True)
        self._announce.start()

    def write(self, kind: str, packet: av.Packet) -> None:
        if self._hls is None:
            return
        if kind == "video":
            self._hls.add_video_packet(packet, packet.is_keyframe)
        elif packet.dts is None or packet.dts >= 0:  # not the AAC encoder's priming packet
            self._hls.add_audio_packet(packet)

    def picture(self, frame: av.VideoFrame) -> None:
        if self._pictures is not None and self._pictures.wants_thumbnail():
            self._pictures.add_thumbnail_frame(frame)

    async def finish(self) -> str | None:
        """Uploads the rest, turns the playlist VOD and writes the closing JSON; returns the failure, if any."""
        if self._hls is None:
            return None
        summary = await self._hls.finish()
        if self._pictures is not None:
            await self._pictures.finish()
        if self._announce is not None:
            await asyncio.to_thread(self._announce.join)
        failure = self.error or summary.error
        status = "RECORDING_ENDED_WITH_FAILURE" if failure else "RECORDING_ENDED"
        document = self._document(status, summary.duration_ms, failure or "")
        await asyncio.to_thread(self._put_event, FAILED if failure else ENDED, document)
        return failure or self.error

    def _document(self, status: str, duration_ms: int | None, message: str = "") -> dict[str, Any]:
        document: dict[str, Any] = {"version": "v1", "stage_arn": self.stage_arn}
        if self.started_at is not None:
            document["recording_started_at"] = iso_millis(self.started_at)
        if duration_ms is not None:
            document["recording_ended_at"] = iso_millis(utcnow())
        document["recording_status"] = status
        document["recording_status_message"] = message
        document["media"] = self._media(duration_ms)
        return document

    def _media(self, duration_ms: int | None) -> dict[str, Any]:
        width, height = self.video.width, self.video.height
        rendition = {"path": self.rendition, "playlist": "playlist.m3u8"}
        hls: dict[str, Any] = {"path": "media/hls", "playlist": "multivariant.m3u8"}
        if duration_ms is not None:
            hls["duration_ms"] = duration_ms
        hls["renditions"] = [{**rendition, "resolution_width": width, "resolution_height": height}]
        media: dict[str, Any] = {"hls": hls}
        size = [{"path": self.size, "resolution_width": width, "resolution_height": height}]
        if self.thumbnails is not None and self.thumbnails.sequential:
            media["thumbnails"] = {"path": "media/thumbnails", "resolutions": size}
        if self.thumbnails is not None and self.thumbnails.latest:
            media["latest_thumbnail"] = {"path": "media/latest_thumbnail", "resolutions": size}
        return media

    def _put_event(self, name: str, document: dict[str, Any]) -> None:
        try:
            self.storage.put(self.bucket, f"{self.prefix}/events/{name}", json.dumps(document).encode(), JSON)
        except StorageError as error:
            self.error = str(error)
