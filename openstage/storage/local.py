"""The embedded storage backend: each bucket is a folder under ``<data dir>/buckets``."""

from __future__ import annotations

import os
from pathlib import Path

from openstage.storage.base import BucketError, StorageError


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def bucket_path(self, bucket: str) -> Path:
        return self.root / bucket

    def check_bucket(self, bucket: str) -> None:
        """A folder that exists and is writable, or one that can be made: the nearest existing folder above it is
        writable (with no AWS account, a bucket is just a folder)."""
        path = self.bucket_path(bucket)
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir():
            raise BucketError(f"Bucket {bucket} cannot be created: {existing} is not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise BucketError(f"Access denied to bucket {bucket}: {existing} is not writable")

    def prepare_bucket(self, bucket: str) -> None:
        try:
            self.bucket_path(bucket).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BucketError(f"Bucket {bucket} cannot be created: {error.strerror}") from None

    def object_path(self, bucket: str, key: str) -> Path | None:
        """Where ``key`` lives, or None for a key that would leave the bucket folder (``..``, absolute)."""
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            return None
        return self.bucket_path(bucket).joinpath(*parts)

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        """Written to a temporary name and renamed, so a reader (the HTTP route) never sees half an object."""
        path = self.object_path(bucket, key)
        if path is None:
            raise StorageError(f"invalid object key {key!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            partial.write_bytes(body)
            os.replace(partial, path)
        except OSError as error:
            raise StorageError(f"cannot write s3://{bucket}/{key}: {error}") from error
