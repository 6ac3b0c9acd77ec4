"""The guards under ``feeds.http``: which addresses may be dialled, how far a body may grow.

One address rule (``address_refusal``) serves two callers: ``check_url`` at subscribe
time, and ``GuardedBackend.connect_tcp`` at every connection of every fetch. The
backend resolves the host once, vets each address and connects to the vetted IP
literal, so a second DNS answer (rebinding) can never be the one dialled; TLS SNI and
the Host header still carry the name. Hostname strings are never trusted: ``127.1``,
``2130706433`` and friends are only judged after ``getaddrinfo`` has turned them into
addresses.

This module does not send requests, follow redirects or read bodies (``feeds.http``).
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import socket
import ssl
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpcore
import httpx

# The readability check httpcore's own streams answer with (its anyio backend's).
from httpcore._utils import is_socket_readable

from app import __version__
from app.core.errors import BlockedURL, InvalidInput
from app.core.types import FetchKind

if TYPE_CHECKING:
    from app.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> addresses as strings; a seam so tests can simulate DNS answers.
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")
PROJECT_URL = "https://github.com/newsmon/newsmon"
DEFAULT_USER_AGENT = f"newsmon/{__version__} (+{PROJECT_URL})"


def user_agent(contact_url: str = "") -> str:
    """The stable User-Agent: product token, version and where to reach us."""
    contact = "".join(c for c in contact_url.strip() if c.isprintable() and c not in "()")
    return f"newsmon/{__version__} (+{contact or PROJECT_URL})"


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_SETTING = "private networks are not allowed (NEWSMON_ALLOW_PRIVATE_NETWORKS)"


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for all outbound HTTP; built from settings, shared by every fetch."""

    allow_private_networks: bool = False
    # "10.0.0.0/8" (CIDR) or "127.0.0.1:8123" (address:port); these pass the address rule.
    allowlist: tuple[str, ...] = ()
    max_bytes: int = 10 * 1024 * 1024  # decoded body
    connect_timeout: float = 10
    read_timeout: float = 20
    deadline: float = 30  # the whole fetch: every hop, headers and body
    max_redirects: int = 5
    max_connections: int = 100
    max_per_host: int = 4
    user_agent: str = DEFAULT_USER_AGENT
    # Extra trust anchors (PEM file) instead of certifi's bundle; admin-only.
    ca_file: str | None = None


# How a failed name look-up reads in a fetch's error (the extraction queue recognises it:
# a name that does not resolve fails every origin of that host).
UNRESOLVED = "cannot resolve host"


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve like the C library does, so every odd IPv4 spelling is normalised."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address really reaches (mapped, NAT64, 6to4)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def _kind(ip: IPAddress) -> str | None:
    """Name the first rule that makes ``ip`` non-public, or None when it is public."""
    checks = (
        (ip.is_unspecified, "an unspecified"),
        (ip.is_loopback, "a loopback"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a shared (CGNAT)"),
        (ip.is_private, "a private"),
        (ip.is_reserved, "a reserved"),
        (not ip.is_global, "a non-global"),
    )
    return next((name for hit, name in checks if hit), None)


def _allowlisted(ip: IPAddress, port: int, allowlist: Iterable[str]) -> bool:
    for entry in allowlist:
        if "/" in entry:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
            continue
        host, _, entry_port = entry.rpartition(":")
        same_port = entry_port.isdigit() and int(entry_port) == port
        if same_port and ipaddress.ip_address(host.strip("[]")) == ip:
            return True
    return False


def fetch_policy(settings: Settings) -> FetchPolicy:
    """The limits every outbound request obeys, from the administrator's settings."""
    return FetchPolicy(
        allow_private_networks=settings.allow_private_networks,
        allowlist=tuple(settings.fetch_allowlist),
        max_bytes=settings.max_feed_bytes,
        deadline=settings.fetch_deadline_seconds,
        max_connections=settings.fetch_concurrency,
        max_per_host=settings.fetch_per_host,
        user_agent=user_agent(settings.contact_url),
    )


def address_refusal(address: str, port: int, policy: FetchPolicy) -> str | None:
    """Why ``address:port`` may not be dialled under ``policy``, or None if it may."""
    raw = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    inner = _embedded_ipv4(raw)
    candidates = [raw] if inner is None else [raw, inner]
    if policy.allow_private_networks or any(
        _allowlisted(ip, port, policy.allowlist) for ip in candidates
    ):
        return None
    ip = raw if inner is None else inner  # an embedded IPv4 is what the packets reach
    kind = _kind(ip)
    if kind is not None:
        shown = address if inner is None else f"{address} ({inner})"
        return f"{shown} is {kind} address; {_SETTING}"
    return None


def validate_url(url: str | httpx.URL) -> httpx.URL:
    """Check the URL's shape (scheme, host, no credentials) without any I/O."""
    text = str(url)
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise BlockedURL(f"invalid URL {text!r}: {exc}", field="url") from None
    if parsed.scheme not in ALLOWED_SCHEMES:
        what = f"scheme {parsed.scheme!r}" if parsed.scheme else "a bare path"
        raise BlockedURL(f"only http and https URLs are allowed, got {what}", field="url")
    if not parsed.host:
        raise BlockedURL(f"URL {text!r} has no host", field="url")
    if parsed.userinfo:
        raise BlockedURL("credentials in URLs are not allowed", field="url")
    return parsed.copy_with(fragment=None) if "#" in text else parsed


def check_url(url: str, policy: FetchPolicy, *, resolver: Resolver = system_resolver) -> str:
    """Validate a URL at subscribe time; return it normalised or raise ``BlockedURL``.

    Polling re-checks at connect time, so this is early feedback, not the guard itself.
    A host that does not resolve raises ``InvalidInput`` (not a guard refusal).
    """
    parsed = validate_url(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolver(parsed.host, port)
    except OSError as exc:
        raise InvalidInput(f"cannot resolve host {parsed.host!r}: {exc}", field="url") from None
    refusals = [address_refusal(address, port, policy) for address in addresses]
    if all(refusals):  # every address refused, or none at all
        raise BlockedURL(next(filter(None, refusals), f"{parsed.host} has no address"))
    return str(parsed)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Dial only vetted addresses: resolve once, check, connect to the IP literal."""

    def __init__(
        self,
        policy: FetchPolicy,
        *,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._resolve(host, port, timeout)
        allowed = [a for a in addresses if address_refusal(a, port, self._policy) is None]
        if not allowed:
            reason = address_refusal(addresses[0], port, self._policy) if addresses else None
            raise BlockedURL(reason or f"{host} has no address")
        last_error: Exception | None = None
        for address in allowed:  # fall back like happy eyeballs, but only to vetted IPs
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
                return _SocketCached(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def _resolve(self, host: str, port: int, limit: float | None) -> list[str]:
        try:
            with anyio.fail_after(limit):
                # A cancelled lookup is abandoned: getaddrinfo cannot be interrupted.
                return await anyio.to_thread.run_sync(
                    self._resolver, host, port, abandon_on_cancel=True
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{UNRESOLVED} {host!r}: {exc}") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedURL("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SocketCached(httpcore.AsyncNetworkStream):
    """A stream whose raw socket is looked up once.

    httpcore asks every pooled connection "is_readable" (has the server closed it?)
    each time it assigns a request, several times per request; anyio answers by
    building a dict of the socket's attributes, with a ``getpeername`` system call,
    every time. Here the socket is found once per connection (TLS keeps it) and the
    answer is httpcore's own readability check on it."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, sock: Any = None) -> None:
        self._inner = inner
        self._socket = sock if sock is not None else inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _SocketCached(tls, self._socket)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's errors as httpx's classes of the same name."""
    try:
        yield
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        mapped = getattr(httpx, type(exc).__name__, httpx.TransportError)
        raise mapped(str(exc)) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._inner:
                yield part

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over httpcore pools, one pool per origin.

    It exists because httpx's own transport takes no ``network_backend``. One pool
    per origin because httpcore's pool matches every queued request against every
    connection it holds, checking each idle socket: with a hundred connections to
    fifty hosts that is quadratic and costs milliseconds of CPU per request, which
    is most of a warm poll. Per origin each pool holds at most the per-host limit.
    Pools beyond ``max_pools`` are closed least recently used first, once idle.
    """

    def __init__(
        self,
        make_pool: Callable[[], httpcore.AsyncConnectionPool],
        max_pools: int,
        *,
        make_plain_pool: Callable[[], httpcore.AsyncConnectionPool] | None = None,
    ):
        """``make_plain_pool``, if given, makes the pools of ``http://`` origins (which
        need no TLS context: building one reads the whole CA bundle)."""
        self._make_pool = make_pool
        self._make_plain_pool = make_plain_pool or make_pool
        self._max_pools = max_pools
        self._pools: OrderedDict[tuple[bytes, bytes, int | None], httpcore.AsyncConnectionPool]
        self._pools = OrderedDict()

    def _pool_for(self, url: httpx.URL) -> httpcore.AsyncConnectionPool:
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            make = self._make_plain_pool if url.raw_scheme == b"http" else self._make_pool
            pool = self._pools[key] = make()
        self._pools.move_to_end(key)
        return pool

    async def _evict_idle(self) -> None:
        surplus = len(self._pools) - self._max_pools
        if surplus <= 0:
            return
        for key in list(self._pools)[:-1]:  # oldest first; never the newest
            if surplus <= 0:
                return
            pool = self._pools.get(key)
            # Checked and removed with no await between: a task that took this pool has
            # already queued on it (not idle), and after removal no task can take it.
            if pool is None or not all(c.is_idle() for c in pool.connections):
                continue
            del self._pools[key]
            surplus -= 1
            await pool.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        # Evict first: between choosing the pool and queueing the request on it (which
        # httpcore does before its first await) no other task may close that pool.
        await self._evict_idle()
        pool = self._pool_for(request.url)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


# --- bounded bodies ---------------------------------------------------------------------


def _load_brotli() -> Any:
    """The brotli module, only if it can bound its output per call (brotli >= 1.2)."""
    try:
        module = importlib.import_module("brotli")
    except ImportError:
        return None
    return module if hasattr(module.Decompressor, "can_accept_more_data") else None


_BROTLI = _load_brotli()
ACCEPT_ENCODING = "gzip, deflate, br" if _BROTLI is not None else "gzip, deflate"


class FetchRefused(Exception):
    """Ends a fetch early with the given outcome kind; ``feeds.http`` turns it into data."""

    def __init__(self, kind: FetchKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class BoundedDecoder:
    """Decode one content coding incrementally, never holding more than ``cap`` bytes."""

    def __init__(self, coding: str, cap: int) -> None:
        self._coding, self._cap, self._total = coding, cap, 0
        self._zlib: Any = None
        self._brotli: Any = None
        if coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj()
        elif coding == "br" and _BROTLI is not None:
            self._brotli = _BROTLI.Decompressor()
        elif coding != "identity":
            raise FetchRefused(FetchKind.HTTP_ERROR, f"unsupported content coding {coding!r}")

    def feed(self, data: bytes) -> bytes:
        if self._zlib is not None:
            return self._inflate(data)
        if self._brotli is not None:
            return self._unbrotli(data)
        return self._count(data)

    def _count(self, piece: bytes) -> bytes:
        self._total += len(piece)
        if self._total > self._cap:
            what = "body" if self._coding == "identity" else "decompressed size"
            raise FetchRefused(FetchKind.TOO_LARGE, f"{what} exceeds the cap of {self._cap} bytes")
        return piece

    def _inflate(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            try:
                piece = self._zlib.decompress(data, self._cap - self._total + 1)
            except zlib.error as exc:
                if self._coding == "deflate" and self._total == 0 and not out:
                    # Many servers send raw deflate under "deflate"; retry headerless.
                    self._zlib, self._coding = zlib.decompressobj(-zlib.MAX_WBITS), "raw deflate"
                    continue
                raise FetchRefused(
                    FetchKind.HTTP_ERROR, f"corrupt {self._coding} body: {exc}"
                ) from None
            out += self._count(piece)
            data = self._zlib.unconsumed_tail
        return bytes(out)

    def _unbrotli(self, data: bytes) -> bytes:
        out = bytearray()
        limit = self._cap - self._total + 1
        out += self._count(self._brotli.process(data, output_buffer_limit=limit))
        while not self._brotli.can_accept_more_data():
            limit = self._cap - self._total + 1
            out += self._count(self._brotli.process(b"", output_buffer_limit=limit))
        return bytes(out)


def decoder_for(response: httpx.Response, cap: int) -> BoundedDecoder:
    codings = [
        c.strip().lower()
        for c in response.headers.get_list("content-encoding", split_commas=True)
        if c.strip() and c.strip().lower() != "identity"
    ]
    if len(codings) > 1:
        # Each extra layer multiplies a bomb (661 bytes -> 300 MB with gzip, gzip).
        raise FetchRefused(FetchKind.TOO_LARGE, "stacked content codings are refused")
    return BoundedDecoder(codings[0] if codings else "identity", cap)


async def read_capped_body(response: httpx.Response, cap: int) -> bytes:
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > cap:
        raise FetchRefused(FetchKind.TOO_LARGE, f"Content-Length {length} exceeds the cap of {cap}")
    decoder = decoder_for(response, cap)
    raw = BoundedDecoder("identity", cap)  # the wire size is capped too
    body = bytearray()
    async for chunk in response.aiter_raw():
        raw.feed(chunk)
        body += decoder.feed(chunk)
    return bytes(body)
