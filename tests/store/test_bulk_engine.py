"""A bulk writer's SQLite engine (the poller's, ``Database.from_url(background=True)``):
statement journals in memory and a longer WAL between checkpoints;
every SQLite pool hands out its most recently returned connection first. The web's
engine keeps SQLite's defaults, so its connections' memory does not grow."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.store import migrate
from app.store.article_writes import ArticleWrites
from app.store.db import Database, make_engine
from app.store.feeds import FeedStore
from tests.store.test_raw_insert import NOW, _draft, _dump


def _pragmas(database: Database) -> tuple[int, int, int]:
    with database.read() as session:
        temp, cache, checkpoint = (
            session.execute(text(f"PRAGMA {name}")).scalar_one()
            for name in ("temp_store", "cache_size", "wal_autocheckpoint")
        )
        return temp, cache, checkpoint


def test_only_a_bulk_writers_connections_get_the_bulk_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    poller = Database.from_url(url, background=True)
    web = Database.from_url(url)
    try:
        # temp_store 2 = MEMORY; the page cache stays SQLite's 2 MiB (a negative size is KiB)
        assert _pragmas(poller) == (2, -2000, 4000)
        assert _pragmas(web) == (0, -2000, 1000)
    finally:
        poller.dispose()
        web.dispose()


def test_the_pool_hands_out_the_connection_returned_last(tmp_path: Path) -> None:
    database = Database.from_url(f"sqlite:///{tmp_path / 'n.db'}", background=True)
    try:
        first = database.engine.connect()
        second = database.engine.connect()
        first_raw = first.connection.dbapi_connection
        second_raw = second.connection.dbapi_connection
        first.close()
        second.close()  # returned last: its page cache is the warm one
        with database.engine.connect() as again:
            assert again.connection.dbapi_connection is second_raw
        assert first_raw is not second_raw
    finally:
        database.dispose()


def test_a_poison_entry_in_a_bulk_batch_rolls_back_alone(tmp_path: Path) -> None:
    """The batch's savepoint is undone from the in-memory statement journal: the bulk
    writer stores exactly what a default connection stores (the good entries, their
    search documents) and skips the bad one."""
    stored = []
    for name, background in (("bulk", True), ("plain", False)):
        database = Database.from_url(f"sqlite:///{tmp_path / name}.db", background=background)
        migrate.upgrade(database.engine)
        with database.write() as session:
            feed_id = FeedStore(session).add("https://outlet.example/feed.xml", now=NOW).id
        batch = [_draft(n) for n in range(1, 40)] + [_draft(40, title=None)]
        with database.write() as session:
            result = ArticleWrites(session).upsert_batch(feed_id, batch, now=NOW)
        assert result.new == 39 and len(result.skipped) == 1
        stored.append(_dump(database))
        database.dispose()
    assert stored[0] == stored[1]
    assert len(stored[0]["search"]) == 39


def test_in_memory_and_explicit_pools_still_open(tmp_path: Path) -> None:
    """The LIFO option exists only on a file's queue pool: an in-memory database (per
    thread pool) or a caller's own pool class must not be refused."""
    from sqlalchemy.pool import NullPool

    for engine in (
        make_engine("sqlite://"),
        make_engine("sqlite:///:memory:", bulk=True),
        make_engine(f"sqlite:///{tmp_path / 'n.db'}", poolclass=NullPool),
    ):
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()
