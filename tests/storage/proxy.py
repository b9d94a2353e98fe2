"""A TCP proxy on 127.0.0.1 that can be told to fail: S3 trouble made for real, in front of a real server."""

from __future__ import annotations

import socket
import threading


class FlakyProxy:
    """Forwards connections to ``target_port``; while ``failing``, each new connection is cut at once
    and connections in flight are cut too, as a network outage or a crashing server would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.failing = False
        self.refused = 0  # connections cut while failing
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def fail(self) -> None:
        self.failing = True
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def recover(self) -> None:
        self.failing = False

    def close(self) -> None:
        self._listener.close()
        self.fail()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.failing:
                self.refused += 1
                _close(client)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self.failing:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
