"""Browser tests: Chromium (driven by Playwright), an openstage server and aiortc peers in one network namespace.

Chromium binds every interface and an mDNS socket even when told to allow loopback
(media-stack.md gotcha 4), so nothing it does may run in the machine's own namespace. Each
test session creates a namespace holding only ``lo`` and runs inside it: the browser (through
a wrapper script, while Playwright keeps driving it over a pipe from outside), the openstage
server (``ip netns exec``) and any aiortc participant (a thread that entered the namespace).
The test process reaches the server through a forwarder on the same port of its own
127.0.0.1, so one URL (and the ``whip_url``/``events_url`` inside tokens) works on both sides.

Fixtures, loaded for every test by ``tests/conftest.py``:

- ``netns`` (session): the :class:`Namespace`; ``netns.run(coroutine_factory)`` runs asyncio code
  (an ``openstage.client.Participant``) inside it and returns its result.
- ``ns_server`` (session): a :class:`tests.server.Server` (SQLite, ICE on 127.0.0.1) in the
  namespace; ``ns_server.url`` works from the test and from the browser.
- ``ns_ivs``: a boto3 ``ivs-realtime`` client for ``ns_server``.
- ``browser`` (module): Chromium in the namespace, with a fake camera and microphone and
  media permissions granted; launched once per test module because launches are slow. While it
  is open, Playwright's event loop runs in the main thread, so ``asyncio.run`` cannot: a browser
  test runs its asyncio code (aiortc peers) with ``netns.run``/``netns.spawn``, in another thread.
- ``new_page(**context_options)``: a page in a fresh browser context (its own cookies,
  storage and fake devices); closed after the test, whose browser console is printed if it fails.
- ``ivs_web_sdk`` (session): the path of the official ``amazon-ivs-web-broadcast`` bundle,
  installed from npm at test time into a cache outside the repository (never vendored).

Helpers: ``poll(page, js, arg)`` waits for an (async) page expression to be truthy;
``save_screenshot(page, "name.png")`` refreshes ``docs/name.png`` when OPENSTAGE_SCREENSHOTS=1;
``Site(netns, {"/": path, ...})`` serves a test's own files inside the namespace.

Pages that need a secure context (``getUserMedia``) must come from ``http://127.0.0.1:…`` or
``http://localhost:…``. A page a test brings is served by a :class:`Site` in the namespace, at
``http://localhost:<its port>``: another origin than openstage's, as for a real web app.
Needs root (``ip netns``), ``/usr/bin/chromium`` and, for ``ivs_web_sdk``, npm with registry access.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.server import Server

T = TypeVar("T")

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).parent.parent / "docs"
CLONE_NEWNET = 0x40000000
# The SDK version the compatibility tests were written against; OPENSTAGE_IVS_WEB_SDK_VERSION=latest tries the newest.
IVS_WEB_SDK_VERSION = os.environ.get("OPENSTAGE_IVS_WEB_SDK_VERSION", "1.41.0")
IVS_WEB_SDK_BUNDLE = "node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js"
# Outside the repository, kept between runs: one npm install serves every session on the machine.
CACHE_DIR = Path(os.environ.get("OPENSTAGE_TEST_CACHE", Path.home() / ".cache" / "openstage-tests"))
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]


class Namespace:
    """A network namespace with only ``lo`` up; created on construction, removed by :meth:`delete`."""

    def __init__(self) -> None:
        self.name = "openstage-" + uuid.uuid4().hex[:8]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run([*self.exec_prefix, "ip", "link", "set", "lo", "up"], check=True)

    @property
    def exec_prefix(self) -> list[str]:
        """Prepended to a command line, runs that command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def enter(self) -> None:
        """Moves the calling thread (only it) into the namespace; sockets it creates afterwards live there."""
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {self.name} failed")
        finally:
            os.close(fd)

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> concurrent.futures.Future[T]:
        """Runs ``asyncio.run(factory())`` in a new thread inside the namespace, while the caller goes on."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def main() -> None:
            try:
                self.enter()
                future.set_result(asyncio.run(factory()))
            except BaseException as error:  # handed to whoever waits on the future
                future.set_exception(error)

        threading.Thread(target=main, name=f"in-{self.name}", daemon=True).start()
        return future

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float = 120.0) -> T:
        """Runs ``factory()`` inside the namespace and waits for its result."""
        return self.spawn(factory).result(timeout)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


class Forwarder:
    """Makes a TCP port listening on the namespace's 127.0.0.1 reachable on the same port of ours.

    The listening socket is made here, in the test's namespace; the thread that connects onwards
    has entered the namespace, so the upstream sockets it creates live there.
    """

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"forward-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        self.namespace.enter()
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()

    def close(self) -> None:
        # shutdown wakes the blocked accept(); close alone would leave the thread waiting.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        source.close()
        target.close()


def start_server(namespace: Namespace, data_dir: Path, args: list[str] | None = None) -> tuple[Server, Forwarder]:
    """An openstage server inside the namespace, on the port the forwarder holds outside it."""
    forwarder = Forwarder(namespace)
    server = Server(data_dir, "", ["--ice-addresses", "127.0.0.1", *(args or [])], wrapper=namespace.exec_prefix)
    try:
        server.start(port=forwarder.port)
    except BaseException:
        forwarder.close()
        raise
    return server, forwarder


class Site:
    """A static web site on the namespace's 127.0.0.1 (``files``: URL path -> file), for pages a test brings.

    A page served from a real loopback origin may call openstage on another loopback port; a page
    Playwright fulfils itself has no address, so Chromium's local-network-access checks would block it.
    """

    def __init__(self, namespace: Namespace, files: dict[str, Path]) -> None:
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = files.get(self.path.split("?", 1)[0])
                if path is None:
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", types.get(path.suffix, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        started: concurrent.futures.Future[ThreadingHTTPServer] = concurrent.futures.Future()

        def main() -> None:
            namespace.enter()
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            started.set_result(httpd)
            httpd.serve_forever()

        threading.Thread(target=main, name="site", daemon=True).start()
        self.httpd = started.result(10)
        self.url = f"http://localhost:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def chromium_wrapper(namespace: Namespace, folder: Path) -> Path:
    """An executable Playwright can launch that runs Chromium inside the namespace (the pipe fds are inherited)."""
    script = folder / "chromium-in-netns"
    script.write_text(f'#!/bin/sh\nexec {" ".join(namespace.exec_prefix)} {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script


def install_ivs_web_sdk(version: str = IVS_WEB_SDK_VERSION) -> Path:
    """Installs ``amazon-ivs-web-broadcast`` from npm once per version (under a lock) and returns its bundle."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / f"amazon-ivs-web-broadcast-{version}"
    with open(CACHE_DIR / "npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if version != "latest" and (target / IVS_WEB_SDK_BUNDLE).exists():
            return target / IVS_WEB_SDK_BUNDLE
        staging = Path(tempfile.mkdtemp(dir=CACHE_DIR))
        command = ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(staging)]
        command.append(f"amazon-ivs-web-broadcast@{version}")
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=600)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target / IVS_WEB_SDK_BUNDLE


def installed_version(bundle: Path) -> str:
    package = bundle.parent.parent / "package.json"
    return str(json.loads(package.read_text())["version"])


def poll(page: Any, expression: str, arg: Any = None, what: str = "", timeout: float = 60.0) -> Any:
    """Evaluates ``expression`` in the page (awaiting it if async) until it is truthy; returns that value.

    Playwright's ``wait_for_function`` takes a returned Promise itself as truthy, so async checks poll here.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or expression} (last value {value!r})")
        page.wait_for_timeout(200)


def save_screenshot(page: Any, name: str) -> None:
    """With OPENSTAGE_SCREENSHOTS=1, writes ``docs/<name>`` (a PNG of the page) for the documentation."""
    if os.environ.get("OPENSTAGE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), full_page=True)


@pytest.fixture(scope="session")
def netns() -> Iterator[Namespace]:
    namespace = Namespace()
    yield namespace
    namespace.delete()


@pytest.fixture(scope="session")
def ns_server(netns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # SQLite only: what browsers exercise is the data plane, which the backend does not change.
    server, forwarder = start_server(netns, tmp_path_factory.mktemp("openstage-netns"))
    yield server
    server.stop()
    forwarder.close()


@pytest.fixture
def ns_ivs(ns_server: Server) -> Any:
    return ns_server.client()


@pytest.fixture(scope="module")
def browser(netns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running in the main
    thread while it is started, and ``asyncio.run`` refuses to start under one, which would break every
    later test that uses it."""
    from playwright.sync_api import sync_playwright  # here: every test session loads this module, few drive browsers

    with sync_playwright() as playwright:
        executable = chromium_wrapper(netns, tmp_path_factory.mktemp("chromium"))
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []
    logs: list[str] = []

    def make(**context_options: Any) -> Any:
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        number = len(contexts)
        page.on("console", lambda message: logs.append(f"page {number} {message.type}: {message.text}"))
        page.on("pageerror", lambda error: logs.append(f"page {number} uncaught: {error}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and logs.append(f"page {number} HTTP {r.status}: {r.request.method} {r.url}"),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    print("\n".join(logs))  # pytest shows it only when the test failed


@pytest.fixture(scope="session")
def ivs_web_sdk() -> Path:
    return install_ivs_web_sdk()
