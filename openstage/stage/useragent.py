"""Client fields of a Participant (osName, browserName, …) read from a User-Agent header.

AWS derives them from the client (docs 3.2); a handful of patterns covers the browsers and
systems the IVS SDKs run on. Anything else leaves the fields empty, as AWS shows for SDKs
that do not report them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS: list[tuple[str, re.Pattern[str]]] = [
    ("Microsoft Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"(?:OPR|Opera)/(\d+)")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/(\d+)")),
    ("Mozilla Firefox", re.compile(r"(?:Firefox|FxiOS)/(\d+)")),
    ("Google Chrome", re.compile(r"(?:Chrome|CriOS)/(\d+)")),
    ("Apple Safari", re.compile(r"Version/(\d+)(?:\.\d+)*.*Safari/")),
    ("OBS Studio", re.compile(r"OBS-Studio/(\d+)")),  # the WHIP client that never opens the events WebSocket
]

# (name, pattern whose first group, if any, is the version, separator used in that version)
_SYSTEMS: list[tuple[str, re.Pattern[str], str]] = [
    ("Microsoft Windows", re.compile(r"Windows(?: NT ([\d.]+))?"), "."),
    ("iOS", re.compile(r"(?:iPhone|iPad|iPod).*? OS ([\d_]+)"), "_"),
    ("macOS", re.compile(r"Mac OS X ([\d_.]+)"), "_"),
    ("Android", re.compile(r"Android ([\d.]+)"), "."),
    ("Chrome OS", re.compile(r"CrOS \S+ ([\d.]+)"), "."),
    ("Linux", re.compile(r"Linux"), "."),
]


@dataclass(frozen=True)
class UserAgent:
    os_name: str = ""
    os_version: str = ""
    browser_name: str = ""
    browser_version: str = ""


def parse_user_agent(header: str) -> UserAgent:
    os_name = os_version = browser_name = browser_version = ""
    for name, pattern, separator in _SYSTEMS:
        found = pattern.search(header)
        if found:
            version = (found.group(1) if pattern.groups else None) or ""
            os_name, os_version = name, version.replace(separator, ".")
            break
    for name, pattern in _BROWSERS:
        found = pattern.search(header)
        if found:
            browser_name, browser_version = name, found.group(1)  # the major version, as AWS shows ("116")
            break
    return UserAgent(os_name, os_version, browser_name, browser_version)
