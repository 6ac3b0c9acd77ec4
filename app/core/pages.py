"""Full text from the article's page: the pure decisions (standard library only).

Which articles to fetch (the feed's policy, the entry's length, news-search feeds),
which URL to fetch (Bing News links unwrapped, Google News article links
unresolvable without JavaScript), what a fetch's outcome means for the queue
(done, retry later, give up) and when to retry. Fetching, extracting and storing
happen in ``feeds.extract``, ``polling.extraction`` and ``store.extraction``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

POLICIES = ("auto", "always", "never")
DEFAULT_THRESHOLD = 600
# Retries of a transient failure (5xx, timeout, network): then the outcome stands.
BACKOFF = (timedelta(minutes=2), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=6))
MAX_RETRY_AFTER = timedelta(days=1)


class PageOutcome(enum.StrEnum):
    """How the attempt to get an article's full text ended (shown to readers)."""

    OK = "ok"
    ROBOTS = "robots"  # disallowed by robots.txt for our User-Agent
    PAYWALL = "paywall"  # a paywall stub, or too little text to be the article
    CONSENT = "consent"  # a cookie or consent interstitial instead of the article
    NOT_HTML = "not_html"
    TOO_LARGE = "too_large"
    GONE = "gone"  # 404 / 410
    UNRESOLVABLE = "unresolvable"  # a link that needs JavaScript (Google News)
    BLOCKED = "blocked"  # the SSRF guard refused an address
    RATE_LIMITED = "rate_limited"  # 429/503 still after the retries
    ERROR = "error"  # HTTP error, timeout, network error after the retries


FINAL = frozenset(PageOutcome) - {PageOutcome.RATE_LIMITED, PageOutcome.ERROR}

_GOOGLE_NEWS = "news.google.com"
_BING_HOSTS = ("bing.com", "www.bing.com")
# An http(s) link whose host is lower-case letters, digits, dots and hyphens, followed by
# at most a port: ``plain_host`` reads its host without splitting the whole URL (the
# ingest queues a page per new article: splitting each cost ~3 µs of the poll process's
# CPU). Anything else (upper case, user info, IPv6, escapes, spaces) goes through
# ``urlsplit``; ``tests/core/test_pages.py`` holds the two equal.
_PLAIN_LINK = re.compile(r"https?://([a-z0-9.-]+)(?::[0-9]*)?(?=[/?#]|\Z)")


def plain_host(url: str) -> str | None:
    """The host of a plain http(s) link, as ``urlsplit(url).hostname`` gives it; None
    for any other URL (which ``urlsplit`` must read)."""
    found = _PLAIN_LINK.match(url)
    return None if found is None else found.group(1)


def _bing(host: str) -> bool:
    return host in _BING_HOSTS or host.endswith(".bing.com")


def _routed(host: str) -> bool:
    """A host whose links wrap or hide the publisher's (Google News, Bing)."""
    return host == _GOOGLE_NEWS or _bing(host)


def is_news_search(feed_url: str) -> bool:
    """A feed that carries only headlines and outlets (Google News, Bing News searches)."""
    parts = urlsplit(feed_url)
    host = (parts.hostname or "").lower()
    return host == _GOOGLE_NEWS or (host in _BING_HOSTS and parts.path.startswith("/news"))


def wants_page(policy: str, *, text_length: int, threshold: int, news_search: bool) -> bool:
    """Whether an entry's page should be fetched under the feed's policy."""
    if policy == "never":
        return False
    if policy == "always":
        return True
    return news_search or text_length < threshold


@dataclass(frozen=True, slots=True)
class PageStatus:
    """What readers see about an article's page: queued, fetched, or why not."""

    state: str  # pending | done
    outcome: str | None  # a PageOutcome value, of the last attempt
    detail: str | None
    attempts: int
    fetched_at: datetime | None
    url: str | None  # the page asked for (None: unresolvable)
    final_url: str | None  # after redirects
    site_name: str | None


@dataclass(frozen=True, slots=True)
class PageTarget:
    url: str | None  # what to fetch; None when it cannot be resolved
    reason: str | None = None


def page_target(url: str) -> PageTarget:
    """The publisher's URL behind an entry link: Bing's ``url=`` unwrapped; a Google News
    article link (resolved only by JavaScript) is unresolvable."""
    host = plain_host(url)
    if host is not None and not _routed(host):
        return PageTarget(url)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return PageTarget(None, "not an http(s) link")
    if host == _GOOGLE_NEWS and parts.path.startswith(("/rss/articles/", "/articles/")):
        return PageTarget(None, "Google News links are resolved by JavaScript only")
    if _bing(host):
        inner = dict(parse_qsl(parts.query)).get("url", "")
        if urlsplit(inner).scheme in ("http", "https"):
            return page_target(inner)
        if parts.path.startswith("/news/apiclick"):
            return PageTarget(None, "Bing News link without a publisher URL")
    return PageTarget(url)


@dataclass(frozen=True, slots=True)
class Retry:
    """What the queue does after an attempt: ``at`` None means the outcome is final."""

    outcome: PageOutcome
    at: datetime | None


def after_attempt(
    outcome: PageOutcome,
    *,
    attempts: int,
    now: datetime,
    retry_after: float | None = None,
    transient: bool = True,
) -> Retry:
    """Retry a transient failure with backoff (or after the server's Retry-After);
    ``attempts`` counts this one. A final outcome (or ``transient=False``, e.g. a 403)
    is never retried."""
    if not transient or outcome in FINAL or attempts > len(BACKOFF):
        return Retry(outcome, None)
    wait = BACKOFF[attempts - 1]
    if retry_after is not None:
        wait = min(max(wait, timedelta(seconds=retry_after)), MAX_RETRY_AFTER)
    return Retry(outcome, now + wait)
