"""The channel registry: which RTMP(S) ingest URL an IVS channel ARN stands for.

A composition's channel destination names an IVS (low-latency) channel by ARN; openstage has
no channel service yet, so an operator maps ARNs to ingest URLs (``openstage channels add``)
in ``channels.json`` in the data folder. Everything else asks :func:`ingest_url` only, so a
built-in channel service can replace this file without touching its callers.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

FILE_NAME = "channels.json"
# The model's ChannelArn pattern, anchored.
CHANNEL_ARN = re.compile(r"arn:aws:ivs:[a-z0-9-]+:[0-9]+:channel/[a-zA-Z0-9-]+")


class ChannelError(ValueError):
    """A registry entry that cannot be used; the message says why."""


def ingest_url(data_dir: Path, channel_arn: str) -> str | None:
    """The RTMP(S) URL (with stream key) to push ``channel_arn`` to, None if the channel is unknown."""
    return read(data_dir).get(channel_arn)


def read(data_dir: Path) -> dict[str, str]:
    path = data_dir / FILE_NAME
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ChannelError(f"cannot read the channel registry {path}: {exc}") from None
    if not isinstance(entries, dict):
        raise ChannelError(f"the channel registry {path} must hold a JSON object of channel ARN -> RTMP URL")
    return {str(arn): str(url) for arn, url in entries.items()}


def add(data_dir: Path, channel_arn: str, url: str) -> None:
    check(channel_arn, url)
    _write(data_dir, {**read(data_dir), channel_arn: url})


def remove(data_dir: Path, channel_arn: str) -> bool:
    """False if the channel was not registered."""
    entries = read(data_dir)
    if entries.pop(channel_arn, None) is None:
        return False
    _write(data_dir, entries)
    return True


def check(channel_arn: str, url: str) -> None:
    if CHANNEL_ARN.fullmatch(channel_arn) is None:
        raise ChannelError(
            f"{channel_arn!r} is not an IVS channel ARN (arn:aws:ivs:REGION:ACCOUNT:channel/ID, as StartComposition "
            "expects in destinations[].channel.channelArn)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("rtmp", "rtmps") or not parts.hostname:
        raise ChannelError(f"{url!r} is not an RTMP ingest URL: use rtmp://HOST[:PORT]/APP/STREAM_KEY (or rtmps://)")
    if len([segment for segment in parts.path.split("/") if segment]) < 2:
        raise ChannelError(f"{url!r} names no stream key: use rtmp://HOST[:PORT]/APP/STREAM_KEY")


def _write(data_dir: Path, entries: dict[str, str]) -> None:
    """Replaces the file atomically: a server reading it mid-write sees the old or the new registry."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=".channels-")
    with os.fdopen(handle, "w") as file:
        json.dump(entries, file, indent=2, sort_keys=True)
    os.replace(temporary, data_dir / FILE_NAME)
