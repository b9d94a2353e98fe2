"""GET /buckets/{bucket}/{key}: local buckets, read-only over HTTP, from a real server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openstage.storage.base import JPEG, JSON, MP4, PLAYLIST
from openstage.storage.local import LocalStorage
from tests.server import REGION, Server

OBJECTS = {
    "s/st-1/p/t/media/hls/multivariant.m3u8": (b"#EXTM3U\n", PLAYLIST),
    "s/st-1/p/t/media/hls/high/1.mp4": (b"\x00\x00\x00\x18ftypiso6", MP4),
    "s/st-1/p/t/media/thumbnails/high/1.jpg": (b"\xff\xd8\xff", JPEG),
    "s/st-1/p/t/events/recording-started.json": (b"{}", JSON),
}


def test_objects_are_served_with_their_content_types(server: Server):
    storage = LocalStorage(server.data_dir / "buckets")
    for key, (body, content_type) in OBJECTS.items():
        storage.put("served", key, body, content_type)
    with httpx.Client(base_url=server.url) as http:
        for key, (body, content_type) in OBJECTS.items():
            response = http.get(f"/buckets/served/{key}")
            assert response.status_code == 200 and response.content == body
            assert response.headers["content-type"].split(";")[0] == content_type
        assert http.head("/buckets/served/s/st-1/p/t/media/hls/high/1.mp4").status_code == 200


def test_nothing_outside_the_objects_is_served(server: Server):
    LocalStorage(server.data_dir / "buckets").put("served", "a/b.json", b"{}", JSON)
    (server.data_dir / "buckets" / "served" / "a" / ".hidden").write_text("secret")
    with httpx.Client(base_url=server.url) as http:
        for path in [
            "/buckets/served/a",  # a folder: no listings
            "/buckets/served/a/.hidden",
            "/buckets/served/a/missing.json",
            "/buckets/served/%2e%2e/openstage.db",
            "/buckets/..%2fbuckets/served/a/b.json",
            "/buckets/served/a/%2e%2e/%2e%2e/%2e%2e/openstage.db",
        ]:
            response = http.get(path)
            assert response.status_code == 404, path
        assert http.post("/buckets/served/a/b.json", content=b"x").status_code != 200  # read-only


def test_with_credentials_a_request_must_be_signed(make_server: Callable[..., Server]):
    server = make_server("sqlite", args=["--access-key", "AKIDBUCKET", "--secret-key", "right"])
    LocalStorage(server.data_dir / "buckets").put("private", "k.json", b"{}", JSON)
    url = f"{server.url}/buckets/private/k.json"
    assert httpx.get(url).status_code == 403
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDBUCKET", "right"), "ivs", REGION).add_auth(request)
    assert httpx.get(url, headers=dict(request.headers.items())).status_code == 200
