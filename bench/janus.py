"""Janus (Debian package ``janus``) as the reference SFU for bench/sfu.py, in a network namespace of its own.

libnice skips loopback (media-stack.md gotcha 5), so Janus runs in the namespace ``osbench-janus``,
reachable only through a veth pair that exists on this machine alone: ``osb0`` = 10.203.0.1 in the
root namespace (the benchmark's peers), ``osb1`` = 10.203.0.2 in the namespace (Janus). The
namespace has no other interface and no route, so Janus can reach nothing but the benchmark; its
config enforces ICE on ``osb1``, has no STUN/TURN server, ignores mDNS, and loads only the
VideoRoom plugin and the HTTP transport (bound to 10.203.0.2) from folders holding just those two.

Signalling is Janus's plain HTTP API: requests are POSTed, events (answers, offers) arrive by
long-polling the session, which a background task does and routes to per-handle queues.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAMESPACE = "osbench-janus"
HOST_LINK, JANUS_LINK = "osb0", "osb1"
HOST_ADDRESS, JANUS_ADDRESS = "10.203.0.1", "10.203.0.2"
PORT = 8088
LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")


def unavailable() -> str | None:
    """Why the Janus reference cannot run here, or None when it can."""
    if shutil.which("janus") is None:
        return "janus is not installed (apt-get install janus)"
    if os.geteuid() != 0:
        return "not root: a network namespace and a veth pair are needed for Janus"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    return None


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _teardown_network() -> None:
    """Deleting one end of a veth pair deletes both; both calls tolerate absence (cleanup after a crash)."""
    _ip("link", "del", HOST_LINK, check=False)
    _ip("netns", "del", NAMESPACE, check=False)


def _setup_network() -> None:
    _teardown_network()
    _ip("netns", "add", NAMESPACE)
    _ip("link", "add", HOST_LINK, "type", "veth", "peer", "name", JANUS_LINK)
    _ip("link", "set", JANUS_LINK, "netns", NAMESPACE)
    # IPv4 only: no link-local IPv6 addresses that ICE might pick up on either side.
    Path(f"/proc/sys/net/ipv6/conf/{HOST_LINK}/disable_ipv6").write_text("1")
    _ip("netns", "exec", NAMESPACE, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
    _ip("netns", "exec", NAMESPACE, "sysctl", "-q", "-w", f"net.ipv6.conf.{JANUS_LINK}.disable_ipv6=1")
    _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_LINK)
    _ip("link", "set", HOST_LINK, "up")
    _ip("netns", "exec", NAMESPACE, "ip", "addr", "add", f"{JANUS_ADDRESS}/30", "dev", JANUS_LINK)
    _ip("netns", "exec", NAMESPACE, "ip", "link", "set", JANUS_LINK, "up")


def _write_config(folder: Path) -> None:
    """Plugin/transport folders hold only what is used, so nothing else is loaded (no loggers, no event handlers)."""
    for sub, libs in (("plugins", ["libjanus_videoroom.so"]), ("transports", ["libjanus_http.so"])):
        (folder / sub).mkdir()
        for lib in libs:
            (folder / sub / lib).symlink_to(LIBS / sub / lib)
    (folder / "events").mkdir()
    (folder / "loggers").mkdir()
    (folder / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{folder}/plugins"
    transports_folder = "{folder}/transports"
    events_folder = "{folder}/events"
    loggers_folder = "{folder}/loggers"
    debug_level = 4
    session_timeout = 60
    server_name = "osbench"
    interface = "{JANUS_ADDRESS}"
}}
certificates: {{}}
media: {{
    ipv6 = false
    no_media_timer = 0
}}
nat: {{
    nice_debug = false
    full_trickle = false
    ice_lite = false
    ice_tcp = false
    ignore_mdns = true
    ice_enforce_list = "{JANUS_LINK}"
}}
plugins: {{}}
transports: {{}}
loggers: {{}}
events: {{
    broadcast = false
}}
"""
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {PORT}
    ip = "{JANUS_ADDRESS}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
"""
    )


class JanusServer:
    """Namespace, veth pair, config and the janus process; ``stop`` undoes all of it and is safe to call twice."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="openstage-bench-janus-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://{JANUS_ADDRESS}:{PORT}/janus"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log(self) -> Path:
        return self.folder / "janus.log"

    def start(self) -> None:
        _setup_network()
        _write_config(self.folder)
        command = ["ip", "netns", "exec", NAMESPACE, "janus", "-C", str(self.folder / "janus.jcfg")]
        command += ["-F", str(self.folder), "-o", "-D"]
        with self.log.open("wb") as output:  # `ip netns exec` execs janus: this pid is Janus's own
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.url + "/info", timeout=2) as response:
                    if json.load(response).get("janus") == "server_info":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("janus did not start:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            _teardown_network()
            shutil.rmtree(self.folder, ignore_errors=True)


def _request(url: str, body: dict[str, Any] | None, timeout: float = 30) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


class JanusSession:
    """One Janus API session: requests, a long-poll task routing events per handle, and keep-alives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = 0
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._transactions = itertools.count()
        self._tasks: list[asyncio.Task[None]] = []

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": f"t{next(self._transactions)}"}
        reply: dict[str, Any] = await asyncio.to_thread(_request, self.url + path, body)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus {body.get('janus')}: {reply['error']}")
        return reply

    async def open(self) -> None:
        self.session = (await self.call("", {"janus": "create"}))["data"]["id"]
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._keepalive())]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        try:
            await self.call(f"/{self.session}", {"janus": "destroy"})
        except (OSError, RuntimeError):  # Janus gone or session expired: the server is stopped next anyway
            pass

    async def attach(self) -> int:
        reply = await self.call(f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        handle: int = reply["data"]["id"]
        self.events[handle] = asyncio.Queue()
        return handle

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None) -> dict[str, Any]:
        """Synchronous requests (create) answer here; asynchronous ones answer ``ack`` and an event follows."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self.call(f"/{self.session}/{handle}", request)

    async def event(self, handle: int, accept: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The next event of ``handle`` that ``accept`` takes; plugin errors raise at once."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events[handle].get()
                data = event.get("plugindata", {}).get("data", {})
                if "error" in data:
                    raise RuntimeError(f"janus videoroom: {data['error']}")
                if accept(event):
                    return event

    async def _poll(self) -> None:
        url = f"{self.url}/{self.session}?maxev=10"
        while True:
            try:
                reply = await asyncio.to_thread(_request, url, None, 40)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                queue = self.events.get(event.get("sender", 0))
                if queue is not None:
                    queue.put_nowait(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(20)
            await self.call(f"/{self.session}", {"janus": "keepalive"})


def only_veth(sdp: str) -> str:
    """Refuses an SDP from Janus that advertises any address but its veth end: the benchmark's network rule."""
    addresses = {line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")}
    if addresses != {JANUS_ADDRESS}:
        raise RuntimeError(f"janus advertised ICE addresses {sorted(addresses)}, expected only {JANUS_ADDRESS}")
    return sdp


async def create_room(session: JanusSession, handle: int, bitrate: int) -> int:
    """A room as in the openstage run: one publisher, H.264 constrained baseline (42e01f) and Opus."""
    body = {"request": "create", "room": 4242, "publishers": 1, "videocodec": "h264", "audiocodec": "opus"}
    body |= {"h264_profile": "42e01f", "bitrate": bitrate, "fir_freq": 0, "audiolevel_ext": False}
    reply = await session.message(handle, body)
    return int(reply["plugindata"]["data"]["room"])


async def publish(session: JanusSession, room: int, offer: str) -> tuple[int, int, str]:
    """Joins as the room's publisher with ``offer``; returns (handle, feed id, answer SDP)."""
    handle = await session.attach()
    body = {"request": "joinandconfigure", "room": room, "ptype": "publisher", "display": "bench"}
    await session.message(handle, body | {"audio": True, "video": True}, {"type": "offer", "sdp": offer})
    event = await session.event(handle, lambda e: "jsep" in e)
    return handle, int(event["plugindata"]["data"]["id"]), only_veth(event["jsep"]["sdp"])


async def subscribe_offer(session: JanusSession, room: int, feed: int) -> tuple[int, str]:
    """A subscriber handle for ``feed`` and Janus's offer for it."""
    handle = await session.attach()
    await session.message(handle, {"request": "join", "room": room, "ptype": "subscriber", "streams": [{"feed": feed}]})
    event = await session.event(handle, lambda e: "jsep" in e)
    return handle, only_veth(event["jsep"]["sdp"])


async def subscribe_start(session: JanusSession, handle: int, answer: str) -> None:
    """Sends the subscriber's answer; returns once Janus confirms it started sending."""
    await session.message(handle, {"request": "start"}, {"type": "answer", "sdp": answer})
    await session.event(handle, lambda e: e.get("plugindata", {}).get("data", {}).get("started") == "ok")
