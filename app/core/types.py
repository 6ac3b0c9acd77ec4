"""Small frozen values passed between the stages of newsmon.

fetch (``feeds.http``) -> ``FetchOutcome``; parse (``feeds.parse``) -> ``ParsedFeed`` of
``ParsedEntry``; core decides and tags; the store returns ``Article`` rows as values.
None of these is an ORM row or an HTTP object.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from app.core.pages import PageStatus

T = TypeVar("T")


class FetchKind(enum.StrEnum):
    """How one fetch of a feed ended. Everything but ``OK`` carries no body."""

    OK = "ok"  # 2xx with a body
    NOT_MODIFIED = "not_modified"  # 304 to a conditional GET
    HTTP_ERROR = "http_error"  # 4xx/5xx other than the ones below
    GONE = "gone"  # 410: the feed should be disabled
    RATE_LIMITED = "rate_limited"  # 429/503, maybe with Retry-After
    BLOCKED = "blocked"  # SSRF guard or scheme check refused the address
    TOO_LARGE = "too_large"  # decoded body over the cap, or stacked codings
    TIMEOUT = "timeout"  # connect/read/overall deadline
    NETWORK_ERROR = "network_error"  # DNS, reset, TLS, truncated body
    REDIRECT_ERROR = "redirect_error"  # too many hops, loop, https->http
    WRONG_TYPE = "wrong_type"  # a Content-Type the caller did not accept (body unread)
    DISALLOWED = "disallowed"  # a redirect hop the caller's check refused (robots.txt)


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """The result of one guarded fetch; a failure is data, never an exception."""

    kind: FetchKind
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()  # lower-cased names
    etag: str | None = None
    last_modified: str | None = None
    # Set when every hop of the chain was a permanent redirect (301/308).
    permanent_redirect: str | None = None
    retry_after_seconds: float | None = None
    error: str | None = None
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind is FetchKind.OK

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One feed entry after parsing, sanitising and normalising.

    Every HTML field is already sanitised; ``url`` is absolute with an http(s)
    scheme (or None); datetimes are timezone-aware UTC; text fields are free of
    control characters and capped in length.
    """

    guid: str | None
    url: str | None
    title: str
    summary_html: str = ""
    content_html: str = ""
    text: str = ""  # plain text of title + summary + content, for tagging and search
    author: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    language: str | None = None
    # The feed's date was later than now + 1 day; ``published_at`` was clamped to now.
    date_clamped: bool = False
    # The date text as the feed gave it (capped), kept when it was unusable or clamped.
    published_raw: str | None = None
    # RSS <source>: the publisher a news-search feed (Google News, Bing) names per entry.
    outlet: str | None = None
    # ``html_to_text(summary_html)`` as the parser computed it for ``text`` (None: not
    # computed), so that tagging does not convert the summary a second time. Derived from
    # ``summary_html``: not compared, not shown.
    summary_text: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    site_url: str | None
    entries: tuple[ParsedEntry, ...]
    language: str | None = None
    ttl_seconds: int | None = None  # RSS <ttl>, sy:updatePeriod
    # Why feedparser called the document ill-formed; entries it recovered are kept.
    bozo_reason: str | None = None
    # A fatal problem: nothing usable (not a feed, parse budget exceeded, ...).
    error: str | None = None
    # Entries beyond the per-parse cap that were left out (the oldest ones).
    entries_dropped: int = 0


@dataclass(frozen=True, slots=True)
class Evidence:
    """One matched term: ``field`` is ``title``, ``summary`` or ``text``; offsets index it."""

    term: str
    field: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ThemeTag:
    key: str  # security | regulatory | market
    score: float
    evidence: tuple[Evidence, ...] = ()
    origin: str = "tagger"  # tagger | editor


@dataclass(frozen=True, slots=True)
class Source:
    feed_id: int
    name: str


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """Another article of the same story cluster (a syndicated or republished copy)."""

    id: int
    title: str
    published_at: datetime
    outlet: str  # its outlet (the item's own publisher where the feed names one)


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    url: str
    title: str
    summary: str
    language: str | None
    published_at: datetime
    published_estimated: bool
    first_seen_at: datetime
    relevant: bool
    relevance_score: float
    relevance_reason: str
    sources: tuple[Source, ...]
    themes: tuple[ThemeTag, ...]
    cluster_id: int | None = None
    cluster_size: int = 1
    content: str = ""
    flags: tuple[str, ...] = field(default=())
    # Full text: "page" when ``text`` came from the article's page; its sanitised HTML
    # and the fetch's status are read for one article (``with_content``), not timelines.
    text_source: str = "feed"
    page_content: str = ""
    page: PageStatus | None = None
    author: str | None = None  # the byline the feed gave, if any
    updated_at: datetime | None = None
    # The other articles of its story cluster, newest first, whichever feed carried them:
    # a republished copy from the feed of its original is one of these, not a source.
    copies: tuple[StoryCopy, ...] = ()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None
