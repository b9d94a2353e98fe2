"""Object storage: a local folder by default, any S3-compatible endpoint when configured."""

from __future__ import annotations

from openstage.config import Settings
from openstage.storage.base import JPEG, JSON, MP4, PLAYLIST, BucketError, Storage, StorageError
from openstage.storage.local import LocalStorage
from openstage.storage.s3 import S3Storage

__all__ = [
    "JPEG",
    "JSON",
    "MP4",
    "PLAYLIST",
    "BucketError",
    "LocalStorage",
    "Storage",
    "StorageError",
    "create_storage",
]


def create_storage(settings: Settings) -> Storage:
    """S3 when an endpoint is configured, otherwise folders under ``<data dir>/buckets``."""
    if not settings.s3_endpoint:
        return LocalStorage(settings.data_dir / "buckets")
    return S3Storage(
        settings.s3_endpoint,
        settings.s3_region or settings.region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key,
    )
