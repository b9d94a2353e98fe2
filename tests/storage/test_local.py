"""LocalStorage: folder buckets, whole-object writes, keys that cannot leave the bucket."""

from __future__ import annotations

import pytest

from openstage.storage.base import JPEG, BucketError, StorageError
from openstage.storage.local import LocalStorage


def test_put_writes_the_object_under_the_bucket_folder(tmp_path):
    storage = LocalStorage(tmp_path)
    storage.put("recordings", "stage/st-1/p/media/thumbnails/high/1.jpg", b"\xff\xd8jpeg", JPEG)
    path = tmp_path / "recordings/stage/st-1/p/media/thumbnails/high/1.jpg"
    assert path.read_bytes() == b"\xff\xd8jpeg"
    storage.put("recordings", "stage/st-1/p/media/thumbnails/high/1.jpg", b"replaced", JPEG)
    assert path.read_bytes() == b"replaced"
    assert [p.name for p in path.parent.iterdir()] == ["1.jpg"]  # no partial file left behind


@pytest.mark.parametrize("key", ["../escape.jpg", "a/../../escape.jpg", "/etc/passwd", "a/./b", ""])
def test_keys_that_would_leave_the_bucket_are_refused(tmp_path, key):
    storage = LocalStorage(tmp_path / "buckets")
    assert storage.object_path("recordings", key) is None
    with pytest.raises(StorageError, match="invalid object key"):
        storage.put("recordings", key, b"x", JPEG)
    assert not (tmp_path / "escape.jpg").exists()


def test_a_bucket_is_checked_without_a_trace_then_prepared(tmp_path):
    storage = LocalStorage(tmp_path / "buckets")
    storage.check_bucket("fresh")
    assert not (tmp_path / "buckets").exists()  # checking changes nothing
    storage.prepare_bucket("fresh")
    assert (tmp_path / "buckets/fresh").is_dir()
    storage.check_bucket("fresh")  # an existing folder is fine too


def test_a_bucket_that_cannot_be_a_folder_is_refused(tmp_path):
    storage = LocalStorage(tmp_path)
    (tmp_path / "taken").write_text("a file where the bucket folder would go")
    with pytest.raises(BucketError, match="Bucket taken cannot be created"):
        storage.check_bucket("taken")
    with pytest.raises(BucketError, match="Bucket taken cannot be created"):
        storage.prepare_bucket("taken")
