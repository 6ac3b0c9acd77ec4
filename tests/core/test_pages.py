"""Full text's pure decisions: which entries, which URL, retry or give up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.pages import (
    BACKOFF,
    MAX_RETRY_AFTER,
    PageOutcome,
    after_attempt,
    is_news_search,
    page_target,
    plain_host,
    wants_page,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "length", "news", "expected"),
    [
        ("auto", 100, False, True),
        ("auto", 599, False, True),
        ("auto", 600, False, False),
        ("auto", 5000, True, True),  # news searches carry only headlines
        ("always", 5000, False, True),
        ("never", 0, True, False),
    ],
)
def test_wants_page(policy: str, length: int, news: bool, expected: bool) -> None:
    assert wants_page(policy, text_length=length, threshold=600, news_search=news) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.google.com/rss/search?q=amazon+tiktok&hl=en-US", True),
        ("https://www.bing.com/news/search?q=amazon+tiktok&format=rss", True),
        ("https://www.bing.com/search?q=x", False),
        ("https://example.org/rss.xml", False),
    ],
)
def test_news_search_feeds(url: str, expected: bool) -> None:
    assert is_news_search(url) is expected


@pytest.mark.parametrize(
    ("link", "url", "unresolvable"),
    [
        ("https://example.org/a?utm_source=x", "https://example.org/a?utm_source=x", False),
        (
            "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=1"
            "&url=https%3a%2f%2fpublisher.example%2fstory%2f1&c=1",
            "https://publisher.example/story/1",
            False,
        ),
        ("https://www.bing.com/news/apiclick.aspx?tid=1", None, True),
        ("https://news.google.com/rss/articles/CBMiQWh0dHBzOi8vZXhhbXBsZQ?oc=5", None, True),
        ("ftp://example.org/file", None, True),
    ],
)
def test_page_target(link: str, url: str | None, unresolvable: bool) -> None:
    target = page_target(link)
    assert target.url == url
    assert (target.reason is not None) is unresolvable


def test_transient_failures_back_off_then_stand() -> None:
    times = [after_attempt(PageOutcome.ERROR, attempts=n, now=NOW).at for n in (1, 2, 3, 4)]
    assert times == [NOW + wait for wait in BACKOFF]
    assert after_attempt(PageOutcome.ERROR, attempts=len(BACKOFF) + 1, now=NOW).at is None


@pytest.mark.parametrize(
    "outcome",
    [PageOutcome.ROBOTS, PageOutcome.PAYWALL, PageOutcome.GONE, PageOutcome.NOT_HTML],
)
def test_final_outcomes_are_never_retried(outcome: PageOutcome) -> None:
    assert after_attempt(outcome, attempts=1, now=NOW).at is None


def test_retry_after_is_honoured_and_bounded() -> None:
    later = after_attempt(PageOutcome.RATE_LIMITED, attempts=1, now=NOW, retry_after=3600)
    assert later.at == NOW + timedelta(hours=1)
    huge = after_attempt(PageOutcome.RATE_LIMITED, attempts=1, now=NOW, retry_after=1e9)
    assert huge.at == NOW + MAX_RETRY_AFTER
    assert after_attempt(PageOutcome.ERROR, attempts=1, now=NOW, transient=False).at is None


# Links the fast path must read as ``urlsplit`` does, or leave to it.
TRICKY_LINKS = [
    "https://www.example.org/a/b?c=d#e",
    "http://example.org",
    "http://example.org:8080/x",
    "http://example.org:/x",
    "https://example.org?x=1",
    "https://example.org#top",
    "https://sub-domain.example.co.uk./path",
    "HTTPS://Example.ORG/Path",
    "https://EXAMPLE.org/",
    "https://user:pw@example.org/",
    "https://example.org@evil.example/",
    "https://[::1]:8080/x",
    "https://xn--bcher-kva.example/",
    "https://bücher.example/",
    " https://example.org/",
    "https://exa\tmple.org/",
    "https://example.org:80abc/",
    "https://example.org\\@evil.example/",
    "https://example.org%2f@evil.example/",
    "https:///path-only",
    "https://",
    "http:example.org/x",
    "ftp://example.org/file",
    "mailto:someone@example.org",
    "",
    "https://www.bing.com/news/apiclick.aspx?url=https%3a%2f%2fpublisher.example%2f1",
    "https://eu.bing.com/news/apiclick.aspx?url=https%3a%2f%2fpublisher.example%2f1",
    "https://news.google.com/rss/articles/CBMi?oc=5",
    "https://news.google.com/other",
]


@pytest.mark.parametrize("link", TRICKY_LINKS)
def test_the_plain_link_fast_path_reads_hosts_as_urlsplit_does(
    link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    from app.core import pages
    from app.store import extraction

    found = plain_host(link)
    if found is not None:  # the fast path answered: it must agree with urlsplit
        assert found == urlsplit(link).hostname
    fast = (page_target(link), extraction.host_key(link))
    # the same answers with the fast path turned off (every link through urlsplit)
    monkeypatch.setattr(pages, "plain_host", lambda url: None)
    monkeypatch.setattr(extraction, "plain_host", lambda url: None)
    assert fast == (page_target(link), extraction.host_key(link))
    assert fast[1] == (urlsplit(link).hostname or "")[:255]


def test_plain_links_are_read_by_the_fast_path() -> None:
    """The fast path is taken for ordinary article links (else it saves nothing)."""
    assert plain_host("https://www.example.org/2026/12/01/story-1") == "www.example.org"
    assert plain_host("http://127.0.0.1:8765/feeds/f1.xml") == "127.0.0.1"
    assert plain_host("https://User@example.org/") is None
