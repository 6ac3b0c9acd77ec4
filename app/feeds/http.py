"""The one guarded outbound HTTP client of newsmon.

``GuardedClient.fetch`` turns every network or HTTP problem into a ``FetchOutcome``;
it never raises for them. Guards, and why each exists (docs/RELIABILITY.md §1):

* SSRF: every connection goes through ``guard.GuardedBackend`` (resolve once, vet, dial
  the vetted IP), so redirects and keep-alive reuse are covered too.
* Redirects are followed here, not by httpx, so 3xx bodies are closed unread (httpx
  decodes them in full) and each hop gets the scheme and downgrade checks.
* Bodies are decoded here from ``aiter_raw()``: one content coding at most, inflated
  with a per-call output limit, so a gzip bomb never exceeds the cap in memory.
* One overall deadline wraps the fetch: httpx timeouts are per socket operation.
* Requests go straight to the guarded transport, not through ``httpx.AsyncClient``: no
  proxy (the environment's are never read), no cookie jar (feeds must not track each
  other), no auth.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any

import anyio
import certifi
import httpcore
import httpx

from app.core.errors import BlockedURL
from app.core.types import FetchKind, FetchOutcome
from app.feeds.guard import (
    ACCEPT_ENCODING,
    FetchPolicy,
    FetchRefused,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    check_url,
    read_capped_body,
    system_resolver,
    validate_url,
)
from app.feeds.pool import connection_pool

__all__ = [
    "Accept",
    "FetchPolicy",
    "GuardedClient",
    "GuardedTransport",
    "HopCheck",
    "check_url",
    "make_guarded_client",
    "parse_retry_after",
]

MAX_RETRY_AFTER = 7 * 24 * 3600.0
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_CODES = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)


# --- HTTP semantics --------------------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now`` (delta-seconds or HTTP-date), clamped to
    [0, 7 days]; None when absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


# Asked before following a redirect to a URL: why not (e.g. robots.txt), or None.
HopCheck = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Accept:
    """What a caller takes: the Accept header, the media types (empty: any), a cap
    (None: the policy's ``max_bytes``) and a check of every redirect target."""

    header: str
    types: frozenset[str] = frozenset()
    max_bytes: int | None = None
    hop_check: HopCheck | None = None


FEED_ACCEPT = Accept(ACCEPT)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass
class _Chain:
    """Where a fetch has got to; kept outside the deadline so a timeout can report it."""

    asked: str
    url: str
    visited: set[str] = field(default_factory=set)
    all_permanent: bool = True
    hops: int = 0
    accept: Accept = field(default_factory=lambda: FEED_ACCEPT)

    def advance(self, target: str, status: int) -> None:
        self.visited.add(self.url)
        self.url, self.hops = target, self.hops + 1
        self.all_permanent = self.all_permanent and status in PERMANENT_CODES

    def outcome(self, kind: FetchKind, **values: Any) -> FetchOutcome:
        # Only a usable answer is a reason to move the subscription.
        usable = kind in (FetchKind.OK, FetchKind.NOT_MODIFIED)
        permanent = self.url if usable and self.hops and self.all_permanent else None
        return FetchOutcome(
            kind=kind, url=self.asked, final_url=self.url, permanent_redirect=permanent, **values
        )


def _next_hop(response: httpx.Response, chain: _Chain, max_redirects: int) -> httpx.URL:
    location = response.headers.get("location", "")
    try:
        target = validate_url(response.url.join(location))
    except BlockedURL as exc:
        raise FetchRefused(FetchKind.BLOCKED, f"redirect to {location!r} refused: {exc}") from None
    except httpx.InvalidURL as exc:
        raise FetchRefused(FetchKind.REDIRECT_ERROR, f"bad redirect target: {exc}") from None
    if response.url.scheme == "https" and target.scheme == "http":
        raise FetchRefused(
            FetchKind.REDIRECT_ERROR, f"refused redirect from https to http ({target})"
        )
    if str(target) in chain.visited or str(target) == chain.url:
        raise FetchRefused(FetchKind.REDIRECT_ERROR, f"redirect loop: {target} was already visited")
    if chain.hops >= max_redirects:
        raise FetchRefused(
            FetchKind.REDIRECT_ERROR, f"too many redirects (more than {max_redirects})"
        )
    return target


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from, outermost first (as a traceback shows them)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        # httpcore wraps errors as ``ConnectError(original)`` with the cause suppressed.
        wrapped = next((a for a in current.args if isinstance(a, BaseException)), None)
        context = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or wrapped or context
    return chain


def _failure_message(exc: BaseException, policy: FetchPolicy) -> tuple[FetchKind, str]:
    """Classify a transport error and word it for a human reading the feed's log."""
    if isinstance(exc, BlockedURL):
        return FetchKind.BLOCKED, str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchKind.TIMEOUT, f"connect timed out after {policy.connect_timeout:g}s"
    if isinstance(exc, httpx.TimeoutException):
        return FetchKind.TIMEOUT, f"no data for {policy.read_timeout:g}s (read timeout)"
    causes = _causes(exc)
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return FetchKind.NETWORK_ERROR, f"TLS certificate rejected: {tls.verify_message}"
    if tls is not None:
        return FetchKind.NETWORK_ERROR, f"TLS error: {tls.reason or tls}"
    if isinstance(exc, httpx.ConnectError):
        return FetchKind.NETWORK_ERROR, f"could not connect: {causes[-1] or exc}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return FetchKind.NETWORK_ERROR, f"connection broken before the response was complete: {exc}"
    if isinstance(exc, httpx.ReadError):
        return FetchKind.NETWORK_ERROR, f"connection lost while reading the response: {exc}"
    return FetchKind.NETWORK_ERROR, f"network error: {exc or type(exc).__name__}"


class _HostLimiter:
    """At most ``per_host`` requests in flight per host; idle hosts are forgotten."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._slots: dict[str, tuple[anyio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def limit(self, host: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(host, (anyio.Semaphore(self._per_host), 0))
        self._slots[host] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[host]
            if users == 1:
                del self._slots[host]
            else:
                self._slots[host] = (semaphore, users - 1)


class GuardedClient:
    """All outbound HTTP of newsmon. Use as ``async with make_guarded_client(policy)``."""

    def __init__(self, policy: FetchPolicy, *, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        backend = GuardedBackend(policy, resolver=resolver)
        # The TLS context is built for the first https origin (~15 ms of CPU: it reads
        # the whole CA bundle), so a poll of http feeds never builds one.
        tls: list[ssl.SSLContext] = []

        def tls_context() -> ssl.SSLContext:
            if not tls:
                tls.append(ssl.create_default_context(cafile=policy.ca_file or certifi.where()))
            return tls[0]

        def origin_pool(ssl_context: ssl.SSLContext | None) -> httpcore.AsyncConnectionPool:
            return connection_pool(
                ssl_context=ssl_context,
                max_connections=policy.max_per_host,
                max_keepalive_connections=policy.max_per_host,
                keepalive_expiry=30.0,
                network_backend=backend,
            )

        self._transport = GuardedTransport(
            lambda: origin_pool(tls_context()),
            max_pools=policy.max_connections,
            make_plain_pool=lambda: origin_pool(None),
        )
        # Requests go straight to the transport, not through an ``httpx.AsyncClient``:
        # redirects are followed here, there is no auth, no proxy (the environment's are
        # never used) and no cookie (feeds must not track each other), and the client's
        # machinery for those cost about a fifth of a 304's CPU. Sent on every request
        # (with its own headers): what httpx's client sent by default, and ours.
        self._headers = {
            "accept": ACCEPT,
            "accept-encoding": ACCEPT_ENCODING,
            "connection": "keep-alive",
            "user-agent": policy.user_agent,
        }
        self._extensions = {
            "timeout": httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                pool=policy.deadline,
            ).as_dict()
        }
        self._global = anyio.Semaphore(policy.max_connections)
        self._hosts = _HostLimiter(policy.max_per_host)

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: Accept | None = None,
    ) -> FetchOutcome:
        """GET ``url`` under the policy; every failure is returned, never raised.

        ``accept`` (pages, robots.txt) replaces the feed defaults: the Accept header,
        the media types taken (any other is ``WRONG_TYPE``, its body unread) and a
        smaller body cap.
        """
        started = time.monotonic()
        chain = _Chain(asked=url, url=url, accept=accept or FEED_ACCEPT)
        try:
            parsed = validate_url(url)
            chain.url = str(parsed)
            # Queueing does not eat the deadline; the host slot comes first so that tasks
            # waiting for a busy host do not sit on global slots other hosts could use.
            async with self._hosts.limit(parsed.host), self._global:
                with anyio.fail_after(self.policy.deadline):
                    outcome = await self._follow(chain, parsed, etag, last_modified)
        except TimeoutError:
            message = f"overall deadline of {self.policy.deadline:g}s exceeded"
            outcome = chain.outcome(FetchKind.TIMEOUT, error=message)
        except FetchRefused as exc:
            outcome = chain.outcome(exc.kind, error=str(exc))
        except (BlockedURL, httpx.HTTPError, OSError) as exc:
            kind, message = _failure_message(exc, self.policy)
            outcome = chain.outcome(kind, error=message)
        return replace(outcome, elapsed_seconds=time.monotonic() - started)

    async def fetch_many(self, urls: Iterable[str]) -> list[FetchOutcome]:
        """Fetch concurrently (bounded by the policy); results in the order given."""
        wanted = list(urls)
        results: dict[int, FetchOutcome] = {}

        async def one(index: int, url: str) -> None:
            results[index] = await self.fetch(url)

        async with anyio.create_task_group() as group:
            for index, url in enumerate(wanted):
                group.start_soon(one, index, url)
        return [results[index] for index in range(len(wanted))]

    async def _follow(
        self, chain: _Chain, url: httpx.URL, etag: str | None, last_modified: str | None
    ) -> FetchOutcome:
        held_host = url.host
        headers = {
            "if-none-match": etag,
            "if-modified-since": last_modified,
            "accept": chain.accept.header,
        }
        sent = self._headers | {name: value for name, value in headers.items() if value}
        while True:
            request = httpx.Request("GET", url, headers=sent, extensions=self._extensions)
            host = url.host
            slot = self._hosts.limit(host) if host != held_host else contextlib.nullcontext()
            async with slot:
                try:
                    response = await self._transport.handle_async_request(request)
                    response.request = request
                except BlockedURL as exc:
                    if not chain.hops:
                        raise
                    # name the hop: the feed's own URL was fine, where it sent us was not
                    message = f"redirect to {chain.url} refused: {exc}"
                    raise FetchRefused(FetchKind.BLOCKED, message) from None
                try:
                    if response.status_code not in REDIRECT_CODES or not response.headers.get(
                        "location"
                    ):
                        return await self._finish(response, chain, etag, last_modified)
                    url = _next_hop(response, chain, self.policy.max_redirects)
                finally:
                    await response.aclose()  # a 3xx body is dropped unread, never decoded
            target = str(url)
            check = chain.accept.hop_check
            refusal = await check(target) if check is not None else None
            if refusal is not None:
                raise FetchRefused(FetchKind.DISALLOWED, f"redirect to {target} refused: {refusal}")
            chain.advance(target, response.status_code)

    async def _finish(
        self, response: httpx.Response, chain: _Chain, etag: str | None, last_modified: str | None
    ) -> FetchOutcome:
        status, got = response.status_code, response.headers
        common: dict[str, Any] = {
            "status": status,
            "headers": tuple((k.lower(), v) for k, v in got.multi_items()),
        }
        if status == 304:
            # A 304 never has a body (h11 frames it as zero bytes, whatever the headers
            # say): reading that nothing completes the exchange, so the connection
            # goes back to the pool instead of being closed; a warm poll reuses it.
            await response.aread()
            # A 304 may omit validators; the old ones then remain valid (RFC 9110 15.4.5).
            return chain.outcome(
                FetchKind.NOT_MODIFIED,
                etag=got.get("etag") or etag,
                last_modified=got.get("last-modified") or last_modified,
                **common,
            )
        if status == 410:
            return chain.outcome(FetchKind.GONE, error=_status_text(status), **common)
        if status in (429, 503):
            delay = parse_retry_after(got.get("retry-after"), datetime.now(UTC))
            return chain.outcome(
                FetchKind.RATE_LIMITED,
                error=_status_text(status),
                retry_after_seconds=delay,
                **common,
            )
        if not 200 <= status < 300:
            return chain.outcome(FetchKind.HTTP_ERROR, error=_status_text(status), **common)
        accept = chain.accept
        if accept.types and media_type(got.get("content-type")) not in accept.types:
            shown = media_type(got.get("content-type")) or "no Content-Type"
            return chain.outcome(FetchKind.WRONG_TYPE, error=f"not accepted: {shown}", **common)
        body = await read_capped_body(response, accept.max_bytes or self.policy.max_bytes)
        return chain.outcome(
            FetchKind.OK,
            body=body,
            etag=got.get("etag"),
            last_modified=got.get("last-modified"),
            **common,
        )


def make_guarded_client(
    policy: FetchPolicy, *, resolver: Resolver = system_resolver
) -> GuardedClient:
    """Build the client; ``resolver`` is a seam for tests (DNS answers), nothing else."""
    return GuardedClient(policy, resolver=resolver)
