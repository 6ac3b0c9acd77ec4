"""A feed an editor removes while the poller is fetching it (RELIABILITY.md §2.6
integrity): its articles are not stored for a feed that no longer exists, nothing is
left pointing at it, the other feeds of the round are stored, and the race is reported
as what it is, not as a crash with a traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource, Feed, FetchLog
from tests.support.feedsrv import FeedRequest, FeedServer
from tests.support.polling import add_feed, count, poll
from tests.support.rss import rss, story


def test_a_feed_removed_during_its_fetch_stores_nothing_and_the_round_goes_on(
    db: Database,
    feed_server: FeedServer,
    make_test_poller: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed_server.add_file("/kept.xml", rss([story(1), story(2)]))
    doomed: dict[str, int] = {}

    def removed_while_fetched(request: FeedRequest) -> None:
        with db.write() as session:  # the editor's removal, committed mid-fetch
            FeedStore(session).remove(doomed[request.route])
        if request.route == "/doomed.xml":
            request.reply(200, rss([story(3), story(4)]))  # a write with articles
        else:
            request.reply(500)  # a write without: the poll's outcome and log row only

    feed_server.add_route("/doomed.xml", removed_while_fetched)
    feed_server.add_route("/doomed-failing.xml", removed_while_fetched)
    kept = add_feed(db, feed_server.url("/kept.xml"))
    doomed["/doomed.xml"] = add_feed(db, feed_server.url("/doomed.xml"))
    doomed["/doomed-failing.xml"] = add_feed(db, feed_server.url("/doomed-failing.xml"))

    with caplog.at_level(logging.INFO):
        results = {r.feed_id: r for r in poll(make_test_poller)}

    assert results[kept].outcome == "ok" and results[kept].new == 2
    for gone in doomed.values():
        assert results[gone].outcome == "removed"
        assert results[gone].new == 0
    with db.read() as session:
        assert session.scalars(select(Feed.id)).all() == [kept]
        titles = session.scalars(select(Article.title)).all()
        assert len(titles) == 2
        assert set(session.scalars(select(ArticleSource.feed_id))) == {kept}
        assert set(session.scalars(select(FetchLog.feed_id))) == {kept}
    assert count(db, Article) == 2
    # A race, said as one line; no traceback, no "unexpected failure"
    assert not [r for r in caplog.records if r.exc_info]
    assert "unexpected failure" not in caplog.text
    for gone in doomed.values():
        assert f"feed {gone} was removed while it was polled" in caplog.text
