"""Feed health through the real poller, a loopback server and a real database
(RELIABILITY.md §2.1 slow feeds, §2.2 HTTP semantics, §2.6 integrity)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import select

from app.feeds.http import FetchPolicy
from app.store.db import Database
from app.store.feeds import SAMPLE_URL, FeedStore
from app.store.tables import Article, Feed, FetchLog
from tests.support.feedsrv import FeedServer
from tests.support.polling import add_feed, aware, count, make_all_due, poll, view
from tests.support.rss import Item, rss, story


def test_slow_feeds_do_not_block_the_others(
    db: Database, feed_server: FeedServer, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    for n in range(4):
        feed_server.add_file(f"/ok{n}.xml", rss([story(n + 1)]))
    slow = {
        add_feed(db, feed_server.url("/drip?interval=0.2")),
        add_feed(db, feed_server.url("/stall")),
    }
    fast = {add_feed(db, feed_server.url(f"/ok{n}.xml")) for n in range(4)}
    # All feeds share one loopback host here; on the web they are different hosts, so
    # the per-host limit is lifted to keep the slow feeds from holding the host's slots.
    policy = replace(loopback_policy, read_timeout=0.5, deadline=1.5, max_per_host=8)

    order = poll(make_test_poller, policy=policy)

    # Every healthy feed finished before either slow one gave up.
    assert {r.feed_id for r in order[:4]} == fast
    assert all(r.outcome == "ok" for r in order[:4])
    assert {r.feed_id for r in order[4:]} == slow
    for feed_id in slow:
        health = view(db, feed_id)
        assert health.last_status == "timeout" and health.consecutive_failures == 1
        assert health.last_error
    assert count(db, Article) == 4


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_pushes_the_next_poll_by_at_least_that(
    db: Database, feed_server: FeedServer, make_test_poller: Any, code: int
) -> None:
    feed_id = add_feed(db, feed_server.url(f"/status/{code}?retry_after=7200"))
    before = datetime.now(UTC)
    poll(make_test_poller)
    health = view(db, feed_id)
    assert aware(health.next_poll_at) >= before + timedelta(seconds=7200)
    assert health.consecutive_failures == 1 and str(code) in (health.last_error or "")


def test_backoff_grows_with_consecutive_failures(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_id = add_feed(db, feed_server.url("/status/500"))
    delays = []
    for _ in range(4):
        make_all_due(db)
        poll(make_test_poller)
        health = view(db, feed_id)
        assert health.last_polled_at is not None
        delays.append((aware(health.next_poll_at) - aware(health.last_polled_at)).total_seconds())
    assert view(db, feed_id).consecutive_failures == 4
    assert all(later > earlier * 1.5 for earlier, later in itertools.pairwise(delays))
    assert feed_server.hits("/status/500") == 4


def test_gone_disables_the_feed_and_it_is_no_longer_polled(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_id = add_feed(db, feed_server.url("/status/410"))
    poll(make_test_poller)
    first = view(db, feed_id)
    assert first.disabled_reason is None  # a single 410 waits for confirmation
    assert first.last_error and "disabled if the next poll confirms it" in first.last_error

    make_all_due(db)
    poll(make_test_poller)
    health = view(db, feed_id)
    assert health.disabled_reason and "410" in health.disabled_reason

    make_all_due(db)
    assert poll(make_test_poller) == []
    assert feed_server.hits("/status/410") == 2


@pytest.mark.parametrize("code", [301, 308])
def test_a_permanent_redirect_moves_the_url_after_three_polls(
    db: Database, feed_server: FeedServer, make_test_poller: Any, code: int
) -> None:
    old = feed_server.url(f"/redirect?code={code}&to=/feed.xml")
    feed_id = add_feed(db, old)
    urls = []
    for _ in range(3):
        make_all_due(db)
        [result] = poll(make_test_poller)
        assert result.outcome in ("ok", "unchanged")  # the same bytes after the first poll
        urls.append(view(db, feed_id).url)
    assert urls == [old, old, feed_server.url("/feed.xml")]


def test_a_redirect_onto_an_existing_feed_merges_into_it(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    target = add_feed(db, feed_server.url("/feed.xml"))
    moved = add_feed(db, feed_server.url("/redirect?code=301&to=/feed.xml"))
    for _ in range(3):
        make_all_due(db)
        assert all(r.error is None for r in poll(make_test_poller))
    retired = view(db, moved)
    assert retired.url == feed_server.url("/redirect?code=301&to=/feed.xml")
    assert retired.disabled_reason is not None
    assert f"already subscribed as feed {target}" in retired.disabled_reason
    assert view(db, target).disabled_reason is None

    hits = feed_server.hits("/redirect")
    make_all_due(db)
    assert [r.feed_id for r in poll(make_test_poller)] == [target]  # polled once, not twice
    assert feed_server.hits("/redirect") == hits


@pytest.mark.parametrize("bare", [False, True])
def test_not_modified_keeps_validators_and_adds_nothing(
    db: Database, feed_server: FeedServer, make_test_poller: Any, bare: bool
) -> None:
    feed_id = add_feed(db, feed_server.url("/etag?bare=1" if bare else "/etag"))
    poll(make_test_poller)
    articles = count(db, Article)
    make_all_due(db)
    [second] = poll(make_test_poller)

    assert second.outcome == "not_modified" and second.new == 0
    assert count(db, Article) == articles == 1
    headers = feed_server.request_headers("/etag")[-1]
    assert headers["If-None-Match"] == '"v1"'
    with db.read() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None and feed.etag == '"v1"' and feed.last_modified
    assert view(db, feed_id).last_status == "not_modified"


def test_a_poison_entry_in_a_feed_is_skipped_and_the_rest_commit(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    """A NUL byte survives the XML parser as a character reference; PostgreSQL text
    cannot hold it. The entry is stored clean or skipped, never the whole batch lost."""
    body = rss([story(1), story(2)]).replace(b"part 2", b"part 2 &#0; NUL")
    feed_server.add_file("/nul.xml", body)
    add_feed(db, feed_server.url("/nul.xml"))
    [result] = poll(make_test_poller)
    assert result.new + result.skipped == 2 and result.new >= 1
    assert result.outcome == "ok"


def test_colliding_urls_inside_one_feed_make_one_article(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    one = story(1)
    same = Item(one.title + " (tracked)", one.link + "?utm_source=x#top", one.body)
    feed_server.add_file("/dup.xml", rss([one, same]))
    add_feed(db, feed_server.url("/dup.xml"))
    [result] = poll(make_test_poller)
    assert result.new == 1 and count(db, Article) == 1


def test_a_4kb_url_ingests(db: Database, feed_server: FeedServer, make_test_poller: Any) -> None:
    link = "https://outlet.example/news/" + "x" * (4000 - 28)
    feed_server.add_file("/long.xml", rss([Item("Long link", link, "<p>text</p>")]))
    add_feed(db, feed_server.url("/long.xml"))
    [result] = poll(make_test_poller)
    assert result.new == 1
    with db.read() as session:
        assert session.scalar(select(Article.url)) == link


def test_fetch_log_rows_older_than_30_days_are_pruned(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_id = add_feed(db, feed_server.url("/feed.xml"))
    now = datetime.now(UTC)
    with db.write() as session:
        store = FeedStore(session)
        for days in (31, 45, 29):
            store.log_fetch(
                feed_id,
                started_at=now - timedelta(days=days),
                duration_ms=1,
                outcome="ok",
                http_status=200,
                error=None,
            )
    poll(make_test_poller)
    with db.read() as session:
        ages = sorted(
            max(0, (now - aware(row.started_at)).days)
            for row in FeedStore(session).fetch_log(feed_id)
        )
    assert ages == [0, 29]


def test_the_sample_feed_ingests_and_removing_it_drops_its_articles(
    db: Database, make_test_poller: Any
) -> None:
    if not resources.files("app.data").joinpath("sample.xml").is_file():
        pytest.skip("app/data/sample.xml is not there yet")
    feed_id = add_feed(db, SAMPLE_URL)
    [result] = poll(make_test_poller)
    assert result.outcome == "ok" and result.new > 0
    assert count(db, Article) == result.new
    with db.write() as session:
        FeedStore(session).remove(feed_id)
    assert count(db, Article) == 0
    assert count(db, FetchLog) == 0


def test_the_same_bytes_without_validators_are_not_parsed_again(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    """RELIABILITY.md §2.2: a server that ignores validators (always 200, same bytes)."""
    body = [rss([story(1), story(2)])]
    feed_server.add_route("/no-validators", lambda request: request.reply(200, body[0], {}))
    feed_id = add_feed(db, feed_server.url("/no-validators"))

    [first] = poll(make_test_poller)
    make_all_due(db)
    [second] = poll(make_test_poller)
    assert (first.outcome, first.new) == ("ok", 2)
    assert (second.outcome, second.new, second.error) == ("unchanged", 0, None)
    assert count(db, Article) == 2
    with db.read() as session:
        logged = session.scalars(
            select(FetchLog.outcome).where(FetchLog.feed_id == feed_id).order_by(FetchLog.id)
        ).all()
    assert logged == ["ok", "unchanged"]
    assert view(db, feed_id).last_error is None

    body[0] = rss([story(1), story(2), story(3)])  # the feed changes: parsed again
    make_all_due(db)
    [third] = poll(make_test_poller)
    assert (third.outcome, third.new) == ("ok", 1)


def test_a_recovered_malformed_feed_shows_the_parser_warning_until_it_is_fixed(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    """RELIABILITY.md §2.3: keep a bozo feed's entries and record the reason as a warning."""
    body = [rss([story(1)]) + b"<trailing>junk</trailing>"]
    feed_server.add_route("/bozo", lambda request: request.reply(200, body[0], {}))
    feed_id = add_feed(db, feed_server.url("/bozo"))

    [result] = poll(make_test_poller)
    health = view(db, feed_id)
    assert (result.outcome, result.new) == ("ok", 1)
    assert health.parse_warning and "junk" in health.parse_warning
    assert health.last_error is None and health.disabled_reason is None

    body[0] = rss([story(1)])
    make_all_due(db)
    poll(make_test_poller)
    assert view(db, feed_id).parse_warning is None
