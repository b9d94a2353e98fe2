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
