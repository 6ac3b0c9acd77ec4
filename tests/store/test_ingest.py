"""ArticleStore.upsert_batch on both engines (RELIABILITY.md §2.6): poison entries,
duplicate keys inside one batch, long URLs, idempotence."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.core.decide import ArticleDraft
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def draft(n: int, **changes: object) -> ArticleDraft:
    url = f"https://outlet.example/news/{n}"
    base = ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=f"Headline {n}",
        author=None,
        summary=f"<p>Summary {n}</p>",
        content="",
        text=f"Body of article {n} about markets and shoppers.",
        language="en",
        published_at=NOW,
        published_estimated=False,
        bands=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def feed_id(db: Database) -> int:
    with db.write() as session:
        return FeedStore(session).add("https://outlet.example/feed.xml", now=NOW).id


def ingest(db: Database, feed_id: int, drafts: list[ArticleDraft]):  # type: ignore[no-untyped-def]
    with db.write() as session:
        return ArticleStore(session).upsert_batch(feed_id, drafts, now=NOW)


def titles(db: Database) -> list[str]:
    with db.read() as session:
        return sorted(session.scalars(select(Article.title)))


def test_a_poison_entry_is_skipped_and_logged_while_the_rest_commit(
    db: Database, feed_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A missing title violates NOT NULL on both engines.
    batch = [draft(1), draft(2, title=None), draft(3)]
    with caplog.at_level(logging.WARNING):
        result = ingest(db, feed_id, batch)

    assert result.new == 2 and len(result.skipped) == 1
    assert "outlet.example/news/2" in result.skipped[0]
    assert titles(db) == ["Headline 1", "Headline 3"]
    assert any("skipped" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "poison",
    [
        {"text": "nul \x00 byte"},  # PostgreSQL text cannot hold NUL
        {"language": "x" * 40},  # longer than the column: only PostgreSQL enforces it
    ],
)
def test_postgresql_specific_poison_is_skipped_too(
    db: Database, feed_id: int, poison: dict[str, object]
) -> None:
    result = ingest(db, feed_id, [draft(1), draft(2, **poison), draft(3)])
    assert result.new == 2 and len(result.skipped) == 1
    assert titles(db) == ["Headline 1", "Headline 3"]


def test_a_poison_entry_in_a_large_batch_costs_only_that_entry(db: Database, feed_id: int) -> None:
    batch = [draft(n) for n in range(450)]
    batch[321] = draft(321, title=None)
    result = ingest(db, feed_id, batch)
    assert result.new == 449 and len(result.skipped) == 1
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(ArticleSource)) == 449


def test_duplicate_keys_inside_one_batch_make_one_row(db: Database, feed_id: int) -> None:
    twice = [draft(1), draft(1, title="Headline 1 (again)"), draft(2)]
    result = ingest(db, feed_id, twice)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 2
        assert session.scalar(select(func.count()).select_from(ArticleSource)) == 2
    assert result.new == 2 and not result.skipped


def test_the_same_batch_twice_changes_nothing(db: Database, feed_id: int) -> None:
    batch = [draft(n) for n in range(5)]
    first = ingest(db, feed_id, batch)
    second = ingest(db, feed_id, batch)
    assert (first.new, second.new, second.updated) == (5, 0, 0)
    edited = ingest(db, feed_id, [draft(0, title="Headline 0, corrected")])
    assert (edited.new, edited.updated) == (0, 1)
    assert "Headline 0, corrected" in titles(db)


def test_another_feeds_copy_adds_a_source_and_leaves_the_story_as_its_outlet_wrote_it(
    db: Database, feed_id: int
) -> None:
    with db.write() as session:
        wire = FeedStore(session).add("https://wire.example/feed.xml", now=NOW).id
    ingest(db, feed_id, [draft(1), draft(2, summary="", content="")])
    copies = [
        draft(1, title="UPDATE: Headline 1 - Wire", summary="<p>Shorter</p>"),
        draft(2, title="Headline 2 - Wire", summary="<p>A body at last</p>", text="A body"),
    ]
    result = ingest(db, wire, copies)
    # The copy of 1 adds a source only; the headline-only 2 takes the copy's body.
    assert (result.new, result.updated) == (0, 1)
    with db.read() as session:
        rows = {t: s for t, s in session.execute(select(Article.title, Article.summary))}
        sources = session.scalar(select(func.count()).select_from(ArticleSource))
    assert rows == {"Headline 1": "<p>Summary 1</p>", "Headline 2 - Wire": "<p>A body at last</p>"}
    assert sources == 4
    # The article's own feed still edits it.
    edited = ingest(db, feed_id, [draft(1, title="Headline 1, corrected")])
    assert edited.updated == 1 and "Headline 1, corrected" in titles(db)


def test_a_4kb_url_is_stored_whole(db: Database, feed_id: int) -> None:
    long_url = "https://outlet.example/news/" + "a" * 4096
    long = draft(1, url=long_url, key=hashlib.sha256(long_url.encode()).hexdigest())
    assert ingest(db, feed_id, [long]).new == 1
    with db.read() as session:
        assert session.scalar(select(Article.url)) == long_url
