"""``openstage events tail``: prints the live stream, one event JSON per line, until Ctrl-C.

Requests are SigV4-signed with whatever AWS credentials botocore finds (environment, profile);
a dev-mode server needs none. A dropped connection resumes where it stopped (``Last-Event-ID``).
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlencode

import httpx

from openstage.events.signing import default_region, signed_headers
from openstage.events.stream import PATH

RECONNECT_SECONDS = 1.0


def tail(endpoint_url: str, region: str | None, stage: str | None, detail_type: str | None) -> int:
    query = urlencode({k: v for k, v in (("stage", stage), ("detail-type", detail_type)) if v})
    url = endpoint_url.rstrip("/") + PATH + (f"?{query}" if query else "")
    region = default_region(region)
    last_id: str | None = None
    try:
        while True:
            try:
                last_id = _follow(url, region, last_id)
            except httpx.TransportError as error:
                print(f"openstage events tail: {error}; reconnecting", file=sys.stderr)
            time.sleep(RECONNECT_SECONDS)
    except KeyboardInterrupt:
        return 0
    except _Refused as refused:
        print(f"openstage events tail: {refused}", file=sys.stderr)
        return 1


class _Refused(Exception):
    pass


def _follow(url: str, region: str, last_id: str | None) -> str | None:
    """Prints events until the server ends the stream; returns the last event id seen."""
    headers = signed_headers(url, region)
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10.0, read=None)) as response:
        if response.status_code != 200:
            raise _Refused(f"{url} answered {response.status_code}: {response.read().decode(errors='replace')}")
        print(f"following {url}", file=sys.stderr, flush=True)  # after this line no event is missed
        for line in response.iter_lines():
            if line.startswith("id: "):
                last_id = line[4:]
            elif line.startswith("data: "):
                print(line[6:], flush=True)
    return last_id
