"""The poller's new articles reach the search index in batches (migration 0011): a real
poll against a loopback feed server, then the timeline's search. Every article a round
stored is searchable when the round returns, a batch runs while a round is still going,
and what a killed poller left waiting is indexed by the next round."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

import app.polling.poller as poller_module
from app.core.timeline import TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import Database
from tests.store.test_ingest import draft
from tests.support.feedsrv import FeedRequest, FeedServer
from tests.support.polling import add_feed, poll
from tests.support.rss import Item, rss


def found(db: Database, query: str) -> list[str]:
    with db.read() as session:
        page = ArticleStore(session).timeline(TimelineFilter(relevance="all", q=query))
        return sorted(a.title for a in page.items)


def waiting(db: Database) -> int:
    if db.dialect != "sqlite":
        return 0
    with db.read() as session:
        return int(session.execute(text("SELECT count(*) FROM article_search_pending")).scalar())


def stories(outlet: str, word: str, n: int) -> bytes:
    return rss(
        [
            Item(
                f"{word.title()} report {i} from {outlet}",
                f"https://{outlet}.example/{word}/{i}",
                body=f"<p>The {word} desk filed story number {i} for {outlet}.</p>",
            )
            for i in range(n)
        ],
        title=outlet,
    )


def test_every_article_a_round_stored_is_searchable_when_it_returns(
    db: Database, feed_server: FeedServer, make_test_poller: Any
) -> None:
    feed_server.add_file("/a.xml", stories("alpha", "harbour", 30))
    feed_server.add_file("/b.xml", stories("beta", "lantern", 25))
    add_feed(db, feed_server.url("/a.xml"))
    add_feed(db, feed_server.url("/b.xml"))
    results = poll(make_test_poller)
    assert sum(r.new for r in results) == 55
    assert len(found(db, "harbour")) == 30
    assert len(found(db, "lantern")) == 25
    assert found(db, '"report 7 from beta"') == ["Lantern report 7 from beta"]
    assert waiting(db) == 0


def test_a_batch_is_indexed_while_the_round_is_still_running(
    db: Database, feed_server: FeedServer, make_test_poller: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poller_module, "SEARCH_BATCH_SECONDS", 0.05)
    release = threading.Event()

    def slow(request: FeedRequest) -> None:
        release.wait(30)
        request.reply(200, stories("gamma", "meadow", 3))

    feed_server.add_file("/fast.xml", stories("delta", "quarry", 10))
    feed_server.add_route("/slow.xml", slow)
    add_feed(db, feed_server.url("/fast.xml"))
    add_feed(db, feed_server.url("/slow.xml"))
    done: list[Any] = []
    thread = threading.Thread(target=lambda: done.append(poll(make_test_poller)))
    thread.start()
    try:
        seen: list[str] = []
        deadline = datetime.now(UTC).timestamp() + 20
        while not seen and datetime.now(UTC).timestamp() < deadline:
            seen = found(db, "quarry")
            threading.Event().wait(0.05)
        # The slow feed still holds the round open: the timer's batch made these findable.
        assert len(seen) == 10
        assert not done
    finally:
        release.set()
        thread.join(30)
    assert done and len(found(db, "meadow")) == 3
    assert waiting(db) == 0


def test_the_next_round_indexes_what_a_killed_poller_left_waiting(
    db: Database, make_test_poller: Any
) -> None:
    feed = add_feed(db, "https://outlet.example/feed.xml")
    # As a poller killed after a feed's commit and before its batch leaves the database.
    with db.write() as session:
        ArticleStore(session).upsert_batch(
            feed,
            [draft(1, title="Orchard cooperative expands")],
            now=datetime.now(UTC),
            search_later=True,
        )
    if db.dialect == "sqlite":
        assert waiting(db) == 1
    asyncio.run(make_test_poller().poll_due())  # nothing is due: only the leftovers
    assert found(db, "orchard") == ["Orchard cooperative expands"]
    assert waiting(db) == 0
