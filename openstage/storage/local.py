"""The embedded storage backend: each bucket is a folder under ``<data dir>/buckets``."""

from __future__ import annotations

from pathlib import Path


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def bucket_path(self, bucket: str) -> Path:
        return self.root / bucket

    def ensure_bucket(self, bucket: str) -> Path:
        """Creates the bucket folder if needed: with no AWS account, a bucket is just a folder."""
        path = self.bucket_path(bucket)
        path.mkdir(parents=True, exist_ok=True)
        return path
