"""A loopback feed server for benchmarks: static bodies, conditional GET, latency,
and as many 127.0.0.x addresses as asked (so per-host limits apply as on the web).

    with BenchFeedServer(bodies, hosts=50, latency=0.1) as server:
        urls = server.urls()          # spread round-robin over the addresses
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; without this every 200 waits for the
    # client's delayed ACK (~40 ms), as the peer harness's README explains.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        body = owner.bodies.get(self.path.split("?", 1)[0])
        with owner.lock:
            owner.requests += 1
        if body is None:
            self._reply(404, b"not found", {})
            return
        tag = owner.etags[self.path.split("?", 1)[0]]
        if self.headers.get("If-None-Match") == tag:
            with owner.lock:
                owner.not_modified += 1
            self._reply(304, b"", {"ETag": tag})
            return
        self._reply(200, body, {"ETag": tag, "Content-Type": "application/rss+xml"})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body and status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, owner: BenchFeedServer, address: str, port: int) -> None:
        self.owner = owner
        super().__init__((address, port), _Handler)


class BenchFeedServer:
    def __init__(self, bodies: dict[str, bytes], *, hosts: int = 1, latency: float = 0.0) -> None:
        self.bodies = bodies
        self.etags = {path: etag_of(body) for path, body in bodies.items()}
        self.latency = latency
        self.lock = threading.Lock()
        self.requests = 0
        self.not_modified = 0
        first = _Server(self, "127.0.0.1", 0)
        self.port = first.server_address[1]
        self._servers = [first] + [
            _Server(self, f"127.0.0.{n}", self.port) for n in range(2, hosts + 1)
        ]
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self._servers
        ]
        for thread in self._threads:
            thread.start()

    def urls(self) -> list[str]:
        hosts = len(self._servers)
        return [
            f"http://127.0.0.{i % hosts + 1}:{self.port}{path}"
            for i, path in enumerate(self.bodies)
        ]

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> BenchFeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
