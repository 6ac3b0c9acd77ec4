"""RELIABILITY.md §1 finding 8 and §2.6 rows that had no test (docs/reliability-coverage.md):
the deferred-transaction upgrade on SQLite, and a migration that moves data."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from app.core.decide import NO_TAGS, ArticleDraft
from app.core.timeline import TimelineFilter
from app.store import migrate
from app.store.article_writes import _row
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore, feed_key
from app.store.tables import Article, ArticleSource, Feed
from tests.support.db import DbTarget
from tests.web.test_auth_kit import seed_article

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("db_target", ["sqlite"], indirect=True)
def test_a_write_that_reads_first_survives_another_writer_committing_meanwhile(
    db: Database,
) -> None:
    """Finding 8: in WAL mode a deferred transaction that has read cannot upgrade to a
    write once another connection has committed ("database is locked" at once, whatever
    the busy timeout). Write transactions that begin IMMEDIATE never get there."""
    with db.write() as session:
        feed_id = FeedStore(session).add("https://outlet.example/feed.xml", now=NOW).id
    has_read = threading.Event()
    other_committed = threading.Event()
    errors: list[BaseException] = []

    def read_then_write() -> None:
        try:
            with db.write() as session:
                feed = session.get(Feed, feed_id)
                assert feed is not None
                has_read.set()
                # Deferred: the other writer commits now. IMMEDIATE: it waits for us,
                # so this wait runs out (a bound, not an assertion) and we go on.
                other_committed.wait(0.5)
                feed.title = "written after reading"
        except BaseException as exc:  # collected: the test asserts there are none
            errors.append(exc)

    def other_writer() -> None:
        has_read.wait(10)
        try:
            with db.write() as session:
                feed = session.get(Feed, feed_id)
                assert feed is not None
                feed.interval_seconds = 7200
            other_committed.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read_then_write), threading.Thread(target=other_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with db.read() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        assert (feed.title, feed.interval_seconds) == ("written after reading", 7200)


def test_the_search_migration_indexes_the_articles_that_were_already_there(
    db_target: DbTarget,
) -> None:
    """§2.6 "Migrations": a seeded-data upgrade for the revision that moves data (0002
    builds the search documents of existing rows; later rows are kept by triggers)."""
    database = db_target.database()
    try:
        migrate.upgrade(database.engine, "0001")
        old = seed_at_0001(database, "Datensicherheit bei Händlern in Köln")
        migrate.upgrade(database.engine)
        new = seed_article(database, "Neue Regeln für Händler in Köln", relevant=False)
        with database.read() as session:
            store = ArticleStore(session)
            found = {
                q: [a.id for a in store.timeline(TimelineFilter(q=q, relevance="all")).items]
                for q in ("sicherheit", "koln", "händler")
            }
    finally:
        database.dispose()
    assert found == {"sicherheit": [old], "koln": [new, old], "händler": [new, old]}


def seed_at_0001(database: Database, title: str) -> int:
    """An article written with revision 0001's columns only: the feed row by a Core
    insert (the ORM model selects columns that later revisions add)."""
    with database.write() as session:
        feed_id = session.execute(
            insert(Feed.__table__)  # type: ignore[arg-type]
            .values(
                url="https://old.example/feed",
                url_hash=feed_key("https://old.example/feed"),
                created_at=NOW,
                next_poll_at=NOW,
                interval_seconds=3600,
                consecutive_failures=0,
                redirect_count=0,
            )
            .returning(Feed.__table__.c.id)
        ).scalar_one()
        draft = replace(draft_for(title), tags=NO_TAGS)
        # A Core insert of the row ingest would write: today's ingest also indexes for
        # search itself, with tables that revision 0001 does not have.
        article = Article.__table__
        article_id: int = session.execute(
            insert(article)  # type: ignore[arg-type]
            .values(_row(draft, NOW))
            .returning(article.c.id)
        ).scalar_one()
        session.execute(
            insert(ArticleSource.__table__).values(  # type: ignore[arg-type]
                article_id=article_id, feed_id=feed_id, first_seen_at=NOW
            )
        )
        return article_id


def draft_for(title: str) -> ArticleDraft:
    url = f"https://old.example/{abs(hash(title))}"
    return ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=title,
        author=None,
        summary="",
        content="",
        text=title,
        language="de",
        published_at=datetime(2024, 1, 1, tzinfo=UTC),  # older than seed_article's
        published_estimated=False,
        bands=(),
    )
