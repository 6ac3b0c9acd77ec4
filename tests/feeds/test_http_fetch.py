"""Fetch semantics against the loopback ``feedsrv``: validators, statuses, redirects,
deadlines, body caps, codings and TLS. Assertions are on outcomes, never on wall time."""

from __future__ import annotations

import gzip
import ssl
import zlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.core.types import FetchKind
from app.feeds import http as http_module
from app.feeds.http import FetchPolicy, make_guarded_client, parse_retry_after
from tests.support import feedsrv
from tests.support.feedsrv import FeedRequest, FeedServer

pytestmark = pytest.mark.anyio


async def test_a_plain_feed_is_fetched_with_our_user_agent(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url("/echo-headers"))
        feed = await client.fetch(feed_server.url("/feed.xml"))
    assert outcome.kind is FetchKind.OK
    (headers,) = feed_server.request_headers("/echo-headers")
    assert headers["User-Agent"] == feed_policy.user_agent
    assert headers["User-Agent"].startswith("newsmon/0.1")
    assert "+https://" in headers["User-Agent"]
    assert headers["Accept-Encoding"] in ("gzip, deflate", "gzip, deflate, br")
    assert headers.get("Cookie") is None
    assert feed.body == feedsrv.SAMPLE_RSS
    assert feed.header("content-type") == feedsrv.RSS_TYPE


async def test_conditional_get_returns_not_modified(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        first = await client.fetch(feed_server.url("/etag"))
        second = await client.fetch(
            feed_server.url("/etag"), etag=first.etag, last_modified=first.last_modified
        )
    assert (first.kind, first.etag, first.last_modified) == (
        FetchKind.OK,
        feedsrv.ETAG,
        feedsrv.LAST_MODIFIED,
    )
    assert second.kind is FetchKind.NOT_MODIFIED
    assert second.body is None
    sent = feed_server.request_headers("/etag")[1]
    assert sent["If-None-Match"] == feedsrv.ETAG
    assert sent["If-Modified-Since"] == feedsrv.LAST_MODIFIED


async def test_a_bare_304_keeps_the_old_validators(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(
            feed_server.url("/etag?bare=1"), etag=feedsrv.ETAG, last_modified="old-date"
        )
    assert outcome.kind is FetchKind.NOT_MODIFIED
    assert (outcome.etag, outcome.last_modified) == (feedsrv.ETAG, "old-date")


@pytest.mark.parametrize(
    ("path", "kind", "error", "retry_after"),
    [
        ("/status/404", FetchKind.HTTP_ERROR, "HTTP 404 Not Found", None),
        ("/status/500", FetchKind.HTTP_ERROR, "HTTP 500 Internal Server Error", None),
        ("/status/410", FetchKind.GONE, "HTTP 410 Gone", None),
        ("/status/429?retry_after=120", FetchKind.RATE_LIMITED, "HTTP 429 Too Many Requests", 120),
        ("/status/503?retry_after=junk", FetchKind.RATE_LIMITED, "HTTP 503", None),
        ("/status/503?retry_after=999999999", FetchKind.RATE_LIMITED, "HTTP 503", 7 * 86400),
        ("/status/300", FetchKind.HTTP_ERROR, "HTTP 300 Multiple Choices", None),
    ],
)
async def test_statuses_map_to_kinds(
    path: str,
    kind: FetchKind,
    error: str,
    retry_after: float | None,
    feed_server: FeedServer,
    feed_policy: FetchPolicy,
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(path))
    assert outcome.kind is kind
    assert outcome.error is not None
    assert outcome.error.startswith(error)
    assert outcome.retry_after_seconds == retry_after
    assert outcome.body is None


NOW = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        ("Wed, 01 May 2024 11:00:00 GMT", 3600.0),
        ("Wed, 01 May 2024 09:00:00 GMT", 0.0),  # past date: retry now
        ("Sun, 01 May 2034 10:00:00 GMT", 7 * 86400.0),  # ten years: clamped
        ("315360000", 7 * 86400.0),
        ("Wed, 32 May 2024 11:00:00 GMT", None),
    ],
)
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


async def test_redirect_chains_are_followed_and_permanent_ones_reported(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        moved = await client.fetch(feed_server.url("/chain/3?code=301"))
        mixed = await client.fetch(feed_server.url("/redirect?code=302&to=/chain/1"))
    assert moved.kind is FetchKind.OK
    assert moved.final_url == feed_server.url("/feed.xml")
    assert moved.permanent_redirect == feed_server.url("/feed.xml")
    assert moved.url == feed_server.url("/chain/3?code=301")
    assert mixed.kind is FetchKind.OK
    assert mixed.permanent_redirect is None


async def test_too_many_redirects(feed_server: FeedServer, feed_policy: FetchPolicy) -> None:
    policy = replace(feed_policy, max_redirects=3)
    async with make_guarded_client(policy) as client:
        within = await client.fetch(feed_server.url("/chain/2"))  # /chain/n is n + 1 hops
        beyond = await client.fetch(feed_server.url("/chain/3"))
    assert within.kind is FetchKind.OK
    assert beyond.kind is FetchKind.REDIRECT_ERROR
    assert beyond.error == "too many redirects (more than 3)"
    assert feed_server.hits("/feed.xml") == 1


async def test_redirect_loops_are_detected(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url("/loop"))
    assert outcome.kind is FetchKind.REDIRECT_ERROR
    assert "redirect loop" in (outcome.error or "")
    assert feed_server.hits("/loop") == 1


async def test_https_to_http_downgrade_is_refused(
    tls_feed_server: FeedServer, feed_server: FeedServer, ca_file: str
) -> None:
    target = feed_server.url("/feed.xml")
    policy = FetchPolicy(
        allowlist=(f"127.0.0.1:{tls_feed_server.port}", f"127.0.0.1:{feed_server.port}"),
        ca_file=ca_file,
    )
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(tls_feed_server.url(f"/redirect?to={target}"))
    assert outcome.kind is FetchKind.REDIRECT_ERROR
    assert "https to http" in (outcome.error or "")
    assert feed_server.connections == 0


async def test_a_trusted_certificate_works(tls_feed_server: FeedServer, ca_file: str) -> None:
    policy = FetchPolicy(allowlist=(f"127.0.0.1:{tls_feed_server.port}",), ca_file=ca_file)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(tls_feed_server.url("/feed.xml"))
    assert outcome.kind is FetchKind.OK


async def test_an_untrusted_ca_is_a_tls_error(tls_feed_server: FeedServer) -> None:
    policy = FetchPolicy(allowlist=(f"127.0.0.1:{tls_feed_server.port}",))
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(tls_feed_server.url("/feed.xml"))
    assert outcome.kind is FetchKind.NETWORK_ERROR
    assert "TLS certificate rejected" in (outcome.error or "")
    assert "issuer" in (outcome.error or "")
    assert tls_feed_server.hits() == 0


async def test_a_certificate_for_another_host_is_a_tls_error(
    wrong_host_tls_server: FeedServer, ca_file: str
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # feeds.test reaches the server; its cert names other.test

    policy = FetchPolicy(allowlist=(f"127.0.0.1:{wrong_host_tls_server.port}",), ca_file=ca_file)
    async with make_guarded_client(policy, resolver=resolver) as client:
        by_name = await client.fetch(wrong_host_tls_server.url("/feed.xml", host="feeds.test"))
        by_ip = await client.fetch(wrong_host_tls_server.url("/feed.xml"))
    assert by_name.kind is FetchKind.NETWORK_ERROR
    assert "Hostname mismatch" in (by_name.error or "")
    assert "feeds.test" in (by_name.error or "")
    assert "IP address mismatch" in (by_ip.error or "")
    assert wrong_host_tls_server.hits() == 0


async def test_a_slow_drip_ends_at_the_overall_deadline(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    # Each byte arrives well within the read timeout: only the overall deadline can end it.
    policy = replace(feed_policy, read_timeout=5, deadline=1)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/drip?interval=0.1"))
    assert outcome.kind is FetchKind.TIMEOUT
    assert outcome.error == "overall deadline of 1s exceeded"
    assert outcome.body is None


async def test_a_stalled_server_hits_the_read_timeout(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, read_timeout=0.3, deadline=5)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/stall"))
    assert outcome.kind is FetchKind.TIMEOUT
    assert "read timeout" in (outcome.error or "")


async def test_a_stalled_server_also_hits_the_overall_deadline(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, read_timeout=30, deadline=0.3)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/stall"))
    assert outcome.kind is FetchKind.TIMEOUT
    assert "overall deadline" in (outcome.error or "")


@pytest.mark.parametrize(
    ("path", "message"),
    [("/reset", "connection lost"), ("/truncated", "received 100 bytes, expected 1000")],
)
async def test_broken_bodies_are_network_errors(
    path: str, message: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(path))
    assert outcome.kind is FetchKind.NETWORK_ERROR
    assert message in (outcome.error or "")
    assert outcome.body is None


async def test_a_huge_chunked_body_is_too_large(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, max_bytes=1024 * 1024)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/huge"))
    assert outcome.kind is FetchKind.TOO_LARGE
    assert outcome.error == "body exceeds the cap of 1048576 bytes"
    assert outcome.body is None


def _announce_and_stall(request: FeedRequest) -> None:
    request.send_response(200)
    request.send_header("Content-Length", str(50 * 1024 * 1024))
    request.end_headers()
    request.close_connection = True
    request.feed_server.stop.wait()


async def test_content_length_over_the_cap_is_refused_before_reading(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    # The body never comes: reading it would end in a timeout, not TOO_LARGE.
    feed_server.add_route("/announced", _announce_and_stall)
    policy = replace(feed_policy, max_bytes=1024 * 1024, read_timeout=30, deadline=30)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/announced"))
    assert outcome.kind is FetchKind.TOO_LARGE
    assert "Content-Length 52428800 exceeds the cap" in (outcome.error or "")


@pytest.fixture(scope="module")
def bombs() -> None:
    feedsrv.gzip_bomb()  # build once up front so no fetch waits on the server
    feedsrv.stacked_bomb()


@pytest.mark.usefixtures("bombs")
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/bomb", "decompressed size exceeds the cap of 1048576 bytes"),
        ("/bomb2", "stacked content codings are refused"),
    ],
)
async def test_compression_bombs_are_too_large(
    path: str, message: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, max_bytes=1024 * 1024)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url(path))
    assert outcome.kind is FetchKind.TOO_LARGE
    assert outcome.error == message


@pytest.mark.usefixtures("bombs")
async def test_a_redirect_body_is_never_read(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    # A cap of 1 KiB: decoding even the first read of the 3xx bomb would exceed it.
    policy = replace(feed_policy, max_bytes=1024)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/bomb-redirect?to=/feed.xml"))
    assert outcome.kind is FetchKind.OK
    assert outcome.body == feedsrv.SAMPLE_RSS


def _encoded(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    if coding == "raw-deflate":
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush()
    return body


@pytest.mark.parametrize(
    ("coding", "header"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("raw-deflate", "deflate"),
        ("identity", "identity"),
        ("gzip", "GZip"),
    ],
)
async def test_single_content_codings_are_decoded(
    coding: str, header: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    payload = _encoded(feedsrv.SAMPLE_RSS, coding)

    def route(request: FeedRequest) -> None:
        request.reply(200, payload, {"Content-Encoding": header})

    feed_server.add_route("/encoded", route)
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url("/encoded"))
    assert outcome.kind is FetchKind.OK
    assert outcome.body == feedsrv.SAMPLE_RSS


@pytest.mark.parametrize(
    ("header", "kind", "message"),
    [
        ("zstd", FetchKind.HTTP_ERROR, "unsupported content coding 'zstd'"),
        ("gzip", FetchKind.HTTP_ERROR, "corrupt gzip body"),
        ("deflate, gzip", FetchKind.TOO_LARGE, "stacked content codings are refused"),
    ],
)
async def test_bad_content_codings_are_refused(
    header: str, kind: FetchKind, message: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    def route(request: FeedRequest) -> None:
        request.reply(200, b"not compressed at all", {"Content-Encoding": header})

    feed_server.add_route("/encoded", route)
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url("/encoded"))
    assert outcome.kind is kind
    assert (outcome.error or "").startswith(message)


async def test_requests_per_host_are_limited(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, max_per_host=2, max_connections=10)
    async with make_guarded_client(policy) as client:
        outcomes = await client.fetch_many([feed_server.url("/inflight?hold=0.2")] * 6)
    assert [o.kind for o in outcomes] == [FetchKind.OK] * 6
    assert feed_server.max_inflight <= 2


async def test_requests_overall_are_limited(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    policy = replace(feed_policy, max_per_host=4, max_connections=1)
    async with make_guarded_client(policy) as client:
        outcomes = await client.fetch_many([feed_server.url("/inflight?hold=0.1")] * 3)
    assert all(o.ok for o in outcomes)
    assert feed_server.max_inflight == 1


async def test_waiting_for_a_busy_host_does_not_count_against_the_deadline(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    # Six fetches of 0.2 s queue for 1.2 s in all, each well inside its own 1 s deadline.
    policy = replace(feed_policy, max_per_host=1, deadline=1)
    async with make_guarded_client(policy) as client:
        outcomes = await client.fetch_many([feed_server.url("/inflight?hold=0.2")] * 6)
    assert [o.kind for o in outcomes] == [FetchKind.OK] * 6


async def test_unresolvable_hosts_and_refused_connections_are_network_errors(
    feed_policy: FetchPolicy,
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        if host == "nowhere.test":
            raise OSError("Name or service not known")
        return ["127.0.0.1"]

    with FeedServer() as closed:
        port = closed.port  # nothing listens here once the server is closed
    policy = replace(feed_policy, allowlist=(f"127.0.0.1:{port}",))
    async with make_guarded_client(policy, resolver=resolver) as client:
        unresolved = await client.fetch("http://nowhere.test/feed.xml")
        refused = await client.fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert unresolved.kind is FetchKind.NETWORK_ERROR
    assert "cannot resolve host 'nowhere.test'" in (unresolved.error or "")
    assert refused.kind is FetchKind.NETWORK_ERROR
    assert "Connect call failed" in (refused.error or "")


async def test_a_304_leaves_the_connection_open_for_the_next_poll(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    """A warm poll is mostly 304s: each must not cost a new TCP connection."""
    async with make_guarded_client(feed_policy) as client:
        first = await client.fetch(feed_server.url("/etag"))
        again = [await client.fetch(feed_server.url("/etag"), etag=first.etag) for _ in range(5)]
    assert [o.kind for o in again] == [FetchKind.NOT_MODIFIED] * 5
    assert feed_server.hits("/etag") == 6
    assert feed_server.connections == 1


async def test_idle_connections_to_other_sites_are_closed_beyond_the_limit(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    """Connections are kept per site, and at most ``max_connections`` sites' worth:
    polling thousands of feeds must not hold thousands of idle sockets."""
    with FeedServer() as other:
        origins = [
            feed_server.url(),
            other.url(),
            feed_server.url(host="localhost"),
            other.url(host="localhost"),
        ]
        allowed = (*feed_policy.allowlist, f"127.0.0.1:{other.port}")
        policy = replace(feed_policy, max_connections=2, allowlist=allowed)
        async with make_guarded_client(policy) as client:
            for url in [origins[0], origins[1], origins[0], origins[1]]:
                assert (await client.fetch(url)).ok
            reused = feed_server.connections + other.connections
            for url in [origins[2], origins[3], origins[0]]:  # the oldest site was dropped
                assert (await client.fetch(url)).ok
        assert reused == 2  # two sites, one connection each, reused
        assert feed_server.connections + other.connections == 5


async def test_cookies_are_never_sent_back_even_on_redirects(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    def set_cookie(request: FeedRequest) -> None:
        headers = {"Set-Cookie": "track=1; Path=/", "Location": "/echo-headers"}
        request.reply(302, b"", headers)

    feed_server.add_route("/set-cookie", set_cookie)
    async with make_guarded_client(feed_policy) as client:
        first = await client.fetch(feed_server.url("/set-cookie"))
        again = await client.fetch(feed_server.url("/echo-headers"))
    assert (first.kind, again.kind) == (FetchKind.OK, FetchKind.OK)
    for sent in feed_server.request_headers("/echo-headers"):
        assert sent.get("Cookie") is None
        assert sent["Connection"] == "keep-alive"
        assert sent["Host"] == f"127.0.0.1:{feed_server.port}"


async def test_a_client_builds_its_tls_context_for_https_only(
    monkeypatch: pytest.MonkeyPatch,
    tls_feed_server: FeedServer,
    feed_server: FeedServer,
    ca_file: str,
) -> None:
    # Building one reads the whole CA bundle: a poll of http feeds never needs it.
    built: list[object] = []
    real = http_module.ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        context = real(*args, **kwargs)  # type: ignore[arg-type]
        built.append(context)
        return context

    monkeypatch.setattr(http_module.ssl, "create_default_context", counting)
    policy = FetchPolicy(
        allowlist=(f"127.0.0.1:{tls_feed_server.port}", f"127.0.0.1:{feed_server.port}"),
        ca_file=ca_file,
    )

    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # localhost: a second https origin on the same server

    async with make_guarded_client(policy, resolver=resolver) as client:
        plain = await client.fetch(feed_server.url("/feed.xml"))
        assert plain.kind is FetchKind.OK
        assert built == []
        secure = [await client.fetch(tls_feed_server.url("/feed.xml")) for _ in range(2)]
        other = await client.fetch(tls_feed_server.url("/feed.xml", host="localhost"))
    assert [o.kind for o in [*secure, other]] == [FetchKind.OK] * 3
    assert len(built) == 1  # one context for every https origin of the client
