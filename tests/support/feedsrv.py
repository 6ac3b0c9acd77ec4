"""A scripted HTTP(S) server on 127.0.0.1 for fetch and end-to-end tests.

Serves static files and scripted hostile routes (the catalogue in RELIABILITY.md §2.1)
and counts every connection and request, so a test can assert that a server received
nothing at all. Each request runs in its own daemon thread; ``close()`` releases the
routes that wait (``/stall``, ``/drip``) through ``stop``.

Routes: /feed.xml, /drip?interval=1, /stall, /reset, /truncated, /huge?mib=50, /bomb,
/bomb2, /bomb-redirect?to=..., /redirect?to=...&code=302, /chain/<n>?code=301, /loop,
/etag[?bare=1], /status/<code>?retry_after=..., /inflight?hold=0.3, /echo-headers.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from email.message import Message
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Handler = Callable[["FeedRequest"], None]

SAMPLE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Fixture feed</title><link>https://example.com/</link>
<description>newsmon test feed</description>
<item><title>First</title><link>https://example.com/1</link><guid>1</guid></item>
</channel></rss>
"""
RSS_TYPE = "application/rss+xml"
BOMB_MIB = 300


@cache
def gzip_bomb() -> bytes:
    """~300 KB of gzip that inflates to 300 MiB of zeros; built once per process."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_MIB)]
    return b"".join(parts) + compressor.flush()


@cache
def stacked_bomb() -> bytes:
    """The bomb gzipped again: a few hundred bytes, for ``Content-Encoding: gzip, gzip``."""
    return gzip.compress(gzip_bomb(), compresslevel=9)


class FeedRequest(BaseHTTPRequestHandler):
    """One request; route handlers receive it and answer with ``reply`` or raw writes."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    @property
    def feed_server(self) -> FeedServer:
        return self.server.owner

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.path).query))

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = RSS_TYPE,
    ) -> None:
        self.send_response(status)
        merged = {"Content-Type": content_type, "Content-Length": str(len(body))}
        merged.update(headers or {})
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        if body and status not in (204, 304):
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.feed_server.dispatch(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: FeedServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), FeedRequest)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        self.owner.note_connection()
        if self.tls is not None:
            # Handshake lazily in the request thread, so a bad client cannot block accept().
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-body is what these routes provoke


class FeedServer:
    """Loopback server: ``url(path)``, ``port``, ``hits(path)``, ``add_file``, ``add_route``."""

    def __init__(self, root: Path | None = None, *, tls: ssl.SSLContext | None = None) -> None:
        self.root = root
        self.scheme = "https" if tls is not None else "http"
        self.stop = threading.Event()
        self.connections = 0
        self.max_inflight = 0
        self._inflight = 0
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._requests: list[tuple[str, Message]] = []
        self._files: dict[str, tuple[bytes, str]] = {"/feed.xml": (SAMPLE_RSS, RSS_TYPE)}
        self._routes: dict[str, Handler] = dict(DEFAULT_ROUTES)
        self._httpd = _HTTPServer(self, tls)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/feed.xml", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def hits(self, path: str | None = None) -> int:
        """Requests received for ``path`` (query ignored), or in total."""
        with self._lock:
            return sum(self._hits.values()) if path is None else self._hits[path]

    def request_headers(self, path: str) -> list[Message]:
        with self._lock:
            return [headers for route, headers in self._requests if route == path]

    def add_file(self, path: str, body: bytes, content_type: str = RSS_TYPE) -> None:
        with self._lock:
            self._files[path] = (body, content_type)

    def add_route(self, path: str, handler: Handler) -> None:
        """Exact path, or a prefix when ``path`` ends with ``/`` (``/status/``)."""
        with self._lock:
            self._routes[path] = handler

    def note_connection(self) -> None:
        with self._lock:
            self.connections += 1

    @contextlib.contextmanager
    def inflight(self) -> Iterator[None]:
        """Count concurrent requests in the block (``max_inflight``) for limit tests."""
        with self._lock:
            self._inflight += 1
            self.max_inflight = max(self.max_inflight, self._inflight)
        try:
            yield
        finally:
            with self._lock:
                self._inflight -= 1

    def dispatch(self, request: FeedRequest) -> None:
        route = request.route
        with self._lock:
            self._hits[route] += 1
            self._requests.append((route, request.headers))
            found = self._files.get(route)
            handler = self._routes.get(route) or self._prefix_route(route)
        if found is not None:
            request.reply(200, found[0], content_type=found[1])
        elif handler is not None:
            handler(request)
        elif (path := self._static(route)) is not None:
            request.reply(200, path.read_bytes(), content_type=_guess_type(path))
        else:
            request.reply(404, b"not found", content_type="text/plain")

    def _prefix_route(self, route: str) -> Handler | None:
        prefixes = [p for p in self._routes if p.endswith("/") and route.startswith(p)]
        return self._routes[max(prefixes, key=len)] if prefixes else None

    def _static(self, route: str) -> Path | None:
        if self.root is None:
            return None
        path = (self.root / route.lstrip("/")).resolve()
        inside = path.is_relative_to(self.root.resolve())
        return path if inside and path.is_file() else None

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _guess_type(path: Path) -> str:
    return {".xml": RSS_TYPE, ".rss": RSS_TYPE, ".atom": "application/atom+xml"}.get(
        path.suffix, "application/octet-stream"
    )


# --- scripted routes ---------------------------------------------------------------------


def _start_close_delimited(request: FeedRequest, headers: dict[str, str]) -> None:
    """Status and headers for a body that ends when the connection does."""
    request.close_connection = True
    request.send_response(200)
    for name, value in {"Content-Type": RSS_TYPE, "Connection": "close", **headers}.items():
        request.send_header(name, value)
    request.end_headers()


def drip(request: FeedRequest) -> None:
    """One byte per ``interval`` seconds, forever: defeats per-read timeouts."""
    interval = float(request.query.get("interval", "1"))
    _start_close_delimited(request, {})
    while not request.feed_server.stop.wait(interval):
        request.wfile.write(b"<")
        request.wfile.flush()


def stall(request: FeedRequest) -> None:
    """Read the request, then never answer."""
    request.close_connection = True
    request.feed_server.stop.wait()


def reset(request: FeedRequest) -> None:
    """Promise 100 kB, send 1 kB, then reset the connection (RST, not FIN)."""
    request.send_response(200)
    request.send_header("Content-Length", "100000")
    request.end_headers()
    request.wfile.write(b"x" * 1024)
    request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    request.connection.close()
    request.close_connection = True


def truncated(request: FeedRequest) -> None:
    """Content-Length 1000, 100 bytes, clean close."""
    request.send_response(200)
    request.send_header("Content-Length", "1000")
    request.end_headers()
    request.wfile.write(SAMPLE_RSS[:100])
    request.close_connection = True


def huge(request: FeedRequest) -> None:
    """``mib`` MiB (default 50) of valid RSS, chunked, no Content-Length."""
    mib = int(request.query.get("mib", "50"))
    request.send_response(200)
    request.send_header("Content-Type", RSS_TYPE)
    request.send_header("Transfer-Encoding", "chunked")
    request.end_headers()
    item = b"<item><title>filler</title><guid>g</guid></item>\n" * 1300  # ~64 KiB
    parts = [b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>']
    parts += [item] * (mib * 16) + [b"</channel></rss>"]
    for part in parts:
        request.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        if request.feed_server.stop.is_set():
            return
    request.wfile.write(b"0\r\n\r\n")


def bomb(request: FeedRequest) -> None:
    request.reply(200, gzip_bomb(), {"Content-Encoding": "gzip"})


def bomb2(request: FeedRequest) -> None:
    request.reply(200, stacked_bomb(), {"Content-Encoding": "gzip, gzip"})


def bomb_redirect(request: FeedRequest) -> None:
    """A 302 whose body is a gzip bomb: a client that decodes 3xx bodies blows up."""
    target = request.query.get("to", "/feed.xml")
    request.reply(302, gzip_bomb(), {"Content-Encoding": "gzip", "Location": target})


def redirect(request: FeedRequest) -> None:
    code = int(request.query.get("code", "302"))
    request.reply(code, b"", {"Location": request.query.get("to", "/feed.xml")})


def chain(request: FeedRequest) -> None:
    """/chain/3 -> /chain/2 -> /chain/1 -> /chain/0 -> /feed.xml, all with ``code``."""
    left = int(request.route.rsplit("/", 1)[1])
    target = "/feed.xml" if left == 0 else f"/chain/{left - 1}"
    code = request.query.get("code", "301")
    query = f"?code={code}" if left else ""
    request.reply(int(code), b"", {"Location": target + query})


def loop(request: FeedRequest) -> None:
    request.reply(302, b"", {"Location": "/loop"})


ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"


def etag(request: FeedRequest) -> None:
    """Honours If-None-Match; ``?bare=1`` sends the 304 without validators."""
    validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    if request.headers.get("If-None-Match") == ETAG:
        request.reply(304, b"", {} if request.query.get("bare") else validators)
    else:
        request.reply(200, SAMPLE_RSS, validators)


def status(request: FeedRequest) -> None:
    """/status/<code>, with ``?retry_after=`` copied into Retry-After."""
    code = int(request.route.rsplit("/", 1)[1])
    headers = {}
    if "retry_after" in request.query:
        headers["Retry-After"] = request.query["retry_after"]
    request.reply(code, b"status body", headers, content_type="text/plain")


def inflight(request: FeedRequest) -> None:
    """Hold the request ``hold`` seconds while counting concurrent requests."""
    with request.feed_server.inflight():
        request.feed_server.stop.wait(float(request.query.get("hold", "0.3")))
    request.reply(200, SAMPLE_RSS)


def echo_headers(request: FeedRequest) -> None:
    body = "".join(f"{k}: {v}\n" for k, v in request.headers.items()).encode()
    request.reply(200, body, content_type="text/plain")


DEFAULT_ROUTES: dict[str, Handler] = {
    "/drip": drip,
    "/stall": stall,
    "/reset": reset,
    "/truncated": truncated,
    "/huge": huge,
    "/bomb": bomb,
    "/bomb2": bomb2,
    "/bomb-redirect": bomb_redirect,
    "/redirect": redirect,
    "/chain/": chain,
    "/loop": loop,
    "/etag": etag,
    "/status/": status,
    "/inflight": inflight,
    "/echo-headers": echo_headers,
}
