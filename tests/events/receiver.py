"""A webhook receiver for tests: records every delivery and answers 500 to the first ``failures`` of them."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def signature_ok(self, secret: str) -> bool:
        """The check docs/events.md tells receivers to make."""
        timestamp = self.headers["x-openstage-timestamp"]
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + self.body, hashlib.sha256).hexdigest()
        given = self.headers["x-openstage-signature"]
        return hmac.compare_digest(f"sha256={expected}", given) and abs(time.time() - int(timestamp)) < 300


class Receiver:
    def __init__(self, port: int = 0, failures: int = 0) -> None:
        self.failures = failures
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    failing = receiver.failures > 0
                    receiver.failures -= failing
                    status = 500 if failing else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.deliveries.append(Delivery(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.event for d in self.deliveries if d.status == 200]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` accepted events, once there are that many."""
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < count:
            assert time.monotonic() < deadline, f"{len(self.accepted())} of {count} events arrived"
            time.sleep(0.02)
        return self.accepted()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
