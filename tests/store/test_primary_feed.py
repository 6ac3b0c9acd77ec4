"""The outlet the volume chart files an article under (``article.primary_feed_id``,
kept by migration 0009's triggers) is the outlet its card lists first, on both engines,
whichever way the article's sources change: ingest, a second feed that saw it earlier,
a merge, a feed removed, rows written by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from app.core.timeline import TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article, ArticleSource
from tests.store.test_ingest import draft

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def card_first_and_stored(db: Database) -> dict[int, tuple[int | None, int | None]]:
    """Per article: (the feed its card lists first, the stored primary_feed_id)."""
    with db.read() as session:
        store = ArticleStore(session)
        page = store.timeline(TimelineFilter(relevance="all", limit=100))
        stored = dict(session.execute(select(Article.id, Article.primary_feed_id)).all())
        return {
            a.id: (a.sources[0].feed_id if a.sources else None, stored[a.id]) for a in page.items
        }


def assert_agree(db: Database) -> dict[int, int | None]:
    pairs = card_first_and_stored(db)
    assert pairs
    for article_id, (card, stored) in pairs.items():
        assert card == stored, (article_id, pairs)
    return {k: v[1] for k, v in pairs.items()}


def test_the_stored_outlet_follows_the_card_through_every_change_of_sources(
    db: Database,
) -> None:
    with db.write() as session:
        feeds = FeedStore(session)
        a, b, c = (feeds.add(f"https://o{n}.example/feed.xml", now=NOW).id for n in range(3))
    with db.write() as session:  # a carries 0 and 1 first
        ArticleStore(session).upsert_batch(a, [draft(0), draft(1)], now=NOW)
    with db.write() as session:  # b carries 1 later (a stays first) and 2 first
        ArticleStore(session).upsert_batch(b, [draft(1), draft(2)], now=NOW + timedelta(hours=1))
    with db.write() as session:  # c's poll began earlier: c saw 1 first
        ArticleStore(session).upsert_batch(c, [draft(1)], now=NOW - timedelta(hours=1))
    first = assert_agree(db)
    ids = sorted(first)
    assert [first[i] for i in ids] == [a, c, b]

    with db.write() as session:  # a tie on first_seen_at: the lower feed id, as the card
        session.add(
            ArticleSource(article_id=ids[2], feed_id=a, first_seen_at=NOW + timedelta(hours=1))
        )
    assert assert_agree(db)[ids[2]] == a

    with db.write() as session:  # a source's time rewritten by hand
        session.execute(
            update(ArticleSource)
            .where(ArticleSource.article_id == ids[1], ArticleSource.feed_id == b)
            .values(first_seen_at=NOW - timedelta(days=1))
        )
    assert assert_agree(db)[ids[1]] == b

    with db.write() as session:  # c removed: its sources go with it (a cascade)
        FeedStore(session).remove(c)
    with db.write() as session:
        session.execute(
            delete(ArticleSource).where(
                ArticleSource.article_id == ids[1], ArticleSource.feed_id == b
            )
        )
    assert assert_agree(db)[ids[1]] == a

    with db.write() as session:  # a removed: articles 0 and 1 have no outlet left and go
        FeedStore(session).remove(a)
    remaining = assert_agree(db)
    assert remaining == {ids[2]: b}
