"""The poller's backlog: feeds parsed and waiting for the single writer are bounded, so
a fast network never piles a claimed batch's parsed articles up in memory while the
writer works through them (issue 16: the main process grew by ~25 MB on the peer
corpus); every feed is still stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app.polling.poller import BACKLOG_PER_WORKER, Poller
from app.store.db import Database
from app.store.tables import Article, Feed
from tests.support.feedsrv import FeedServer
from tests.support.polling import add_feed, count
from tests.support.rss import Item, rss

FEEDS = 30
WORKERS = 1


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    try:
        yield srv
    finally:
        srv.close()


def test_parsed_feeds_waiting_for_the_writer_are_bounded(
    db: Database, server: FeedServer, make_test_poller: Any
) -> None:
    for n in range(FEEDS):
        items = [Item(f"Story {n}-{i}", f"https://outlet.example/{n}/{i}") for i in range(5)]
        server.add_file(f"/f{n}.xml", rss(items, title=f"Outlet {n}"))
        add_feed(db, server.url(f"/f{n}.xml"))
    poller: Poller = make_test_poller(parse_workers=WORKERS)
    waiting = {"now": 0, "most": 0}
    prepare, store = poller._prepare, poller._store

    async def counted_prepare(*args: Any, **kwargs: Any) -> Any:
        found = await prepare(*args, **kwargs)
        waiting["now"] += 1
        waiting["most"] = max(waiting["most"], waiting["now"])
        return found

    async def slow_store(*args: Any, **kwargs: Any) -> Any:
        # Parsed drafts wait until the writer has them in its transaction (then the poller
        # lets the next parsed feed in, before the commit: on SQLite the writer holds its
        # transaction open for more feeds, app.polling.writer "Held transactions").
        parsed = args[2] is not None
        given = kwargs.get("written")

        def written() -> None:
            nonlocal parsed
            if parsed:
                parsed = False
                waiting["now"] -= 1
            if given is not None:
                given()

        await asyncio.sleep(0.05)  # a busy writer
        try:
            return await store(*args, **{**kwargs, "written": written})
        finally:
            written()

    poller._prepare = counted_prepare  # type: ignore[method-assign]
    poller._store = slow_store  # type: ignore[method-assign]
    summary = asyncio.run(poller.poll_due())

    assert summary.feeds == FEEDS and summary.errors == 0
    assert count(db, Feed) == FEEDS and count(db, Article) == FEEDS * 5
    assert 1 <= waiting["most"] <= BACKLOG_PER_WORKER * WORKERS
