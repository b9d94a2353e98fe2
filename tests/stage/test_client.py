"""Participant client fields from request headers: the User-Agent parser and ClientInfo."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from openstage.stage import ClientInfo
from openstage.stage.useragent import UserAgent, parse_user_agent
from tests.events_client import CHROME_ON_WINDOWS


@pytest.mark.parametrize(
    "header, expected",
    [
        (CHROME_ON_WINDOWS, UserAgent("Microsoft Windows", "10.0", "Google Chrome", "116")),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            UserAgent("macOS", "10.15.7", "Apple Safari", "17"),
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            UserAgent("Linux", "", "Mozilla Firefox", "125"),
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            UserAgent("Microsoft Windows", "10.0", "Microsoft Edge", "124"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
            UserAgent("iOS", "17.4.1", "Google Chrome", "124"),
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.6367.82 Mobile Safari/537.36",
            UserAgent("Android", "14", "Google Chrome", "124"),
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
            UserAgent("Chrome OS", "14541.0.0", "Opera", "109"),
        ),
        (
            "Mozilla/5.0 (OBS-Studio/30.1.2; Windows x86_64; en-US)",
            UserAgent("Microsoft Windows", "", "OBS Studio", "30"),
        ),
        ("Python/3.11 websockets/17.4", UserAgent()),
        ("", UserAgent()),
    ],
)
def test_common_user_agents(header, expected):
    assert parse_user_agent(header) == expected


def test_client_info_reads_the_headers_the_sdks_send():
    headers = Headers({"User-Agent": CHROME_ON_WINDOWS, "X-Stages-SDK": "1.41.0", "X-Stages-Platform": "web"})
    client = ClientInfo.from_headers(headers)
    assert client == ClientInfo(CHROME_ON_WINDOWS, "1.41.0", "web")
    assert client.participant_fields() == {
        "ispName": "",
        "osName": "Microsoft Windows",
        "osVersion": "10.0",
        "browserName": "Google Chrome",
        "browserVersion": "116",
        "sdkVersion": "1.41.0",
    }


def test_a_native_sdk_is_known_by_its_platform():
    fields = ClientInfo(user_agent="okhttp/4.12.0", sdk_version="1.20.0", platform="android").participant_fields()
    assert (fields["osName"], fields["browserName"], fields["sdkVersion"]) == ("Android", "", "1.20.0")


def test_fields_keep_to_the_models_characters_and_length():
    """ParticipantClientAttribute: at most 128 of [a-zA-Z0-9-_.,:;\\s]."""
    fields = ClientInfo(sdk_version="1.41.0<script>/" + "9" * 200).participant_fields()
    assert fields["sdkVersion"] == ("1.41.0script" + "9" * 200)[:128]
