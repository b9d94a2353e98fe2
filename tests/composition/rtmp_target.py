"""A real RTMP server for composition tests: Debian's nginx with the RTMP module, on 127.0.0.1, recording every stream.

nginx runs in the foreground with its own configuration, logs and pid file in a temporary
folder; streams pushed to ``rtmp://127.0.0.1:PORT/live/NAME`` are recorded to ``NAME.flv``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = "/usr/sbin/nginx"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

CONFIG = """
load_module {module};
daemon off;
master_process on;
worker_processes 1;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
    server {{
        listen 127.0.0.1:{port};
        application live {{
            live on;
            record all;
            record_path {records};
            record_unique off;
        }}
    }}
}}
"""


@dataclass
class RtmpTarget:
    port: int
    records: Path

    def url(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    def recording(self, name: str) -> Path:
        return self.records / f"{name}.flv"


def available() -> bool:
    return Path(NGINX).exists() and Path(RTMP_MODULE).exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nginx_rtmp(folder: Path) -> Iterator[RtmpTarget]:
    records = folder / "records"
    records.mkdir(parents=True)
    records.chmod(0o777)
    port = free_port()
    config = folder / "nginx.conf"
    config.write_text(CONFIG.format(module=RTMP_MODULE, folder=folder, port=port, records=records))
    process = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                    raise RuntimeError(
                        f"nginx-rtmp did not start: {process.stderr.read() if process.stderr else ''}{log}"
                    ) from None
                time.sleep(0.1)
        yield RtmpTarget(port, records)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder / "client_body_temp", ignore_errors=True)
