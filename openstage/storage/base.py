"""What recording and composition write through, whichever backend holds the bucket.

Both backends are synchronous on purpose: writers run in their own threads (recording/hls.py),
and the control plane calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from typing import Protocol

# The content types IVS sets on what it writes (docs 5.4, 6).
PLAYLIST = "application/vnd.apple.mpegurl"
MP4 = "video/mp4"
JPEG = "image/jpeg"
JSON = "application/json"


class BucketError(Exception):
    """The bucket cannot be used: missing, or not writable. ``message`` says which, in AWS's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BucketMissing(BucketError):
    """The bucket does not exist."""


class StorageError(Exception):
    """An object could not be written, after every retry."""


class Storage(Protocol):
    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """Writes the whole object (replacing it), retrying transient failures; raises StorageError."""
        ...

    def check_bucket(self, bucket: str) -> None:
        """Raises BucketError unless objects can be written to ``bucket``; changes nothing."""
        ...

    def prepare_bucket(self, bucket: str) -> None:
        """Makes a checked bucket ready for writes (where AWS grants itself access); raises BucketError."""
        ...
