"""Local buckets served read-only over HTTP, so a browser can play a recording straight from openstage.

``GET /buckets/{bucket}/{key}``, guarded like the event stream (SigV4 or a console session; anyone in
development mode). Only what the writers put there is served: no listings, no ``..``, no hidden files.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openstage.storage.base import JPEG, JSON, MP4, PLAYLIST
from openstage.storage.local import LocalStorage

CONTENT_TYPES = {".m3u8": PLAYLIST, ".mp4": MP4, ".jpg": JPEG, ".json": JSON}


class BucketFiles:
    def __init__(self, storage: LocalStorage, authorize: Callable[[Request], Response | None]) -> None:
        self.storage = storage
        self.authorize = authorize

    def routes(self) -> list[BaseRoute]:
        return [Route("/buckets/{bucket}/{key:path}", self.endpoint, methods=["GET", "HEAD"])]

    async def endpoint(self, request: Request) -> Response:
        refused = self.authorize(request)
        if refused is not None:
            return refused
        bucket, key = request.path_params["bucket"], request.path_params["key"]
        path = None if bucket.startswith(".") else self.storage.object_path(bucket, key)
        if path is None or any(part.startswith(".") for part in key.split("/")) or not path.is_file():
            return JSONResponse({"code": "NoSuchKey", "message": f"no object {key!r} in bucket {bucket!r}"}, 404)
        suffix = path.suffix.lower()
        return FileResponse(path, media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"))
