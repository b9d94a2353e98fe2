"""SigV4 verification against configured credentials, and the loopback development mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.server import signed_request

ACCESS_KEY = "AKIAOPENSTAGETEST01"
SECRET_KEY = "s3cr3t/with+chars=="


@pytest.fixture(scope="module")
def secured(make_server):
    return make_server(args=["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])


def _code(response):
    status, headers, body = response
    return status, headers.get("x-amzn-errortype"), json.loads(body)["message"]


def test_correct_credentials_work_with_boto3(secured):
    ivs = secured.client(ACCESS_KEY, SECRET_KEY)
    arn = ivs.create_stage(name="signed")["stage"]["arn"]
    assert ivs.get_stage(arn=arn)["stage"]["name"] == "signed"


def test_arn_in_path_verifies(secured):
    """The tagging routes carry a percent-encoded ARN in the path: the canonical URI must match botocore's."""
    ivs = secured.client(ACCESS_KEY, SECRET_KEY)
    arn = ivs.create_stage(name="tagged")["stage"]["arn"]
    ivs.tag_resource(resourceArn=arn, tags={"a b": "c/d"})
    assert ivs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a b": "c/d"}
    ivs.untag_resource(resourceArn=arn, tagKeys=["a b", "x=y&z"])
    assert ivs.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_wrong_secret_is_invalid_signature(secured):
    with pytest.raises(ClientError) as error:
        secured.client(ACCESS_KEY, "not-the-secret").list_stages()
    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature we calculated does not match" in error.value.response["Error"]["Message"]


def test_unknown_access_key_is_unrecognized_client(secured):
    with pytest.raises(ClientError) as error:
        secured.client("AKIAUNKNOWN", SECRET_KEY).list_stages()
    assert error.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_stale_date_is_rejected(secured):
    old = datetime.now(UTC) - timedelta(minutes=20)
    status, code, message = _code(
        signed_request(
            secured, "POST", "/ListStages", b"{}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, timestamp=old
        )
    )
    assert (status, code) == (403, "InvalidSignatureException")
    assert "Signature expired" in message


def test_future_date_is_rejected(secured):
    later = datetime.now(UTC) + timedelta(minutes=20)
    status, code, message = _code(
        signed_request(
            secured, "POST", "/ListStages", b"{}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, timestamp=later
        )
    )
    assert (status, code) == (403, "InvalidSignatureException")
    assert "not yet current" in message


def test_missing_authorization_header(secured):
    status, code, message = _code(signed_request(secured, "POST", "/ListStages", b"{}", sign=False))
    assert (status, code) == (403, "MissingAuthenticationTokenException")
    assert "Signature Version 4" in message


def test_malformed_authorization_header(secured):
    response = signed_request(
        secured,
        "POST",
        "/ListStages",
        b"{}",
        sign=False,
        headers={"Authorization": "Bearer abc", "X-Amz-Date": "20260101T000000Z"},
    )
    status, code, message = _code(response)
    assert (status, code) == (403, "IncompleteSignatureException")


def test_wrong_service_name(secured):
    status, code, message = _code(
        signed_request(
            secured, "POST", "/ListStages", b"{}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, service="ivsrealtime"
        )
    )
    assert (status, code) == (403, "InvalidSignatureException")
    assert "'ivs'" in message


def test_wrong_region(secured):
    status, code, message = _code(
        signed_request(
            secured, "POST", "/ListStages", b"{}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1"
        )
    )
    assert (status, code) == (403, "InvalidSignatureException")
    assert "eu-west-1" in message and "us-east-1" in message


def test_tampered_body_fails(secured):
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=secured.url + "/CreateStage", data=b'{"name":"a"}')
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ivs", "us-east-1").add_auth(request)
    prepared = request.prepare()
    forged = urllib.request.Request(prepared.url, data=b'{"name":"b"}', method="POST", headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(forged, timeout=10)
    assert error.value.code == 403
    assert error.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_credentials_file(make_server, tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[ci]\naws_access_key_id = AKIAFROMFILE\naws_secret_access_key = filesecret\n")
    server = make_server(args=["--credentials-file", str(path)])
    assert server.client("AKIAFROMFILE", "filesecret").list_stages()["stages"] == []
    with pytest.raises(ClientError) as error:
        server.client("AKIAFROMFILE", "wrong").list_stages()
    assert error.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_dev_mode_accepts_any_well_formed_signature(server):
    assert "DEV MODE" in "".join(server.output)
    assert server.client("anything", "whatever", region="ap-south-1").list_stages()["stages"] is not None
    status, code, _ = _code(signed_request(server, "POST", "/ListStages", b"{}", sign=False))
    assert (status, code) == (403, "MissingAuthenticationTokenException")


def _captured_create_stage(secured, body: bytes, content_sha256: str | None = None) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers = {} if content_sha256 is None else {"X-Amz-Content-SHA256": content_sha256}
    request = AWSRequest(method="POST", url=secured.url + "/CreateStage", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ivs", "us-east-1").add_auth(request)
    return {k: v for k, v in request.prepare().headers.items() if k.lower() != "content-length"}


def _post(secured, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
    import urllib.error
    import urllib.request

    forged = urllib.request.Request(secured.url + "/CreateStage", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(forged, timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, error.headers["x-amzn-ErrorType"]


def test_body_swapped_under_an_unsigned_content_hash_header_fails(secured):
    """A captured request whose body is replaced, with x-amz-content-sha256 (not signed) naming the old body's hash."""
    import hashlib

    original = b'{"name":"captured"}'
    headers = _captured_create_stage(secured, original)
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(original).hexdigest()
    assert _post(secured, headers, b'{"name":"forged"}') == (403, "InvalidSignatureException")
    names = [s["name"] for s in secured.client(ACCESS_KEY, SECRET_KEY).list_stages()["stages"]]
    assert "forged" not in names


def test_signed_content_hash_header_must_match_the_body(secured):
    import hashlib

    original = b'{"name":"captured2"}'
    headers = _captured_create_stage(secured, original, hashlib.sha256(original).hexdigest())
    assert _post(secured, headers, b'{"name":"forged2"}') == (403, "InvalidSignatureException")
    headers = _captured_create_stage(secured, b'{"name":"unsigned"}', "UNSIGNED-PAYLOAD")
    assert _post(secured, headers, b'{"name":"unsigned"}') == (403, "InvalidSignatureException")
    headers = _captured_create_stage(secured, original, hashlib.sha256(original).hexdigest())
    assert _post(secured, headers, original)[0] == 200


def test_dev_mode_refuses_requests_addressed_to_another_host(server):
    """DNS rebinding: a page on another name re-bound to 127.0.0.1 must not drive the dev-mode API."""
    status, code, message = _code(
        signed_request(server, "POST", "/ListStages", b"{}", headers={"Host": f"rebound.example:{server.port}"})
    )
    assert (status, code) == (403, "AccessDeniedException")
    assert "rebound.example" in message
    status, _, _ = signed_request(server, "POST", "/ListStages", b"{}", headers={"Host": f"localhost:{server.port}"})
    assert status == 200


def test_credentials_mode_does_not_care_about_the_host_name(secured):
    status, _, _ = signed_request(
        secured,
        "POST",
        "/ListStages",
        b"{}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        headers={"Host": f"openstage.internal.example:{secured.port}"},
    )
    assert status == 200
