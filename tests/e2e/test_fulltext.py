"""Teaser feeds from a loopback news site, polled, then their pages extracted.

Real poller, real extraction worker (in-process extraction for speed; the worker
pool is exercised by the kill test), real database on both engines, real HTTP.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from app.core.timeline import TimelineFilter
from app.feeds.extract import PageFetcher
from app.feeds.http import FetchPolicy, make_guarded_client
from app.polling.extraction import (
    ExtractionConfig,
    ExtractionRunner,
    enqueue_hook,
    unreachable,
)
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.extraction import ExtractionStore, FullTextRules
from app.store.overrides import OverrideChange, OverrideStore
from app.store.tables import Article, ArticleSource, Extraction, Feed
from tests.support.newssite import NewsSite
from tests.support.newstext import ARTICLES, CONSENT_TEXT, PAYWALL_LEAD
from tests.support.polling import add_feed, poll

TEASER = "A short teaser."


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


def runner(db: Database, policy: FetchPolicy, **kwargs: Any) -> ExtractionRunner:
    kwargs = {"workers": 0, "min_delay": 0.0, "per_host": 4, **kwargs}
    config = ExtractionConfig(**kwargs)
    return ExtractionRunner(db, replace(policy, read_timeout=5.0, deadline=10.0), config)


def poll_with_queue(make_test_poller: Any, **rules: Any) -> None:
    poll(make_test_poller, on_new=enqueue_hook(FullTextRules(**rules)))


def count_fetches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every page URL the extraction fetches from now on (robots.txt aside), in order."""
    fetched: list[str] = []
    fetch = PageFetcher.fetch

    async def counted(self: PageFetcher, url: str) -> Any:
        fetched.append(url)
        return await fetch(self, url)

    monkeypatch.setattr(PageFetcher, "fetch", counted)
    return fetched


def due_at(db: Database, feed_id: int, when: datetime) -> None:
    """Make a feed due for polling at ``when``."""
    with db.write() as session:
        session.execute(update(Feed).where(Feed.id == feed_id).values(next_poll_at=when))


def articles_by_url(db: Database) -> dict[str, Article]:
    with db.read() as session:
        rows = session.scalars(select(Article).options(undefer(Article.page_content))).all()
        session.expunge_all()
    return {a.url: a for a in rows}


def states(db: Database) -> dict[int, Extraction]:
    with db.read() as session:
        rows = session.scalars(select(Extraction)).all()
        session.expunge_all()
    return {r.article_id: r for r in rows}


@pytest.fixture
def other_site() -> Iterator[NewsSite]:
    with NewsSite("127.0.0.2") as server:  # another host to the per-host rules
        yield server


def test_teasers_get_their_pages_and_honest_outcomes(
    db: Database,
    site: NewsSite,
    other_site: NewsSite,
    make_test_poller: Any,
    loopback_policy: FetchPolicy,
) -> None:
    cases = {
        **{lang: site.url(f"/{lang}/story") for lang in ARTICLES},
        "paywall": site.url("/paywall/story"),
        "consent": site.url("/consent/story"),
        "robots": site.url("/private/story"),
        "404": site.url("/status/404"),
        "410": site.url("/status/410"),
        "429": other_site.url("/status/429?retry_after=3600"),
        "json": site.url("/data.json"),
        "huge": site.url("/huge?mib=20"),
        "google": "https://news.google.com/rss/articles/CBMiK2h0dHBzOi8vZXhhbXBsZQ?oc=5",
    }
    add_feed(db, site.add_feed("teasers", [(k, u) for k, u in cases.items()], TEASER))
    poll_with_queue(make_test_poller)

    # The feed's batch committed first: every article is there with its teaser.
    stored = articles_by_url(db)
    assert {a.text_source for a in stored.values()} == {"feed"}
    queued = states(db)
    assert len(queued) == len(cases)
    google = stored[cases["google"]]
    assert (queued[google.id].state, queued[google.id].outcome) == ("done", "unresolvable")

    summary = asyncio.run(runner(db, loopback_policy).run_once())
    assert sum(summary.outcomes.values()) == len(cases) - 1

    stored, done = articles_by_url(db), states(db)
    outcome = {key: done[stored[url].id].outcome for key, url in cases.items()}
    assert outcome == {
        **dict.fromkeys(ARTICLES, "ok"),
        "paywall": "paywall",
        "consent": "consent",
        "robots": "robots",
        "404": "gone",
        "410": "gone",
        "429": "rate_limited",
        "json": "not_html",
        "huge": "too_large",
        "google": "unresolvable",
    }
    for lang, (_, paragraphs) in ARTICLES.items():
        article = stored[cases[lang]]
        assert article.text_source == "page"
        assert paragraphs[-1] in article.text and "<p>" in article.page_content
        assert article.author == "Dana Reporter"  # the feed had none
        assert article.summary.strip() in ("", TEASER, f"<p>{TEASER}</p>")  # kept apart
    for key in ("paywall", "consent"):
        assert stored[cases[key]].text_source == "feed"
        assert PAYWALL_LEAD not in stored[cases[key]].text
        assert CONSENT_TEXT not in stored[cases[key]].text
    # 429 waits for its Retry-After; everything else is final.
    rate_limited = done[stored[cases["429"]].id]
    assert rate_limited.state == "pending" and rate_limited.due_at > datetime.now(UTC)
    assert {r.state for i, r in done.items() if i != rate_limited.article_id} == {"done"}
    assert "/private/story" not in site.paths()
    assert site.paths().count("/robots.txt") == 1

    # Search finds words only the page has; the tagger judged the page's text.
    with db.read() as session:
        found = ArticleStore(session).timeline(TimelineFilter(q="Ohio", relevance="all"))
        assert [a.url for a in found.items] == [cases["en"]]
        found = ArticleStore(session).timeline(TimelineFilter(q="Franken", relevance="all"))
        assert [a.url for a in found.items] == [cases["de"]]
    assert stored[cases["en"]].relevant
    assert stored[cases["en"]].relevance_evidence  # offsets into the page's text


def test_extraction_is_idempotent_and_editor_overrides_win(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    add_feed(db, site.add_feed("one", [("en", site.url("/en/story"))], TEASER))
    poll_with_queue(make_test_poller)
    article_id = next(iter(articles_by_url(db).values())).id
    with db.write() as session:
        OverrideStore(session).apply(
            article_id,
            OverrideChange(remove=("security",), relevant=False),
            user_id=None,
            now=datetime.now(UTC),
        )
    asyncio.run(runner(db, loopback_policy).run_once())
    again = asyncio.run(runner(db, loopback_policy).run_once())
    assert sum(again.outcomes.values()) == 0  # nothing left to do
    assert site.paths().count("/en/story") == 1
    article = next(iter(articles_by_url(db).values()))
    assert article.text_source == "page"
    assert article.relevant is False  # the editor said so; the page does not change that
    assert article.theme_mask & 1 == 0 or "security" not in (article.theme_scores or {})


def test_one_article_through_two_feeds_a_utm_link_and_an_amp_twin(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    first = add_feed(
        db,
        site.add_feed(
            "a", [("en", site.url("/en/story")), ("fr", site.url("/amp/fr/story"))], TEASER
        ),
    )
    second = add_feed(
        db,
        site.add_feed(
            "b",
            [("en", site.url("/en/story?utm_source=b")), ("fr", site.url("/fr/story"))],
            TEASER,
        ),
    )
    poll_with_queue(make_test_poller)
    assert len(articles_by_url(db)) == 3  # the utm link is the same article already
    asyncio.run(runner(db, loopback_policy).run_once())

    stored = articles_by_url(db)
    assert len(stored) == 2  # the AMP page declared the French story's canonical URL
    assert site.paths().count("/en/story") == 1
    with db.read() as session:
        sources = {
            article_id: sorted(
                f
                for (f,) in session.execute(
                    select(ArticleSource.feed_id).where(ArticleSource.article_id == article_id)
                )
            )
            for article_id in (a.id for a in stored.values())
        }
    assert list(sources.values()) == [[first, second], [first, second]]
    assert {a.text_source for a in stored.values()} == {"page"}


def test_policy_never_and_news_search_feeds(
    db: Database, site: NewsSite, make_test_poller: Any
) -> None:
    long_text = "Plenty of words in the feed itself. " * 30
    quiet = add_feed(db, site.add_feed("quiet", [("en", site.url("/en/story"))], TEASER))
    full = add_feed(db, site.add_feed("full", [("de", site.url("/de/story"))], long_text))
    with db.write() as session:
        assert ExtractionStore(session).set_policy(quiet, "never")
    poll_with_queue(make_test_poller)
    assert states(db) == {}  # quiet: never; full: long enough under auto
    with db.write() as session:
        ExtractionStore(session).set_policy(full, "always")
        with pytest.raises(ValueError, match="policy"):
            ExtractionStore(session).set_policy(full, "sometimes")


def test_a_worker_killed_mid_extraction_leaves_its_rows_to_the_next_run(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    add_feed(db, site.add_feed("one", [("it", site.url("/it/story"))], TEASER))
    poll_with_queue(make_test_poller)
    now = datetime.now(UTC)
    with db.write() as session:  # a worker claims the row, then dies before recording
        [job] = ExtractionStore(session).claim(
            now=now, owner="dead", lease=timedelta(minutes=10), limit=10
        )
    fresh = runner(db, loopback_policy)
    assert sum(asyncio.run(fresh.run_once()).outcomes.values()) == 0  # leased: left alone
    later = runner(db, loopback_policy)
    later.clock = lambda: now + timedelta(minutes=11)
    assert asyncio.run(later.run_once()).outcomes == {"ok": 1}
    assert states(db)[job.article_id].outcome == "ok"


def test_a_host_that_sent_retry_after_is_left_alone(
    db: Database, other_site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    links = [("429", other_site.url("/status/429?retry_after=3600"))]
    links += [(lang, other_site.url(f"/{lang}/story")) for lang in ("en", "de")]
    add_feed(db, other_site.add_feed("busy", links, TEASER))
    poll_with_queue(make_test_poller)
    pages = runner(db, loopback_policy, per_host=1)
    summary = asyncio.run(pages.run_once())
    assert summary.outcomes["rate_limited"] + summary.outcomes["ok"] >= 1
    postponed = summary.outcomes["postponed"]
    # Whatever came after the 429 was not requested; it waits for the Retry-After.
    requested = [p for p in other_site.paths() if p.endswith("/story")]
    assert len(requested) + postponed == 2
    later = [r for r in states(db).values() if r.state == "pending"]
    assert len(later) == postponed + 1
    assert all(r.due_at > datetime.now(UTC) + timedelta(minutes=50) for r in later)


def test_news_search_entries_outlets_bing_links_and_google_links(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    google = "https://news.google.com/rss/articles/CBMiK2h0dHBzOi8vZXhhbXBsZQ?oc=5"
    bing = "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=9&url=" + quote(
        site.url("/it/story"), safe=""
    )
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Search</title>'
        "<link>https://news.example/</link><description>d</description>"
        f"<item><title>Headline only - Outlet Daily</title><link>{escape(google)}</link>"
        '<source url="https://outlet.example">Outlet Daily</source></item>'
        f"<item><title>Italian story</title><link>{escape(bing)}</link>"
        '<source url="https://other.example">Other Gazette</source></item>'
        "</channel></rss>"
    )
    site.feeds["/feed/search.xml"] = rss.encode()
    add_feed(db, site.url("/feed/search.xml"))
    poll_with_queue(make_test_poller)
    asyncio.run(runner(db, loopback_policy).run_once())

    stored, done = articles_by_url(db), states(db)
    headline, italian = stored[google], stored[bing]
    assert (done[headline.id].outcome, done[headline.id].state) == ("unresolvable", "done")
    assert headline.title == "Headline only - Outlet Daily"  # kept, with its outlet
    assert done[italian.id].outcome == "ok"
    assert done[italian.id].final_url == site.url("/it/story")
    assert ARTICLES["it"][1][0] in italian.text
    with db.read() as session:
        values = {a.id: a for a in ArticleStore(session).to_values([headline, italian])}
    assert [s.name for s in values[headline.id].sources] == ["Outlet Daily"]
    assert [s.name for s in values[italian.id].sources] == ["Other Gazette"]


def test_a_changed_entry_is_feed_text_again_until_its_page_is_fetched_anew(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    feed_url = site.add_feed("one", [("en", site.url("/en/story"))], TEASER)
    feed_id = add_feed(db, feed_url)
    poll_with_queue(make_test_poller)
    asyncio.run(runner(db, loopback_policy).run_once())
    site.add_feed("one", [("en", site.url("/en/story"))], "A corrected teaser.")
    due_at(db, feed_id, datetime.now(UTC))
    poll_with_queue(make_test_poller)

    [article] = articles_by_url(db).values()
    assert article.text_source == "feed" and article.page_content == ""
    assert "corrected" in article.text
    assert states(db)[article.id].state == "pending"
    asyncio.run(runner(db, loopback_policy).run_once())
    [article] = articles_by_url(db).values()
    assert article.text_source == "page" and "Ohio" in article.text
    assert site.paths().count("/en/story") == 2


def closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_origin_is_recorded_for_all_its_pages_at_once(
    db: Database,
    site: NewsSite,
    make_test_poller: Any,
    loopback_policy: FetchPolicy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    links = [(f"dead {n}", f"{dead}/story/{n}") for n in range(12)]
    links += [(lang, site.url(f"/{lang}/story")) for lang in ("en", "de")]  # same host
    add_feed(db, site.add_feed("mixed", links, TEASER))
    poll_with_queue(make_test_poller)
    fetched = count_fetches(monkeypatch)
    scans: list[str] = []
    due_of_host = ExtractionStore.due_of_host

    def scanned(self: ExtractionStore, host: str, *, now: datetime) -> Any:
        scans.append(host)
        return due_of_host(self, host, now=now)

    monkeypatch.setattr(ExtractionStore, "due_of_host", scanned)
    started = datetime.now(UTC)
    summary = asyncio.run(runner(db, loopback_policy, per_host=1).run_once())

    assert summary.outcomes == {"error": 12, "ok": 2}
    # robots.txt of the dead origin failed once; its pages were not tried one by one.
    assert len([u for u in fetched if u.startswith(dead)]) < 12
    assert scans == ["127.0.0.1"]  # once per origin and run, by its first failure
    stored, rows = articles_by_url(db), states(db)
    failed = [rows[stored[url].id] for _, url in links[:12]]
    # Each as if tried: one attempt, the same outcome and detail, retried after backoff.
    assert {(r.state, r.outcome, r.attempts, r.lease_owner) for r in failed} == {
        ("pending", "error", 1, None)
    }
    assert len({r.detail for r in failed}) == 1 and "robots.txt" in (failed[0].detail or "")
    assert all(r.due_at >= started + timedelta(minutes=2) for r in failed)
    assert {rows[stored[site.url(f"/{lang}/story")].id].outcome for lang in ("en", "de")} == {"ok"}


def test_only_a_failure_to_reach_the_pages_own_origin_counts_as_unreachable(
    site: NewsSite, loopback_policy: FetchPolicy
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/page"

    async def fetch(url: str) -> Any:
        async with make_guarded_client(loopback_policy) as client:
            return await client.fetch(url)

    refused = asyncio.run(fetch(dead))
    assert unreachable(refused, dead)
    assert not unreachable(refused, site.url("/redirect-from-here"))  # a redirect's target
    missing = site.url("/status/404")
    assert not unreachable(asyncio.run(fetch(missing)), missing)


def test_beside_a_poll_the_pages_of_feeds_stored_later_are_fetched_too(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    """``poll --once`` runs the page pass beside the feeds' poll: an empty queue is not
    the end while feeds are still being polled; the pass ends once they are done and
    the queue is drained, with every page of every feed fetched once."""
    add_feed(db, site.add_feed("first", [("en", site.url("/en/story"))], TEASER))
    second = add_feed(db, site.add_feed("second", [("de", site.url("/de/story"))], TEASER))

    async def scenario() -> tuple[dict[str, int], bool]:
        feeding = asyncio.Event()
        pages = asyncio.create_task(runner(db, loopback_policy).run_once(feeding=feeding))
        await asyncio.sleep(0.3)  # the queue is empty: the pass must wait, not end
        assert not pages.done()
        poller = make_test_poller(on_new=enqueue_hook(FullTextRules()))
        due_at(
            db, second, datetime.now(UTC) + timedelta(days=1)
        )  # one feed now, the other after its page is fetched
        await poller.poll_due()
        deadline = asyncio.get_running_loop().time() + 30  # a bound, not a timing assertion
        while "/en/story" not in site.paths():
            assert asyncio.get_running_loop().time() < deadline, "the first page never came"
            await asyncio.sleep(0.05)
        ended_early = pages.done()
        due_at(db, second, datetime.now(UTC))
        await poller.poll_due()
        feeding.set()
        return dict((await pages).outcomes), ended_early

    outcomes, ended_early = asyncio.run(scenario())
    assert not ended_early
    assert outcomes == {"ok": 2}
    assert site.paths().count("/en/story") == 1 and site.paths().count("/de/story") == 1
    assert {a.text_source for a in articles_by_url(db).values()} == {"page"}


def test_pages_queued_later_for_a_host_that_does_not_resolve_are_recorded_untried(
    db: Database,
    site: NewsSite,
    make_test_poller: Any,
    loopback_policy: FetchPolicy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beside a poll, a later feed's pages on a host whose name did not resolve earlier
    in the run (any scheme or port: the name is the host's) are neither claimed nor
    fetched one by one: the run records them at its end, each as if tried (one attempt,
    the host's outcome, retried after backoff), while the live site's pages are fetched."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "dead.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    add_feed(
        db,
        site.add_feed("first", [(f"d{n}", f"http://dead.example/a/{n}") for n in range(3)], TEASER),
    )
    later = [(f"e{n}", f"http://dead.example/b/{n}") for n in range(6)]
    later += [(f"f{n}", f"https://dead.example:8443/c/{n}") for n in range(2)]
    later += [("en", site.url("/en/story"))]
    second = add_feed(db, site.add_feed("second", later, TEASER))
    fetched = count_fetches(monkeypatch)
    started = datetime.now(UTC)

    async def scenario() -> dict[str, int]:
        feeding = asyncio.Event()
        pages = runner(db, loopback_policy, per_host=1)
        task = asyncio.create_task(pages.run_once(feeding=feeding))
        poller = make_test_poller(on_new=enqueue_hook(FullTextRules()))
        due_at(
            db, second, datetime.now(UTC) + timedelta(days=1)
        )  # the first feed now, the second once the host is down
        await poller.poll_due()
        deadline = asyncio.get_running_loop().time() + 30  # a bound, not a timing assertion
        while not pages._down:
            assert asyncio.get_running_loop().time() < deadline, "the dead host never failed"
            await asyncio.sleep(0.05)
        due_at(db, second, datetime.now(UTC))
        await poller.poll_due()
        feeding.set()
        return dict((await task).outcomes)

    outcomes = asyncio.run(scenario())
    assert outcomes == {"error": 11, "ok": 1}
    assert not [u for u in fetched if "/b/" in u or "/c/" in u]  # none tried one by one
    stored, rows = articles_by_url(db), states(db)
    failed = [rows[stored[url].id] for _, url in later[:8]]
    assert {(r.state, r.outcome, r.attempts, r.lease_owner) for r in failed} == {
        ("pending", "error", 1, None)
    }
    assert all("cannot resolve host" in (r.detail or "") for r in failed)
    assert all(r.due_at >= started + timedelta(minutes=2) for r in failed)
    assert rows[stored[site.url("/en/story")].id].outcome == "ok"
