"""The console's page and assets at ``/`` and ``/console``, and the AWS API's paths still answering as before."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from openstage.console import console_app
from tests.server import Server, signed_request


@pytest.fixture(scope="module")
def dev(make_server: Callable[..., Server]) -> Server:
    return make_server("sqlite")


@pytest.mark.parametrize("path", ["/", "/console"])
def test_the_page_is_served_locked_to_this_origin(dev: Server, path: str) -> None:
    page = httpx.get(dev.url + path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every asset the page loads comes from this server: it works offline.
    sources = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert sources and all(source.startswith("/console/static/") or source == "data:," for source in sources)
    for source in sources:
        if source.startswith("/"):
            asset = httpx.get(dev.url + source)
            assert asset.status_code == 200 and asset.content == (Path(console_app.HERE) / source[9:]).read_bytes()


def test_assets_have_their_types_and_nothing_else_is_served(dev: Server) -> None:
    assert httpx.get(f"{dev.url}/console/static/console.js").headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{dev.url}/console/static/console.css").headers["content-type"].startswith("text/css")
    for name in ["console_app.py", "join.js", "missing.js"]:
        refused = httpx.get(f"{dev.url}/console/static/{name}")
        assert refused.status_code == 404 and "No console asset" in refused.json()["message"]
    escaped = httpx.get(f"{dev.url}/console/static/..%2Fconsole_app.py")  # not a console path: the API's 403
    assert escaped.status_code == 403 and b"import" not in escaped.content


def test_the_aws_api_keeps_every_other_method_and_path(dev: Server) -> None:
    ivs = dev.client()
    arn = ivs.create_stage(name="tagged", tags={"team": "a"})["stage"]["arn"]
    assert ivs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}  # GET /tags/{arn}
    status, headers, _ = signed_request(dev, "POST", "/", b"{}")
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
    status, headers, _ = signed_request(dev, "POST", "/console", b"{}")
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
