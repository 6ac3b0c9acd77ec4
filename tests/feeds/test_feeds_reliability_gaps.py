"""Rows of RELIABILITY.md §1, §2.1-2.3 that had no test, or only one that would pass
without the guard (docs/reliability-coverage.md maps every row to its tests).

Fetch-level and parse-level only: real loopback sockets, real feedparser, no mocks.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.core.types import FetchKind
from app.feeds.http import FetchPolicy, make_guarded_client
from app.feeds.parse import parse_feed
from tests.support.feedsrv import SAMPLE_RSS, FeedRequest, FeedServer

pytestmark = pytest.mark.anyio

NOW = datetime(2024, 6, 1, tzinfo=UTC)
URL = "https://example.com/feed.xml"


# --- §1 finding 3: feedparser gets a file object, never something it could fetch ---------


def test_a_body_that_is_a_url_is_never_fetched(sentinel_server: FeedServer) -> None:
    # The sentinel serves a valid feed: had feedparser fetched the URL, it would have
    # found entries instead of reporting "not a feed", and the sentinel would know.
    body = sentinel_server.url("/feed.xml").encode()
    feed = parse_feed(body, url=URL, now=NOW)
    assert feed.error is not None and feed.error.startswith("not a feed")
    assert feed.entries == ()
    assert sentinel_server.connections == 0


# --- §1 finding 5 / §2.1 slow drip: a drip that would finish still ends at the deadline ----


def _finite_drip(request: FeedRequest) -> None:
    """The sample feed, its last 30 bytes one per 0.1 s: each read is quick, the whole
    is not. Unlike ``/drip`` it ends, so a client without an overall deadline gets an
    answer (and this test a clean failure) instead of hanging."""
    request.close_connection = True
    request.send_response(200)
    request.send_header("Content-Type", "application/rss+xml")
    request.send_header("Connection", "close")
    request.end_headers()
    head, tail = SAMPLE_RSS[:-30], SAMPLE_RSS[-30:]
    request.wfile.write(head)
    for byte in tail:
        if request.feed_server.stop.wait(0.1):
            return
        request.wfile.write(bytes([byte]))
        request.wfile.flush()


async def test_a_drip_that_would_finish_still_ends_at_the_overall_deadline(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    feed_server.add_route("/finite-drip", _finite_drip)
    policy = replace(feed_policy, read_timeout=5, deadline=1)  # every read beats 5 s
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(feed_server.url("/finite-drip"))
    assert outcome.kind is FetchKind.TIMEOUT
    assert outcome.error == "overall deadline of 1s exceeded"
    assert outcome.body is None


# --- §2.3 external entities and DTDs never reach the network -----------------------------


EXTERNAL_REFERENCES = {
    "general-entity": (
        '<!DOCTYPE rss [<!ENTITY leak SYSTEM "{base}/xxe">]>',
        "<title>before &leak; after</title>",
    ),
    "parameter-entity": (
        '<!DOCTYPE rss [<!ENTITY % leak SYSTEM "{base}/xxe"> %leak;]>',
        "<title>before after</title>",
    ),
    "external-dtd": ('<!DOCTYPE rss SYSTEM "{base}/xxe">', "<title>before after</title>"),
}


@pytest.mark.parametrize("case", sorted(EXTERNAL_REFERENCES))
def test_external_entities_and_dtds_are_never_fetched(
    case: str, sentinel_server: FeedServer
) -> None:
    sentinel_server.add_file("/xxe", b"LEAKED-FROM-THE-SENTINEL", "text/plain")
    doctype, title = EXTERNAL_REFERENCES[case]
    body = (
        '<?xml version="1.0"?>'
        + doctype.format(base=sentinel_server.url("").rstrip("/"))
        + '<rss version="2.0"><channel><title>x</title><item>'
        + title
        + "<link>https://example.com/1</link></item></channel></rss>"
    ).encode()
    feed = parse_feed(body, url=URL, now=NOW)
    assert feed.error is None
    assert [e.url for e in feed.entries] == ["https://example.com/1"]
    assert "LEAKED" not in repr(feed)
    assert sentinel_server.connections == 0


# --- §2.3 malformed XML that still yields entries ----------------------------------------

_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
    "<title>Broken</title><link>https://example.com/</link>"
)
_FIRST = "<item><title>First</title><link>https://example.com/1</link><description>one</description></item>"
_SECOND = "<item><title>Second</title><link>https://example.com/2</link><description>two</description></item>"
_TAIL = "</channel></rss>"
MALFORMED = {
    "unclosed-tags": (
        _HEAD + _FIRST + "<item><title>Second<link>https://example.com/2</link><b>x</item>" + _TAIL,
        "mismatched tag",
        ["First"],
    ),
    "bad-entities": (
        _HEAD + _FIRST + _SECOND.replace("two", "two &nbsp; &bogus; AT&T") + _TAIL,
        "undefined entity",
        ["First", "Second"],
    ),
    "junk-after-root": (
        _HEAD + _FIRST + _SECOND + _TAIL + "<junk>trailing</junk> garbage",
        "junk after document element",
        ["First", "Second"],
    ),
    "truncated-file": (
        (_HEAD + _FIRST + _SECOND + _TAIL)[:-40],
        "no element found",
        ["First", "Second"],
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_xml_keeps_the_recovered_entries_and_names_the_problem(case: str) -> None:
    body, reason, titles = MALFORMED[case]
    feed = parse_feed(body.encode(), url=URL, now=NOW)
    assert feed.error is None
    assert feed.bozo_reason is not None and reason in feed.bozo_reason
    recovered = [e.title for e in feed.entries if e.url]
    assert recovered == titles


# --- §2.3 wrong or missing charsets -------------------------------------------------------

TITLE = "Müller Café – €5"
RUSSIAN = "Новости дня"


def _doc(title: str, declared: str | None) -> str:
    prolog = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    return (
        f'{prolog}<rss version="2.0"><channel><title>c</title><item><title>{title}</title>'
        "<link>https://example.com/1</link></item></channel></rss>"
    )


def _header(charset: str) -> dict[str, str]:
    return {"Content-Type": f"application/rss+xml; charset={charset}"}


ENCODINGS = {
    "utf-8, no prolog": (_doc(TITLE, None).encode(), None, TITLE),
    "utf-8 with BOM": (b"\xef\xbb\xbf" + _doc(TITLE, "utf-8").encode(), None, TITLE),
    "utf-16 with BOM": (_doc(TITLE, "utf-16").encode("utf-16"), None, TITLE),
    "windows-1252 named in the prolog": (
        _doc(TITLE, "windows-1252").encode("cp1252"),
        None,
        TITLE,
    ),
    "windows-1252 bytes, prolog says utf-8": (_doc(TITLE, "utf-8").encode("cp1252"), None, TITLE),
    "header utf-8, prolog iso-8859-1": (
        _doc(TITLE, "iso-8859-1").encode(),
        _header("utf-8"),
        TITLE,
    ),
    "header windows-1252, prolog utf-8": (
        _doc(TITLE, "utf-8").encode("cp1252"),
        _header("windows-1252"),
        TITLE,
    ),
    "koi8-r named in the prolog": (_doc(RUSSIAN, "koi8-r").encode("koi8-r"), None, RUSSIAN),
    "koi8-r named in the header only": (
        _doc(RUSSIAN, None).encode("koi8-r"),
        _header("koi8-r"),
        RUSSIAN,
    ),
}


@pytest.mark.parametrize("case", list(ENCODINGS))
def test_the_same_title_survives_common_charset_labels_and_mislabels(case: str) -> None:
    body, headers, title = ENCODINGS[case]
    feed = parse_feed(body, url=URL, headers=headers, now=NOW)
    assert feed.error is None
    assert [e.title for e in feed.entries] == [title]


@pytest.mark.parametrize(
    "body",
    [
        _doc(TITLE, "utf-8").encode().replace("Café".encode(), b"Caf\xff\xfe\xc3"),
        _doc(TITLE, "utf-16").encode("utf-16")[:-3],
        _doc(TITLE, "x-no-such-charset").encode(),
    ],
    ids=["invalid-utf-8", "odd-length-utf-16", "unknown-charset"],
)
def test_undecodable_bytes_degrade_without_crashing(body: bytes) -> None:
    feed = parse_feed(body, url=URL, now=NOW)
    assert feed.error is None or feed.error.startswith("not a feed")
    for entry in feed.entries:
        assert "\x00" not in entry.title and "\ufffe" not in entry.title


# --- §2.1 a redirect into private space is never reported as the feed's new home ----------


async def test_a_permanent_redirect_into_private_space_is_not_a_move(
    feed_server: FeedServer, sentinel_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    target = sentinel_server.url("/feed.xml")
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(f"/redirect?code=301&to={target}"))
    assert outcome.kind is FetchKind.BLOCKED
    assert outcome.permanent_redirect is None  # nothing for the poller to persist
    assert sentinel_server.connections == 0
    # the message names the hop that was refused, not only the rule
    assert outcome.error is not None
    assert outcome.error.startswith(f"redirect to {target} refused: ")
    assert "loopback address" in outcome.error


# --- §2.2 401 / 403 are errors of their own, named for the reader of the feed log ---------


@pytest.mark.parametrize(
    ("code", "error"), [(401, "HTTP 401 Unauthorized"), (403, "HTTP 403 Forbidden")]
)
async def test_auth_statuses_are_named_http_errors(
    code: int, error: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(f"/status/{code}"))
    assert outcome.kind is FetchKind.HTTP_ERROR
    assert outcome.error == error
    assert outcome.body is None


# --- §2.2 many feeds on one host: the limit is per host, whatever the port ----------------


class _SharedInflight:
    """Counts concurrent requests across several servers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def route(self, request: FeedRequest) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            request.feed_server.stop.wait(0.15)
        finally:
            with self.lock:
                self.now -= 1
        request.reply(200, SAMPLE_RSS)


async def test_the_per_host_limit_spans_every_port_of_the_host(
    feed_server: FeedServer, sentinel_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    shared = _SharedInflight()
    for server in (feed_server, sentinel_server):
        server.add_route("/held", shared.route)
    allowlist = (*feed_policy.allowlist, f"127.0.0.1:{sentinel_server.port}")
    policy = replace(feed_policy, allowlist=allowlist, max_per_host=2, max_connections=20)
    urls = [server.url("/held") for server in (feed_server, sentinel_server)] * 4
    async with make_guarded_client(policy) as client:
        outcomes = await client.fetch_many(urls)
    assert [o.kind for o in outcomes] == [FetchKind.OK] * 8
    assert feed_server.hits("/held") == sentinel_server.hits("/held") == 4
    assert shared.peak <= 2
