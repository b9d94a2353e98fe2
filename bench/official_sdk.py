"""How fast the official IVS Web Broadcast SDK gets going against openstage, in Chromium.

Run ``python bench/official_sdk.py`` (options: ``--rounds``, ``--seconds``) as root, with
Chromium and npm installed. It uses the browser-test machinery (``tests/browser.py``): a network
namespace with only ``lo``, an ``openstage serve`` and one Chromium inside it, the npm-installed
SDK on a page of its own origin (``tests/dataplane/official_sdk_page.html``). Each round, on a new
stage, page A joins and publishes, then page B does; it prints, per round and as median
(min-max):

- ``connected``: from A's ``join()`` to ``STAGE_CONNECTION_STATE_CHANGED`` ``connected``;
- ``published``: from A's ``join()`` to its ``STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED`` ``published``;
- ``first frame``: from B's ``join()`` to the first frame of B that A decoded (inbound-rtp
  ``framesDecoded`` > 0, polled every 20 ms);
- ``fps``: frames of B that A decoded per second over ``--seconds``, with the codec and size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright

from tests.browser import (
    CHROMIUM_ARGS,
    Namespace,
    Site,
    chromium_wrapper,
    install_ivs_web_sdk,
    installed_version,
    poll,
    start_server,
)

PAGE = Path(__file__).resolve().parent.parent / "tests" / "dataplane" / "official_sdk_page.html"
# Stamps every SDK event the page records with the time since the stamp was installed, in ms.
STAMP = """() => {
  const push = window.events.push.bind(window.events);
  window.t0 = performance.now();
  window.events.push = (entry) => push([...entry, performance.now() - window.t0]);
}"""
NOW = "() => performance.now() - window.t0"
VIDEO_IN = """async id => {
  for (const stream of window.remote[id].streams) {
    const report = await stream.requestRTCStats();
    for (const entry of report ? report.values() : []) {
      if (entry.type === "inbound-rtp" && entry.kind === "video") {
        return {frames: entry.framesDecoded, codec: report.get(entry.codecId)?.mimeType,
                size: `${entry.frameWidth}x${entry.frameHeight}`};
      }
    }
  }
  return {frames: 0};
}"""


def event_time(page: Any, kind: str, value: str) -> float:
    return float(next(e[-1] for e in page.evaluate("window.events") if e[0] == kind and e[-2] == value))


def one_round(browser: Any, ivs: Any, site: Site, seconds: float) -> dict[str, Any]:
    stage_arn = ivs.create_stage(name="bench")["stage"]["arn"]
    tokens = [
        ivs.create_participant_token(stageArn=stage_arn, userId=user, capabilities=["PUBLISH", "SUBSCRIBE"])[
            "participantToken"
        ]
        for user in ("a", "b")
    ]
    contexts = [browser.new_context() for _ in tokens]
    try:
        a, b = (context.new_page() for context in contexts)
        for page in (a, b):
            page.goto(f"{site.url}/")
        a.evaluate(STAMP)
        a.evaluate("token => window.joinStage(token)", tokens[0]["token"])
        poll(a, "() => window.events.some(e => e[0] === 'publish' && e[2] === 'published')", what="A published")
        b_id = tokens[1]["participantId"]
        b_joined = a.evaluate(NOW)
        b.evaluate("token => window.joinStage(token)", tokens[1]["token"])
        poll(a, f"async id => window.remote[id] && ({VIDEO_IN})(id).then(v => v.frames > 0)", b_id, "B's first frame")
        first_frame = a.evaluate(NOW) - b_joined
        before = a.evaluate(VIDEO_IN, b_id)
        time.sleep(seconds)
        after = a.evaluate(VIDEO_IN, b_id)
        return {
            "connected": event_time(a, "connection", "connected"),
            "published": event_time(a, "publish", "published"),
            "first frame": first_frame,
            "fps": (after["frames"] - before["frames"]) / seconds,
            "video": f"{after['codec']} {after['size']}",
        }
    finally:
        for context in contexts:
            context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to count decoded frames")
    args = parser.parse_args()
    sdk = install_ivs_web_sdk()
    namespace = Namespace()
    folder = Path(tempfile.mkdtemp(prefix="openstage-bench-"))
    server, forwarder = start_server(namespace, folder / "data")
    site = Site(namespace, {"/": PAGE, "/amazon-ivs-web-broadcast.js": sdk})
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium_wrapper(namespace, folder)), args=CHROMIUM_ARGS
            )
            print(f"amazon-ivs-web-broadcast {installed_version(sdk)}, {browser.version}")
            for number in range(1, args.rounds + 1):
                result = one_round(browser, server.client(), site, args.seconds)
                results.append(result)
                timings = ", ".join(f"{key} {result[key]:.0f} ms" for key in ("connected", "published", "first frame"))
                print(f"round {number}: {timings}, {result['fps']:.1f} fps ({result['video']})")
            browser.close()
    finally:
        site.close()
        server.stop()
        forwarder.close()
        namespace.delete()
    for key, unit in (("connected", "ms"), ("published", "ms"), ("first frame", "ms"), ("fps", "")):
        values = [r[key] for r in results]
        print(f"{key}: median {statistics.median(values):.0f}{unit} ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
