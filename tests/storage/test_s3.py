"""S3Storage against a real S3-compatible server (moto_server on 127.0.0.1), with real failures in between."""

from __future__ import annotations

import os
import threading
import time

import pytest

from openstage.storage.base import JSON, MP4, BucketMissing, StorageError
from openstage.storage.s3 import S3Storage
from tests.moto import CREDENTIALS, REGION, MotoServer
from tests.storage.proxy import FlakyProxy

PART = 5 * 1024 * 1024  # S3's smallest multipart part


def storage(url: str, **options) -> S3Storage:
    return S3Storage(url, REGION, CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"], **options)


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    name = f"bucket-{os.urandom(4).hex()}"
    moto_server.client("s3").create_bucket(Bucket=name)
    return name


def test_objects_keep_their_content_type(moto_server: MotoServer, bucket: str):
    s3 = storage(moto_server.url)
    s3.put(bucket, "a/b/1.mp4", b"\x00\x00\x00\x18ftyp", MP4)
    s3.put(bucket, "a/events/recording-started.json", b"{}", JSON)
    client = moto_server.client("s3")
    head = client.head_object(Bucket=bucket, Key="a/b/1.mp4")
    assert head["ContentType"] == "video/mp4"
    assert client.get_object(Bucket=bucket, Key="a/b/1.mp4")["Body"].read() == b"\x00\x00\x00\x18ftyp"
    assert client.head_object(Bucket=bucket, Key="a/events/recording-started.json")["ContentType"] == JSON


def test_large_objects_go_up_in_parts(moto_server: MotoServer, bucket: str):
    body = os.urandom(2 * PART + 1234)
    storage(moto_server.url, multipart_threshold=PART).put(bucket, "big.mp4", body, MP4)
    client = moto_server.client("s3")
    head = client.head_object(Bucket=bucket, Key="big.mp4")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # a multipart upload's ETag counts its parts
    assert head["ContentType"] == MP4
    assert client.get_object(Bucket=bucket, Key="big.mp4")["Body"].read() == body


def test_an_outage_is_retried_and_the_object_arrives_whole(moto_server: MotoServer, bucket: str):
    proxy = FlakyProxy(moto_server.port)
    try:
        s3 = storage(proxy.url, multipart_threshold=PART)
        body = os.urandom(PART + 99)
        proxy.fail()
        threading.Timer(1.5, proxy.recover).start()
        started = time.monotonic()
        s3.put(bucket, "during-outage.mp4", body, MP4)
        assert proxy.refused >= 1, "the outage never hit the upload"
        assert time.monotonic() - started >= 1.0
        assert moto_server.client("s3").get_object(Bucket=bucket, Key="during-outage.mp4")["Body"].read() == body
    finally:
        proxy.close()


def test_a_lasting_outage_fails_with_a_storage_error(moto_server: MotoServer, bucket: str):
    proxy = FlakyProxy(moto_server.port)
    try:
        proxy.fail()
        with pytest.raises(StorageError, match="s3://"):
            storage(proxy.url, retry_delays=(0.1, 0.1)).put(bucket, "never.mp4", b"x", MP4)
    finally:
        proxy.close()


def test_bucket_checks(moto_server: MotoServer, bucket: str):
    s3 = storage(moto_server.url)
    s3.check_bucket(bucket)
    assert "Contents" not in moto_server.client("s3").list_objects_v2(Bucket=bucket)  # the probe is gone
    with pytest.raises(BucketMissing, match="does not exist"):
        s3.check_bucket("no-such-bucket-here")
